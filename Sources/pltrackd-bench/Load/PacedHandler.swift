import NIOCore

/// Sends a connection's messages at a fixed rate, each stamped with the `CLOCK_MONOTONIC`
/// time it was written, for the end-to-end latency row.
///
/// Every ``tick`` it writes as many messages as the rate owes since the start, so a late tick
/// catches up instead of lowering the rate. Writes do not wait for writability: a daemon that
/// falls behind shows up as latency, which is what the row measures.
final class PacedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How often the generator writes; at 10,000 msg/s that is 10 messages per write.
    static let tick = TimeAmount.milliseconds(1)

    private let template: MessageTemplate
    private let framing: Framing
    private let messagesPerNanosecond: Double
    private let first: UInt64
    private var next: UInt64
    private let end: UInt64
    private var startedAt: UInt64 = 0
    private var timer: RepeatedTask?
    private var finished = false
    private var report = ConnectionReport()
    private let done: EventLoopPromise<ConnectionReport>

    /// Sends the messages with indices `range` at `messagesPerSecond`.
    init(
        template: MessageTemplate, framing: Framing, messagesPerSecond: Double, range: Range<UInt64>,
        done: EventLoopPromise<ConnectionReport>
    ) {
        self.template = template
        self.framing = framing
        self.messagesPerNanosecond = messagesPerSecond / 1e9
        self.first = range.lowerBound
        self.next = range.lowerBound
        self.end = range.upperBound
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startedAt = Clocks.monotonicNanoseconds()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.tick) { _ in
            let (handler, context) = bound.value
            handler.sendWhatIsDue(context: context)
        }
        context.fireChannelActive()
    }

    private func sendWhatIsDue(context: ChannelHandlerContext) {
        guard !self.finished, self.next < self.end else {
            return
        }
        let now = Clocks.monotonicNanoseconds()
        let owed = self.first + UInt64(Double(now - self.startedAt) * self.messagesPerNanosecond)
        let count = Int(min(owed, self.end) - min(owed, self.next))
        guard count > 0 else {
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: count * self.template.size)
        self.template.write(count: count, firstIndex: self.next, sentNanoseconds: now, into: &buffer)
        self.next += UInt64(count)
        self.report.sent += count
        guard self.next == self.end else {
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
            return
        }
        self.timer?.cancel()
        switch self.framing {
        case .frame:
            buffer.writeImmutableBuffer(Reply.endOfRunPing)
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
        case .syslog:
            self.finished = true
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: written)
            let report = self.report
            written.futureResult.map { report }.cascade(to: self.done)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Reply(Self.unwrapInboundIn(data))
        self.report.count(reply)
        if reply == .endOfRun && !self.finished {
            self.finished = true
            self.done.succeed(self.report)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        if !self.finished {
            self.finished = true
            self.done.fail(ConnectionClosedEarly(report: self.report))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.timer?.cancel()
        if !self.finished {
            self.finished = true
            self.done.fail(error)
        }
        context.close(promise: nil)
    }
}
