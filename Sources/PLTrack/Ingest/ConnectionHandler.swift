import DequeModule
import Logging
import NIOCore

/// Serves one client connection: validates each frame, hands tracking calls to the
/// ``Pipeline`` and writes the replies the protocol asks for.
///
/// The tracking calls of one read are handed on together, in `channelReadComplete`: one
/// pipeline lock and one clock reading per read, not per call. Any other message (and any
/// error reply) first hands on the calls before it, so replies and `flush` keep their order.
///
/// Frames are handled strictly in order. When the pipeline is full the handler stops reading
/// (backpressure reaches the client's `write`), parks the frames already read, and carries on
/// when the pipeline has room; nothing is dropped.
///
/// With a spool, the `"ok"` for a tracking call waits until the spool's writer has written its
/// record (with `--fsync always`, flushed it to disk); replies behind it wait too, so a
/// connection's replies keep their order.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundOut = ByteBuffer

    private let pipeline: Pipeline
    private let stats: DaemonStats
    private let validator = MessageValidator()
    private let settings: IngestSettings
    private let logger: Logger
    /// What was read but not yet handled, because the pipeline was full, in order.
    private var parked: Deque<Parked> = []
    private var isPaused = false
    /// Reading stopped because the client does not read its replies fast enough.
    private var awaitsWritability = false
    private var isClosing = false
    /// The client shut down its sending side; close once every parked frame is handled.
    private var inputClosed = false
    /// Replies held until the spool is on disk through the call numbered `after`.
    private var awaitingDisk: Deque<(reply: Reply, after: UInt64)> = []
    private var waitsForDisk = false
    /// Tracking calls validated in this read and not yet handed on.
    private var batch: [TrackMessage] = []
    /// Frames and bytes read since the counters were last updated.
    private var uncounted = (frames: 0, bytes: 0)
    /// Replies written since the last flush, in order, in one buffer: written to the channel
    /// at once before it is flushed.
    private var outbound: ByteBuffer?

    /// A frame waiting in ``parked``: as read (while paused), or already validated, so that
    /// it is validated and counted once.
    private enum Parked {
        case frame(InboundFrame)
        case message(InboundMessage)
        case rejected(ProtocolError, id: ReplyID?)
    }

    /// The most parked calls handed to the pipeline at once when reading resumes.
    private static let resumeRun = 256

    init(pipeline: Pipeline, stats: DaemonStats, settings: IngestSettings, logger: Logger) {
        self.pipeline = pipeline
        self.stats = stats
        self.settings = settings
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if self.isPaused || !self.parked.isEmpty {
            self.parked.append(.frame(frame))
            return
        }
        self.handle(.frame(frame), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.submitBatch(context: context)
        self.flushReplies(context: context)
        // A client that sends faster than it reads its replies would make them pile up here;
        // it is not read again until its replies drain below the channel's high watermark.
        if !context.channel.isWritable && !self.awaitsWritability {
            self.awaitsWritability = true
            self.stats.slowReaderPaused()
            self.setReading(false, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && self.awaitsWritability {
            self.awaitsWritability = false
            if !self.isPaused {
                self.setReading(true, context: context)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The last frames may have arrived without a read-complete after them.
            self.submitBatch(context: context)
            self.inputClosed = true
            if self.isClosing {
                // A lingering close was waiting for exactly this.
                context.close(promise: nil)
            }
            self.closeIfFinished(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.submitBatch(context: context)
        if !self.parked.isEmpty {
            self.logger.info(
                "client closed with frames still unread by the full queue; they were never acknowledged",
                metadata: ["frames": "\(self.parked.count)"]
            )
        }
        self.parked.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Frames

    private func handle(_ item: Parked, context: ChannelHandlerContext) {
        guard !self.isClosing else {
            return
        }
        switch item {
        case .frame(.payload(let payload)):
            self.uncounted.frames += 1
            self.uncounted.bytes += 4 + payload.readableBytes
            switch self.validator.validate(payload) {
            case .rejected(let error, let id):
                self.handle(.rejected(error, id: id), context: context)
            case .message(let message):
                self.handle(.message(message), context: context)
            }
        case .message(.track(let track)) where self.settings.role != .control:
            self.batch.append(track)
        default:
            // Anything else is answered after the calls before it, and waits with them.
            self.submitBatch(context: context)
            if self.isPaused {
                self.parked.append(item)
                return
            }
            self.act(on: item, context: context)
        }
    }

    /// Answers what is not a tracking call to hand on.
    private func act(on item: Parked, context: ChannelHandlerContext) {
        switch item {
        case .frame(.payload):
            break  // validated in handle(_:context:) first
        case .frame(.tooLarge(let length)):
            self.stats.rejected(.frameTooLarge)
            let error = ProtocolError(
                .frameTooLarge,
                "frame of \(length) bytes exceeds the maximum frame length of \(self.settings.maximumFrameLength) bytes; closing the connection"
            )
            self.isClosing = true
            self.flushReplies(context: context)
            LingeringClose.close(context.channel, after: .error(id: nil, error))
        case .rejected(let error, let id):
            self.reply(.error(id: id, error), context: context)
        case .message(let message):
            self.act(on: message, context: context)
        }
    }

    private func act(on message: InboundMessage, context: ChannelHandlerContext) {
        switch message {
        case .track(let track):
            self.reply(
                .error(
                    id: track.replyID,
                    ProtocolError(
                        .forbidden,
                        "the control socket takes only stats, ping and flush; send tracking calls to the tracking socket"
                    )),
                context: context
            )
        case .ping(let id):
            self.reply(.ok(id: id), context: context)
        case .stats(let id, let format):
            self.reply(self.settings.statsReply(id, format), context: context)
        case .flush(let id, let timeout):
            let waitFor = timeout.map { TimeAmount($0) } ?? TimeAmount(self.settings.live.read(\.flushTimeout))
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            self.pipeline.flush(timeout: waitFor, on: context.eventLoop).whenSuccess { result in
                let (handler, context) = loopBound.value
                let reply: Reply =
                    switch result {
                    case .flushed: .ok(id: id)
                    case .timedOut:
                        .error(
                            id: id,
                            ProtocolError(
                                .timeout, "flush did not complete within \(waitFor.nanoseconds / 1_000_000) ms"))
                    }
                // Behind every reply before it, those waiting for the disk included.
                handler.reply(reply, context: context)
                handler.flushReplies(context: context)
            }
        }
    }

    /// Hands the tracking calls read so far to the pipeline in one call and answers each as it
    /// was received. Where the pipeline has no room, that call and the ones after it are
    /// parked, in order, and reading pauses until there is room.
    private func submitBatch(context: ChannelHandlerContext) {
        if self.uncounted.frames > 0 {
            self.stats.framesReceived(self.uncounted.frames, bytes: self.uncounted.bytes)
            self.uncounted = (0, 0)
        }
        guard !self.batch.isEmpty else {
            return
        }
        let batch = self.batch
        self.batch = []
        self.stats.ingestBatchSubmitted()
        for (index, result) in self.pipeline.submit(batch).enumerated() {
            if result.makesTheConnectionWait(for: batch[index]) {
                if case .spoolFull = result {
                    self.stats.spoolWasFull()
                }
                for track in batch[index...].reversed() {
                    self.parked.prepend(.message(.track(track)))
                }
                self.pause(context: context)
                return
            }
            self.answer(batch[index], result, context: context)
        }
    }

    /// The reply to a tracking call the pipeline received, if it gets one.
    private func answer(_ track: TrackMessage, _ result: Pipeline.SubmitResult, context: ChannelHandlerContext) {
        switch result {
        case .accepted(let sequence):
            if let id = track.replyID {
                let durableAfter = self.pipeline.acknowledgementsWaitForDisk ? sequence : nil
                self.reply(.ok(id: id), context: context, after: durableAfter)
            }
        case .full, .spoolFull:
            // Only with an id: without one the connection waits instead (see submitBatch).
            self.stats.spoolWasFull()
            self.reply(
                .error(
                    id: track.replyID,
                    ProtocolError(
                        .overloaded,
                        "the spool is full (--spool-max-bytes) while PromptLayer is slow or unreachable; the message was not taken, send it again later"
                    )),
                context: context
            )
        case .shuttingDown:
            self.reply(
                .error(
                    id: track.replyID, ProtocolError(.shuttingDown, "pltrackd is stopping and takes no new messages")),
                context: context
            )
        }
    }

    /// Writes `reply`, or holds it until call `after` is durable; a reply behind a held one is
    /// held too, so the order stays.
    private func reply(_ reply: Reply, context: ChannelHandlerContext, after sequence: UInt64? = nil) {
        if let after = sequence ?? self.awaitingDisk.last?.after {
            self.awaitingDisk.append((reply, after))
            self.waitForDisk(context: context)
            return
        }
        self.write(reply, context: context)
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
    private func flushReplies(context: ChannelHandlerContext) {
        if let outbound = self.outbound.take(), outbound.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(outbound), promise: nil)
        }
        context.flush()
    }

    // MARK: Durability

    /// Waits, one wait at a time, for the spool to be durable through the last held reply.
    private func waitForDisk(context: ChannelHandlerContext) {
        guard !self.waitsForDisk, let from = self.awaitingDisk.first?.after, let through = self.awaitingDisk.last?.after
        else {
            return
        }
        self.waitsForDisk = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.pipeline.whenDurable(from: from, through: through, on: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            let failure: (any Error)? =
                switch result {
                case .success: nil
                case .failure(let error): error
                }
            handler.diskCaughtUp(through: through, failure: failure, context: context)
        }
    }

    private func diskCaughtUp(through: UInt64, failure: (any Error)?, context: ChannelHandlerContext) {
        self.waitsForDisk = false
        var released: [Reply] = []
        while let first = self.awaitingDisk.first, first.after <= through {
            self.awaitingDisk.removeFirst()
            released.append(first.reply)
        }
        for reply in released {
            switch (reply, failure) {
            case (.ok(let id), let failure?):
                self.write(
                    .error(
                        id: id,
                        ProtocolError(
                            .spoolError,
                            "the spool could not write or flush the message to disk (\(failure)); it is kept in memory and will be sent, but a crash or power failure could lose it"
                        )),
                    context: context)
            default:
                self.write(reply, context: context)
            }
        }
        self.flushReplies(context: context)
        self.waitForDisk(context: context)
        self.closeIfFinished(context: context)
    }

    // MARK: Backpressure

    private func pause(context: ChannelHandlerContext) {
        guard !self.isPaused else {
            return
        }
        self.isPaused = true
        self.stats.backpressurePaused()
        self.flushReplies(context: context)
        self.setReading(false, context: context)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.pipeline.whenCapacityAvailable(on: context.eventLoop).whenSuccess {
            let (handler, context) = loopBound.value
            handler.resume(context: context)
        }
    }

    private func resume(context: ChannelHandlerContext) {
        self.isPaused = false
        while !self.isPaused, let item = self.parked.popFirst() {
            self.handle(item, context: context)
            // Handed on in runs: calls that still find no room go back to the front of the
            // parked ones, and that costs a run, not everything parked.
            if self.batch.count >= Self.resumeRun {
                self.submitBatch(context: context)
            }
        }
        self.submitBatch(context: context)
        self.flushReplies(context: context)
        if !self.isPaused && !self.awaitsWritability {
            self.setReading(true, context: context)
        }
        self.closeIfFinished(context: context)
    }

    private func setReading(_ reading: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            return
        }
        context.channel.setOption(ChannelOptions.autoRead, value: reading).whenComplete { _ in }
        if reading {
            context.read()
        }
    }

    /// After the client's half-close, the connection ends once nothing it sent is left to handle.
    /// Replies to pending `flush` messages are lost then; a client that wants them keeps its side open.
    private func closeIfFinished(context: ChannelHandlerContext) {
        guard self.inputClosed, !self.isPaused, self.parked.isEmpty, self.batch.isEmpty, self.awaitingDisk.isEmpty,
            !self.isClosing
        else {
            return
        }
        self.isClosing = true
        let channel = context.channel
        let last = self.outbound.take() ?? channel.allocator.buffer(capacity: 0)
        context.writeAndFlush(Self.wrapOutboundOut(last))
            .whenComplete { _ in channel.close(promise: nil) }
    }
}
