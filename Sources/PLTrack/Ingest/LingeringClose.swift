import NIOCore

/// Ends a connection after an error that leaves it unusable (`frame_too_large`, `overloaded`)
/// without losing the error reply.
///
/// Closing at once would make the client's pending writes fail with `EPIPE`, and some clients
/// (Node.js among them) then discard the reply unread. So the reply is written, the sending
/// side shut down, and whatever the client still writes is read and discarded until it closes
/// or ``lingerTime`` passes.
enum LingeringClose {
    static let lingerTime = TimeAmount.seconds(1)

    static func close(_ channel: any Channel, after reply: Reply) {
        channel.writeAndFlush(reply.encodedFrame(allocator: channel.allocator))
            .flatMap { channel.close(mode: .output) }
            .whenComplete { _ in
                channel.eventLoop.scheduleTask(in: Self.lingerTime) {
                    channel.close(promise: nil)
                }
            }
    }
}

/// Reads and drops everything on a connection being closed by ``LingeringClose``, and closes
/// it as soon as the client has closed its side.
final class DiscardingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
