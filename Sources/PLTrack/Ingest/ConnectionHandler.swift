import Logging
import NIOCore

/// Serves one client connection: validates each frame, feeds it to the connection's
/// ``ConnectionStateMachine`` and carries out what the machine decides: hand calls to the
/// ``Pipeline``, write replies, stop and resume reading, close.
///
/// The tracking calls of one read are handed on together: one pipeline lock and one clock
/// reading per read, not per call. Replies gathered in a read leave in one buffer and one flush.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundOut = ByteBuffer

    private let pipeline: Pipeline
    private let stats: DaemonStats
    private let validator = MessageValidator()
    private let settings: IngestSettings
    private let logger: Logger
    private var machine = ConnectionStateMachine()
    /// Actions are being carried out: an event raised by one of them (a flush that completes
    /// at once, a change of writability) only updates the machine, and the loop carries on.
    private var isDriving = false
    /// Frames and bytes read since the counters were last updated.
    private var uncounted = (frames: 0, bytes: 0)
    /// Replies written since the last flush, in order, in one buffer.
    private var outbound: ByteBuffer?
    private var idleTimer: IdleTimer?

    init(pipeline: Pipeline, stats: DaemonStats, settings: IngestSettings, logger: Logger) {
        self.pipeline = pipeline
        self.stats = stats
        self.settings = settings
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let live = self.settings.live
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.idleTimer = IdleTimer(timeout: { TimeAmount(live.read(\.idleTimeout)) }, on: context.eventLoop) {
            let (handler, context) = loopBound.value
            return handler.closeIfIdle(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopIdleTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.machine.received(self.validate(Self.unwrapInboundIn(data))) {
            self.drive(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.countFrames()
        self.idleTimer?.touch()
        self.machine.readCompleted()
        self.drive(context: context)
        // A client that sends faster than it reads its replies would make them pile up here;
        // it is not read again until its replies drain below the channel's high watermark.
        self.writabilityChanged(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writabilityChanged(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The last frames may have arrived without a read-complete after them.
            self.countFrames()
            self.machine.inputClosed()
            self.drive(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.countFrames()
        self.stopIdleTimer()
        let unhandled = self.machine.closed()
        if unhandled > 0 {
            self.logger.info(
                "connection closed with messages read and not yet taken by the full queue; they were never acknowledged",
                metadata: ["messages": "\(unhandled)"]
            )
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Frames

    private func validate(_ frame: InboundFrame) -> ConnectionStateMachine.Input {
        switch frame {
        case .payload(let payload):
            self.uncounted.frames += 1
            self.uncounted.bytes += 4 + payload.readableBytes
            switch self.validator.validate(payload) {
            case .rejected(let error, let id):
                return .rejected(error, id: id)
            case .message(.track(let call)) where self.settings.role == .control:
                return .rejected(
                    ProtocolError(
                        .forbidden,
                        "the control socket takes only stats, ping, flush and request_id; send tracking calls to the tracking socket"
                    ), id: call.replyID)
            case .message(let message):
                return .message(message)
            }
        case .tooLarge(let length):
            return .fatal(
                ProtocolError(
                    .frameTooLarge,
                    "frame of \(length) bytes exceeds the maximum frame length of \(self.settings.maximumFrameLength) bytes; closing the connection"
                ))
        }
    }

    private func countFrames() {
        if self.uncounted.frames > 0 {
            self.stats.framesReceived(self.uncounted.frames, bytes: self.uncounted.bytes)
            self.uncounted = (0, 0)
        }
    }

    private func writabilityChanged(context: ChannelHandlerContext) {
        if self.machine.writabilityChanged(writable: context.channel.isWritable) {
            self.stats.slowReaderPaused()
        }
        self.drive(context: context)
    }

    // MARK: Actions

    /// Carries out the machine's actions until it has none.
    private func drive(context: ChannelHandlerContext) {
        guard !self.isDriving else {
            return
        }
        self.isDriving = true
        defer { self.isDriving = false }
        while let action = self.machine.nextAction() {
            self.perform(action, context: context)
        }
    }

    private func perform(_ action: ConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .submit(let calls):
            self.countFrames()
            self.stats.ingestBatchSubmitted()
            let results = self.pipeline.submit(calls)
            for case .spoolFull in results {
                self.stats.spoolWasFull()
            }
            if self.machine.submitted(calls, results, waitsForDisk: self.pipeline.acknowledgementsWaitForDisk) {
                self.stats.backpressurePaused()
            }
        case .write(let reply):
            self.write(reply, context: context)
        case .flushWrites:
            self.flushWrites(context: context)
        case .collectStats(let id, let format):
            self.countFrames()  // the stats request counts itself
            self.machine.answered(self.settings.statsReply(id, format))
        case .startFlush(let token, let id, let timeout):
            self.startFlush(token: token, id: id, timeout: timeout, context: context)
        case .askRequestID(let token, let id, let ref, let timeout):
            self.askRequestID(token: token, id: id, ref: ref, timeout: timeout, context: context)
        case .waitForDisk(let from, let through):
            self.waitForDisk(from: from, through: through, context: context)
        case .waitForCapacity:
            self.flushWrites(context: context)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            self.pipeline.whenCapacityAvailable(on: context.eventLoop).whenSuccess {
                let (handler, context) = loopBound.value
                handler.machine.capacityAvailable()
                handler.drive(context: context)
            }
        case .startReading:
            self.setReading(true, context: context)
        case .stopReading:
            self.setReading(false, context: context)
        case .closeAfter(let reply):
            if case .error(_, let error) = reply {
                self.stats.rejected(error.code)
            }
            self.flushWrites(context: context)
            LingeringClose.close(context.channel, after: reply)
        case .close:
            let channel = context.channel
            let last = self.outbound.take() ?? channel.allocator.buffer(capacity: 0)
            context.writeAndFlush(Self.wrapOutboundOut(last)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func write(_ reply: Reply, context: ChannelHandlerContext) {
        if case .error(_, let error) = reply {
            self.stats.rejected(error.code)
        }
        var outbound = self.outbound.take() ?? context.channel.allocator.buffer(capacity: 1024)
        reply.writeFrame(to: &outbound)
        self.outbound = outbound
    }

    /// Writes the replies gathered since the last flush as one buffer, and flushes.
    private func flushWrites(context: ChannelHandlerContext) {
        if let outbound = self.outbound.take(), outbound.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(outbound), promise: nil)
            self.idleTimer?.touch()  // the idle time counts from the last reply too
        }
        context.flush()
    }

    private func startFlush(token: UInt64, id: ReplyID?, timeout: Duration?, context: ChannelHandlerContext) {
        let waitFor = TimeAmount(timeout ?? self.settings.live.read(\.flushTimeout))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.pipeline.flush(timeout: waitFor, on: context.eventLoop).whenSuccess { result in
            let (handler, context) = loopBound.value
            let reply: Reply =
                switch result {
                case .flushed: .ok(id: id)
                case .timedOut:
                    .error(
                        id: id,
                        ProtocolError(.timeout, "flush did not complete within \(waitFor.nanoseconds / 1_000_000) ms"))
                }
            handler.machine.awaitedReplyReady(token: token, reply: reply)
            handler.drive(context: context)
        }
    }

    private func askRequestID(
        token: UInt64, id: ReplyID, ref: String, timeout: Duration?, context: ChannelHandlerContext
    ) {
        let waitFor = TimeAmount(timeout ?? self.settings.live.read(\.flushTimeout))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.pipeline.requestID(forRef: ref, timeout: waitFor, on: context.eventLoop).whenSuccess { answer in
            let (handler, context) = loopBound.value
            handler.machine.awaitedReplyReady(token: token, reply: Reply(id, answering: answer, waited: waitFor))
            handler.drive(context: context)
        }
    }

    /// Waits for the spool to be durable through `through`; the replies that waited leave then.
    private func waitForDisk(from: UInt64, through: UInt64, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.pipeline.whenDurable(from: from, through: through, on: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            let failure: String? =
                switch result {
                case .success: nil
                case .failure(let error): "\(error)"
                }
            handler.machine.diskCaughtUp(through: through, failure: failure)
            handler.drive(context: context)
        }
    }

    private func setReading(_ reading: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            return
        }
        context.channel.setOption(ChannelOptions.autoRead, value: reading).whenComplete { _ in }
        context.triggerUserOutboundEvent(reading ? ReadingState.resumed : ReadingState.stopped, promise: nil)
        if reading {
            context.read()
        }
    }

    /// Cancels the idle timer and lets it go: its callback holds this handler, so keeping it
    /// would keep both alive after the connection ends.
    private func stopIdleTimer() {
        self.idleTimer?.cancel()
        self.idleTimer = nil
    }

    /// Closes the connection if, for `--idle-timeout`, its client has sent nothing and is owed
    /// nothing, or has read none of its replies; returns whether it did. What the machine still
    /// held is told when the channel goes inactive.
    private func closeIfIdle(context: ChannelHandlerContext) -> Bool {
        guard let idleness = self.machine.idleness, context.channel.isActive else {
            return false
        }
        switch idleness {
        case .silent:
            self.logger.debug("closing an idle connection")
        case .unreadReplies:
            self.logger.notice("closing a connection whose client has read none of its replies (--idle-timeout)")
        }
        self.stats.idleConnectionClosed()
        context.close(promise: nil)
        return true
    }
}
