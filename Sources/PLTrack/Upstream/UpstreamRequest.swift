import NIOCore
import NIOHTTP1

/// One POST to PromptLayer, as an ``UpstreamSession`` writes it.
struct UpstreamRequest {
    var head: HTTPRequestHead
    var body: TrackBody
    /// How long to wait for the answer once the request is written.
    var timeout: TimeAmount

    /// Writes head, body (the members slice between two braces) and end with one flush, so the
    /// socket (or the HTTP/2 connection) sees one write. `channel` takes `HTTPClientRequestPart`s:
    /// an HTTP/1.1 connection, or an HTTP/2 stream behind its HTTP/1 codec.
    func write(to channel: any Channel) {
        channel.write(HTTPClientRequestPart.head(self.head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(Self.openingBrace)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(self.body.members)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(Self.closingBrace)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// The failure when no answer came within ``timeout``.
    var timedOut: UpstreamConnection.Failure {
        UpstreamConnection.Failure(
            description: "no response within \(self.timeout.nanoseconds / 1_000_000) ms", isTimeout: true)
    }

    private static let openingBrace = ByteBuffer(string: "{")
    private static let closingBrace = ByteBuffer(string: "}")
}

/// A request the server certainly did not process: it may go again on a fresh connection
/// without counting as a failed attempt.
struct UnprocessedRequest: Error, CustomStringConvertible {
    enum Reason: Sendable {
        /// An HTTP/1.1 connection kept from an earlier request had been closed by the server
        /// before it read this one.
        case staleConnection
        /// The HTTP/2 server refused the stream (`REFUSED_STREAM`) or said with `GOAWAY` that
        /// it will not process it.
        case refusedStream
    }

    var reason: Reason
    var description: String
}
