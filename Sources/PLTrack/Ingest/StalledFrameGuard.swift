import Logging
import NIOCore

/// Closes a connection whose client started a frame and did not finish it within
/// `--frame-timeout` of the daemon's reading, so that clients that stall halfway hold no
/// connection for ever.
///
/// It follows ``FrameProgress`` from the ``FrameDecoder`` before it, and ``ReadingState`` from
/// the ``ConnectionHandler`` after it. While the daemon does not read the connection
/// (backpressure), the client cannot be at fault: the clock stops, and it starts again, in
/// full, when the daemon reads again. The client is told why with a `timeout` error, as
/// ``LingeringClose`` sends it.
final class StalledFrameGuard: ChannelDuplexHandler {
    typealias InboundIn = InboundFrame
    typealias InboundOut = InboundFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let live: LiveConfiguration
    private let stats: DaemonStats
    private let logger: Logger
    private var timer: Scheduled<Void>?
    /// Part of a frame is buffered, its rest still to come.
    private var holdsPartialFrame = false
    /// The daemon stopped reading the connection.
    private var isReadingStopped = false
    /// The connection timed out: what the client still sends is dropped, never taken.
    private var hasExpired = false

    init(live: LiveConfiguration, stats: DaemonStats, logger: Logger) {
        self.live = live
        self.stats = stats
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !self.hasExpired {
            context.fireChannelRead(data)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if self.hasExpired, case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        guard let progress = event as? FrameProgress else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.holdsPartialFrame = progress == .started
        self.rearm(context: context)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let reading = event as? ReadingState else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        self.isReadingStopped = reading == .stopped
        self.rearm(context: context)
        promise?.succeed()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimer()
        context.fireChannelInactive()
    }

    /// Runs the clock, from its start, only while a partial frame waits on a client the daemon
    /// reads.
    private func rearm(context: ChannelHandlerContext) {
        self.cancelTimer()
        guard self.holdsPartialFrame, !self.isReadingStopped, !self.hasExpired else {
            return
        }
        let timeout = TimeAmount(self.live.read(\.frameTimeout))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: timeout) {
            let (guardian, context) = loopBound.value
            guardian.expired(context: context, after: timeout)
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
    }

    private func expired(context: ChannelHandlerContext, after timeout: TimeAmount) {
        self.timer = nil
        guard context.channel.isActive else {
            return
        }
        self.hasExpired = true
        let milliseconds = timeout.nanoseconds / 1_000_000
        self.logger.notice(
            "closing a connection whose frame stalled halfway", metadata: ["after_ms": "\(milliseconds)"])
        self.stats.stalledFrame()
        self.stats.rejected(.timeout)
        let reason = ProtocolError(
            .timeout, "a frame was started and not finished within \(milliseconds) ms (--frame-timeout)")
        LingeringClose.close(context.channel, after: .error(id: nil, reason))
    }
}
