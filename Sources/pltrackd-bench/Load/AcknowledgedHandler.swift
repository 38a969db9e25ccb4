import DequeModule
import NIOCore

/// Keeps up to ``inFlight`` messages with an `id` outstanding on a connection: it sends that
/// many, then one more for each `{"id":…,"ok":true}` that comes back, so pltrackd always has
/// work queued but the client waits for every acknowledgement, as a careful app would.
///
/// New messages for a read's worth of replies go out in one write, in `channelReadComplete`.
/// Each reply's latency (from the write of its message to its arrival) goes into the report:
/// pltrackd answers a connection's messages in order, so the oldest write is the one answered.
final class AcknowledgedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let template: MessageTemplate
    private let inFlight: Int
    private var next: UInt64
    private let end: UInt64
    private var outstanding = 0
    /// When each unanswered write went out (`CLOCK_MONOTONIC` nanoseconds) and its messages.
    private var writes: Deque<(nanoseconds: UInt64, messages: Int)> = []
    private var finished = false
    private var report = ConnectionReport()
    private let done: EventLoopPromise<ConnectionReport>

    /// Sends the messages with indices `range`, at most `inFlight` unanswered at a time.
    init(template: MessageTemplate, inFlight: Int, range: Range<UInt64>, done: EventLoopPromise<ConnectionReport>) {
        self.template = template
        self.inFlight = inFlight
        self.next = range.lowerBound
        self.end = range.upperBound
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        self.refill(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Reply(Self.unwrapInboundIn(data))
        self.report.count(reply)
        if reply != .endOfRun {
            self.outstanding -= 1
            self.recordLatency()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.next == self.end && self.outstanding == 0 {
            if !self.finished {
                self.finished = true
                self.done.succeed(self.report)
            }
            return
        }
        self.refill(context: context)
        context.fireChannelReadComplete()
    }

    private func refill(context: ChannelHandlerContext) {
        let count = Int(min(UInt64(self.inFlight - self.outstanding), self.end - self.next))
        guard count > 0 else {
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: count * self.template.size)
        self.template.write(count: count, firstIndex: self.next, sentNanoseconds: nil, into: &buffer)
        self.next += UInt64(count)
        self.outstanding += count
        self.report.sent += count
        self.writes.append((Clocks.monotonicNanoseconds(), count))
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    private func recordLatency() {
        guard let oldest = self.writes.first else {
            return
        }
        self.report.latencies.append(Clocks.monotonicNanoseconds() - oldest.nanoseconds)
        if oldest.messages > 1 {
            self.writes[self.writes.startIndex].messages -= 1
        } else {
            self.writes.removeFirst()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.finished {
            self.finished = true
            self.done.fail(ConnectionClosedEarly(report: self.report))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !self.finished {
            self.finished = true
            self.done.fail(error)
        }
        context.close(promise: nil)
    }
}
