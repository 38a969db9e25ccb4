import NIOCore
import NIOHTTP1

/// The answer to one request on an ``UpstreamConnection``.
struct CollectedResponse {
    var status: Int
    var retryAfter: String?
    var body: ByteBuffer
    /// Whether the server keeps the connection open for the next request.
    var keepAlive: Bool
}

/// The last handler of an upstream HTTP/1.1 connection or HTTP/2 stream: collects the response
/// to the one request in flight (its body cut at ``HTTPUpstream/maximumKeptBodyBytes``) and completes its promise.
/// A connection that closes or fails fails the request in flight.
final class HTTPResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// The connection closed or failed before the response was complete.
    struct ConnectionClosed: Error, CustomStringConvertible {
        var description: String
        /// Not one byte of the response had come: the server may have closed the connection
        /// before it read the request (a keep-alive connection it had let go meanwhile).
        var beforeAnyResponse = false
        /// The error that closed it, if one did (an HTTP/2 stream's reset code, say).
        var cause: (any Error)?
    }

    private var pending: EventLoopPromise<CollectedResponse>?
    private var response: CollectedResponse?

    /// Expects the response to the request about to be written.
    func expect(_ promise: EventLoopPromise<CollectedResponse>) {
        self.pending = promise
        self.response = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.response = CollectedResponse(
                status: Int(head.status.code),
                retryAfter: head.headers.first(name: "Retry-After"),
                body: context.channel.allocator.buffer(capacity: 0),
                keepAlive: head.isKeepAlive
            )
        case .body(var part):
            guard var response = self.response else {
                return
            }
            self.response = nil  // keeps the body buffer uniquely referenced while it grows
            let room = HTTPUpstream.maximumKeptBodyBytes - response.body.readableBytes
            if room > 0, let slice = part.readSlice(length: min(room, part.readableBytes)) {
                response.body.writeImmutableBuffer(slice)
            }
            self.response = response
        case .end:
            let (promise, response) = (self.pending, self.response)
            self.pending = nil
            self.response = nil
            if let response {
                promise?.succeed(response)
            } else {
                promise?.fail(ConnectionClosed(description: "the response ended without a head"))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failPending(ConnectionClosed(description: "the connection closed before the response was complete"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failPending(ConnectionClosed(description: "\(error)", cause: error))
        context.close(promise: nil)
    }

    private func failPending(_ error: ConnectionClosed) {
        let promise = self.pending
        var error = error
        error.beforeAnyResponse = self.response == nil
        self.pending = nil
        self.response = nil
        promise?.fail(error)
    }
}
