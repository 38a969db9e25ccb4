import NIOCore

/// Turns the flushes of one event-loop tick into one: the first flush schedules the real one
/// at the end of the tick, the others meanwhile are absorbed.
///
/// Placed between TLS and HTTP/2, so the requests that workers write one after another in the
/// same tick (each resumed by an answer of the same read) leave as one TLS write, one system
/// call, instead of one each. The delay is the rest of the tick, not a timer.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny

    private var isScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !self.isScheduled else {
            return
        }
        self.isScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = loopBound.value
            coalescer.isScheduled = false
            context.flush()
        }
    }
}
