import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One worker's keep-alive HTTP/1.1 connection to PromptLayer, on one event loop: SwiftNIO's
/// own HTTP/1 client handlers, with TLS from NIOSSL for `https`.
///
/// A request goes out as head, body (the members slice between two braces) and end with one flush, so the socket sees one `writev`.
/// The connection opens on the first request, is kept while the server keeps it alive, and
/// opens again after it closes or fails. A request that meets a kept connection the server
/// had closed meanwhile (reset, or closed before one byte of the response) goes again, once,
/// on a fresh connection: the server let the connection go and never read it, which is not a
/// failed attempt (the official SDKs retry the same way).
final class UpstreamConnection: Sendable {
    /// Where requests go and how.
    struct Target: Sendable {
        var host: String
        var port: Int
        /// For `https`: the context, and the name the certificate must carry (and SNI).
        var tls: NIOSSLContext?
        /// The base URL's path, before each request's (`""` for none).
        var pathPrefix: String
        /// Headers every request carries, the API key among them.
        var headers: HTTPHeaders
        var connectTimeout: TimeAmount
        var requestTimeout: TimeAmount
        /// The proxy to tunnel through, unless the host is reached directly.
        var proxy: UpstreamProxy?
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The request was written and no answer came within the request timeout.
        var isTimeout = false
    }

    private struct Open: Sendable {
        var channel: any Channel
        var collector: NIOLoopBound<HTTPResponseCollector>
    }

    let eventLoop: any EventLoop
    private let target: Target
    private let open: NIOLoopBoundBox<Open?>
    /// How many times the connection was closed on purpose (``close()``): a request that fails
    /// because of it is not sent again.
    private let closings: NIOLoopBoundBox<Int>
    /// Told of each request sent again after meeting a connection the server had closed.
    private let onStaleConnection: @Sendable () -> Void
    /// Told of each tunnel the proxy opened (`nil`) or refused (why).
    private let onProxyTunnel: @Sendable (String?) -> Void

    init(
        target: Target, eventLoop: any EventLoop, onStaleConnection: @escaping @Sendable () -> Void = {},
        onProxyTunnel: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        self.target = target
        self.eventLoop = eventLoop
        self.open = NIOLoopBoundBox.makeEmptyBox(valueType: Open.self, eventLoop: eventLoop)
        self.closings = NIOLoopBoundBox.makeBoxSendingValue(0, as: Int.self, eventLoop: eventLoop)
        self.onStaleConnection = onStaleConnection
        self.onProxyTunnel = onProxyTunnel
    }

    /// Posts `body` to `path` and collects the answer; fails when there is none (refused,
    /// reset, timed out).
    func post(path: String, body: TrackBody) -> EventLoopFuture<CollectedResponse> {
        guard self.eventLoop.inEventLoop else {
            return self.eventLoop.flatSubmit { self.post(path: path, body: body) }
        }
        let closings = self.closings.value
        return self.connection().flatMap { open, reused in
            self.send(path: path, body: body, on: open).flatMapError { error in
                guard reused, (error as? HTTPResponseCollector.ConnectionClosed)?.beforeAnyResponse == true,
                    self.closings.value == closings
                else {
                    return self.eventLoop.makeFailedFuture(error)
                }
                self.onStaleConnection()
                return self.connection().flatMap { fresh, _ in
                    self.send(path: path, body: body, on: fresh)
                }
            }
        }
    }

    /// Closes the connection, failing the request in flight, if any.
    func abandon() {
        _ = self.close()
    }

