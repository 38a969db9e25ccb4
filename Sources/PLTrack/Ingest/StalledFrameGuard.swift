import Logging
import NIOCore

/// Closes a connection whose client started a frame and did not finish it within
/// `--frame-timeout`, so that clients that stall halfway hold no connection for ever.
///
/// It follows ``FrameProgress`` from the ``FrameDecoder`` before it. A connection the daemon
/// itself stopped reading (backpressure) is not the client's fault: its timer starts again.
/// The client is told why with a `timeout` error, as ``LingeringClose`` sends it.
final class StalledFrameGuard: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    typealias InboundOut = InboundFrame

    private let live: LiveConfiguration
    private let stats: DaemonStats
    private let logger: Logger
    private var timer: Scheduled<Void>?
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
        switch event as? FrameProgress {
        case .started?:
            self.arm(context: context)
        case .finished?:
            self.timer?.cancel()
            self.timer = nil
        case nil:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        context.fireChannelInactive()
    }

    private func arm(context: ChannelHandlerContext) {
        let timeout = TimeAmount(self.live.read(\.frameTimeout))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: timeout) {
            let (guardian, context) = loopBound.value
            guardian.expired(context: context, after: timeout)
        }
    }

    private func expired(context: ChannelHandlerContext, after timeout: TimeAmount) {
        self.timer = nil
        guard context.channel.isActive else {
            return
        }
        if (try? context.channel.syncOptions?.getOption(ChannelOptions.autoRead)) == false {
            // Paused by the daemon, not stalled by the client: wait again.
            self.arm(context: context)
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
