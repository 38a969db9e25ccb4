import NIOCore

/// Writes a connection's share of messages as fast as the socket takes them, without `id`s,
/// so pltrackd sends no replies (syslog-ng never does).
///
/// Messages go out in chunks of ``chunkMessages``, and only while the channel is writable: a
/// daemon that stops reading (backpressure) stops the generator too. With pltrackd's framing
/// the connection ends with a `ping`, whose answer means every message before it was handled;
/// with syslog framing it ends when the last byte is handed to the kernel.
final class FireAndForgetHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// About 64 KiB of 254-byte frames per write.
    static let chunkMessages = 256

    private enum State {
        case sending
        case waitingForEndOfRun
        case finished
    }

    private let template: MessageTemplate
    private let framing: Framing
    private var next: UInt64
    private let end: UInt64
    private var state = State.sending
    private var report = ConnectionReport()
    private let done: EventLoopPromise<ConnectionReport>

    /// Sends the messages with indices `range`; `done` is completed when the run is over.
    init(template: MessageTemplate, framing: Framing, range: Range<UInt64>, done: EventLoopPromise<ConnectionReport>) {
        self.template = template
        self.framing = framing
        self.next = range.lowerBound
        self.end = range.upperBound
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        self.pump(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    private func pump(context: ChannelHandlerContext) {
        guard case .sending = self.state else {
            return
        }
        while self.next < self.end && context.channel.isWritable {
            let count = Int(min(UInt64(Self.chunkMessages), self.end - self.next))
            var buffer = context.channel.allocator.buffer(capacity: count * self.template.size)
            self.template.write(count: count, firstIndex: self.next, sentNanoseconds: nil, into: &buffer)
            self.next += UInt64(count)
            self.report.sent += count
            context.write(Self.wrapOutboundOut(buffer), promise: nil)
        }
        guard self.next == self.end else {
            context.flush()
            return
        }
        switch self.framing {
        case .frame:
            self.state = .waitingForEndOfRun
            context.writeAndFlush(Self.wrapOutboundOut(Reply.endOfRunPing), promise: nil)
        case .syslog:
            self.state = .finished
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
            let report = self.report
            written.futureResult.map { report }.cascade(to: self.done)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Reply(Self.unwrapInboundIn(data))
        self.report.count(reply)
        if reply == .endOfRun, case .waitingForEndOfRun = self.state {
            self.state = .finished
            self.done.succeed(self.report)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .finished = self.state {
            return
        }
        self.state = .finished
        self.done.fail(ConnectionClosedEarly(report: self.report))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .finished = self.state {
            return
        }
        self.state = .finished
        self.done.fail(error)
        context.close(promise: nil)
    }
}