    /// Closes the connection, if one is open.
    func close() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            self.closings.value += 1
            guard let open = self.open.value else {
                return self.eventLoop.makeSucceededVoidFuture()
            }
            self.open.value = nil
            return open.channel.close().recover { _ in }
        }
    }

    private func send(path: String, body: TrackBody, on open: Open) -> EventLoopFuture<CollectedResponse> {
        let promise = self.eventLoop.makePromise(of: CollectedResponse.self)
        open.collector.value.expect(promise)
        var headers = self.target.headers
        headers.add(name: "Content-Length", value: String(body.byteCount))
        let head = HTTPRequestHead(
            version: .http1_1, method: .POST, uri: self.target.pathPrefix + path, headers: headers)
        let channel = open.channel
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        // The body's members go out as the slice they are, between the two braces.
        channel.write(HTTPClientRequestPart.body(.byteBuffer(Self.openingBrace)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body.members)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(Self.closingBrace)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeout = self.eventLoop.scheduleTask(in: self.target.requestTimeout) {
            promise.fail(
                Failure(
                    description: "no response within \(self.target.requestTimeout.nanoseconds / 1_000_000) ms",
                    isTimeout: true))
            channel.close(promise: nil)
        }
        return promise.futureResult.always { result in
            timeout.cancel()
            switch result {
            case .success(let response) where response.keepAlive:
                break
            case .success, .failure:
                // Not reused: the server said so, or the connection is in an unknown state.
                if self.open.value?.channel === channel {
                    self.open.value = nil
                }
                channel.close(promise: nil)
            }
        }
    }

    /// The open connection (`reused`), or a new one.
    private func connection() -> EventLoopFuture<(open: Open, reused: Bool)> {
        if let open = self.open.value, open.channel.isActive {
            return self.eventLoop.makeSucceededFuture((open, true))
        }
        let target = self.target
        let collector = NIOLoopBound(HTTPResponseCollector(), eventLoop: self.eventLoop)
        let tunnel = target.proxy.map { _ in self.eventLoop.makePromise(of: Void.self) }
        return ClientBootstrap(group: self.eventLoop)
            .connectTimeout(target.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let proxy = target.proxy, let tunnel {
                        // The tunnel first; TLS and HTTP once it is open.
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyTunnelHandler(proxy: proxy, host: target.host, port: target.port, established: tunnel))
                    } else {
                        try Self.addHandlers(to: channel, target: target, collector: collector.value)
                    }
                }
            }
            .connect(host: target.proxy?.host ?? target.host, port: target.proxy?.port ?? target.port)
            .flatMap { channel in
                guard let tunnel else {
                    return channel.eventLoop.makeSucceededFuture(channel)
                }
                return self.throughTheTunnel(channel, opened: tunnel.futureResult, collector: collector)
            }
            .map { channel in
                let open = Open(channel: channel, collector: collector)
                self.open.value = open
                return (open, false)
            }
    }

    /// Once the proxy opened the tunnel on `channel`: TLS and HTTP in place of the tunnel's
    /// handler. Reports the outcome, and closes the channel when the proxy refused.
    private func throughTheTunnel(
        _ channel: any Channel, opened: EventLoopFuture<Void>, collector: NIOLoopBound<HTTPResponseCollector>
    ) -> EventLoopFuture<any Channel> {
        let target = self.target
        return opened.flatMap {
            self.onProxyTunnel(nil)
            return channel.pipeline.handler(type: ProxyTunnelHandler.self).flatMap { handler in
                channel.pipeline.removeHandler(handler)
            }
        }.flatMapThrowing {
            try Self.addHandlers(to: channel, target: target, collector: collector.value)
            return channel
        }.flatMapErrorThrowing { error in
            if let refused = error as? ProxyTunnelHandler.Refused {
                self.onProxyTunnel(refused.description)
            }
            channel.close(promise: nil)
            throw error
        }
    }

    /// TLS for `https`, the HTTP/1 client handlers and the response collector.
    private static func addHandlers(
        to channel: any Channel, target: Target, collector: HTTPResponseCollector
    ) throws {
        if let tls = target.tls {
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLClientHandler(context: tls, serverHostname: Self.serverName(target.host)))
        }
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(collector)
    }

    private static let openingBrace = ByteBuffer(string: "{")
    private static let closingBrace = ByteBuffer(string: "}")

    /// The name for SNI: none for an IP address, as RFC 6066 says.
    private static func serverName(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}
