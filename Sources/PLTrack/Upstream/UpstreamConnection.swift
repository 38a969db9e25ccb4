import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

/// A connection to PromptLayer on one event loop, opened on the first request and again after
/// it closes or fails: HTTP/2 when the server offers it over TLS (ALPN `h2`), carrying many
/// requests at once as streams (``HTTP2Session``); HTTP/1.1 keep-alive otherwise, one request
/// at a time (``HTTP1Session``). SwiftNIO's own handlers, TLS from NIOSSL, and an HTTP
/// `CONNECT` tunnel first when a proxy is set.
///
/// A request the server certainly did not process (a kept HTTP/1.1 connection it had closed
/// meanwhile, an HTTP/2 stream it refused or said with `GOAWAY` it would not process) goes
/// again, once, on a fresh connection, and is not a failed attempt: the official SDKs retry
/// the same way.
final class UpstreamConnection: Sendable {
    /// Where requests go and how.
    struct Target: Sendable {
        var host: String
        var port: Int
        /// For `https`: the context (offering `h2` and `http/1.1`), and the name the
        /// certificate must carry (and SNI).
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

    /// What the connection is told about, for the daemon's counters and `STATUS=`.
    struct Events: Sendable {
        /// A request went again on a fresh connection because the server had not processed it.
        var onResent: @Sendable (UnprocessedRequest.Reason) -> Void = { _ in }
        /// A proxy opened a tunnel (`nil`) or refused one (why).
        var onProxyTunnel: @Sendable (String?) -> Void = { _ in }
        /// A connection opened, speaking HTTP/2 (`true`) or HTTP/1.1.
        var onOpened: @Sendable (_ http2: Bool) -> Void = { _ in }
    }

    let eventLoop: any EventLoop
    private let target: Target
    private let events: Events
    private let session: NIOLoopBoundBox<(any UpstreamSession)?>
    /// The connection being opened, which every request meanwhile waits for.
    private let opening: NIOLoopBoundBox<EventLoopFuture<NIOLoopBound<any UpstreamSession>>?>
    /// How many times the connection was closed on purpose (``close()``): a request that fails
    /// because of it is not sent again.
    private let closings: NIOLoopBoundBox<Int>

    init(target: Target, eventLoop: any EventLoop, events: Events = Events()) {
        self.target = target
        self.eventLoop = eventLoop
        self.events = events
        self.session = NIOLoopBoundBox.makeEmptyBox(valueType: (any UpstreamSession).self, eventLoop: eventLoop)
        self.opening = NIOLoopBoundBox.makeEmptyBox(
            valueType: EventLoopFuture<NIOLoopBound<any UpstreamSession>>.self, eventLoop: eventLoop)
        self.closings = NIOLoopBoundBox.makeBoxSendingValue(0, as: Int.self, eventLoop: eventLoop)
    }

    /// Posts `body` to `path` and collects the answer; fails when there is none (refused,
    /// reset, timed out).
    func post(path: String, body: TrackBody) -> EventLoopFuture<CollectedResponse> {
        guard self.eventLoop.inEventLoop else {
            return self.eventLoop.flatSubmit { self.post(path: path, body: body) }
        }
        var headers = self.target.headers
        headers.add(name: "Content-Length", value: String(body.byteCount))
        let request = UpstreamRequest(
            head: HTTPRequestHead(
                version: .http1_1, method: .POST, uri: self.target.pathPrefix + path, headers: headers),
            body: body,
            timeout: self.target.requestTimeout
        )
        let closings = self.closings.value
        return self.connection().flatMap { session in
            session.value.send(request).flatMapError { error in
                guard let unprocessed = error as? UnprocessedRequest, self.closings.value == closings else {
                    return self.eventLoop.makeFailedFuture(error)
                }
                self.events.onResent(unprocessed.reason)
                return self.connection().flatMap { fresh in
                    fresh.value.send(request)
                }
            }
        }
    }

    /// Closes the connection, failing the requests in flight, if any.
    func abandon() {
        _ = self.close()
    }

    /// Closes the connection, if one is open.
    func close() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            self.closings.value += 1
            guard let session = self.session.value else {
                return self.eventLoop.makeSucceededVoidFuture()
            }
            self.session.value = nil
            return session.channel.close().recover { _ in }
        }
    }

    /// The open connection if it takes another request, or the one being opened, or a new one.
    private func connection() -> EventLoopFuture<NIOLoopBound<any UpstreamSession>> {
        if let session = self.session.value, session.isUsable {
            return self.eventLoop.makeSucceededFuture(NIOLoopBound(session, eventLoop: self.eventLoop))
        }
        if let opening = self.opening.value {
            return opening
        }
        let opening = self.open()
        self.opening.value = opening
        opening.whenComplete { result in
            self.opening.value = nil
            if case .success(let session) = result {
                self.session.value = session.value
                self.events.onOpened(session.value.isMultiplexed)
            }
        }
        return opening
    }

    /// Connects (through the proxy's tunnel, if any), then TLS and the protocol it agrees on.
    private func open() -> EventLoopFuture<NIOLoopBound<any UpstreamSession>> {
        let target = self.target
        let negotiated = self.eventLoop.makePromise(of: NIOLoopBound<any UpstreamSession>.self)
        let tunnel = target.proxy.map { _ in self.eventLoop.makePromise(of: Void.self) }
        let connected = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(target.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let proxy = target.proxy, let tunnel {
                        // The tunnel first; TLS and HTTP once it is open.
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyTunnelHandler(proxy: proxy, host: target.host, port: target.port, established: tunnel))
                    }
                }
            }
            .connect(host: target.proxy?.host ?? target.host, port: target.proxy?.port ?? target.port)
        connected.whenFailure { negotiated.fail($0) }
        connected.whenSuccess { channel in
            channel.closeFuture.whenComplete { _ in
                negotiated.fail(
                    HTTPResponseCollector.ConnectionClosed(description: "the connection closed while it was set up"))
            }
            if let tunnel {
                self.throughTheTunnel(channel, opened: tunnel.futureResult, negotiated: negotiated)
            } else {
                // Once connected, so that an HTTP/1.1 session is handed out only on an open
                // connection; TLS starts its handshake as it is added.
                do {
                    try Self.addHandlers(to: channel, target: target, negotiated: negotiated)
                } catch {
                    negotiated.fail(error)
                    channel.close(promise: nil)
                }
            }
        }
        return negotiated.futureResult
    }

    /// Once the proxy opened the tunnel on `channel`: TLS and HTTP in place of the tunnel's
    /// handler. Reports the outcome, and closes the channel when the proxy refused.
    private func throughTheTunnel(
        _ channel: any Channel, opened: EventLoopFuture<Void>,
        negotiated: EventLoopPromise<NIOLoopBound<any UpstreamSession>>
    ) {
        let target = self.target
        opened.flatMap {
            self.onProxyTunnel(nil)
            return channel.pipeline.handler(type: ProxyTunnelHandler.self).flatMap { handler in
                channel.pipeline.removeHandler(handler)
            }
        }.flatMapThrowing {
            try Self.addHandlers(to: channel, target: target, negotiated: negotiated)
        }.whenFailure { error in
            if let refused = error as? ProxyTunnelHandler.Refused {
                self.onProxyTunnel(refused.description)
            }
            negotiated.fail(error)
            channel.close(promise: nil)
        }
    }

    private func onProxyTunnel(_ refusal: String?) {
        self.events.onProxyTunnel(refusal)
    }

    /// For `https`: TLS, offering `h2` and `http/1.1`, and the session for what the server
    /// chose. For `http`: an HTTP/1.1 session at once.
    private static func addHandlers(
        to channel: any Channel, target: Target, negotiated: EventLoopPromise<NIOLoopBound<any UpstreamSession>>
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        guard let tls = target.tls else {
            negotiated.succeed(NIOLoopBound(try Self.http1Session(on: channel), eventLoop: channel.eventLoop))
            return
        }
        let failure = SetUpFailure(negotiated: negotiated)
        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: Self.serverName(target.host)))
        try pipeline.addHandler(
            ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    channel.pipeline.syncOperations.removeHandler(failure, promise: nil)
                    let session: any UpstreamSession =
                        result == .negotiated("h2")
                        ? try Self.http2Session(on: channel) : try Self.http1Session(on: channel)
                    negotiated.succeed(NIOLoopBound(session, eventLoop: channel.eventLoop))
                }
            })
        try pipeline.addHandler(failure)
    }

    private static func http1Session(on channel: any Channel) throws -> HTTP1Session {
        let collector = HTTPResponseCollector()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(collector)
        return HTTP1Session(channel: channel, collector: collector)
    }

    private static func http2Session(on channel: any Channel) throws -> HTTP2Session {
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        // NIOHTTP2 closes a connection that receives more than 200 RST_STREAM frames in 30 s,
        // against a peer attacking a server. A server may legitimately reset each stream once it
        // has answered it (nginx does, with NO_ERROR, when it answers before reading the body),
        // which closed the connection every 201 requests. Allowed here: 10,000 a second (the
        // limiter keeps one timestamp per reset it allows in its window).
        var streams = NIOHTTP2Handler.StreamConfiguration()
        streams.streamResetFrameRateLimit.maximumCount = 10_000
        streams.streamResetFrameRateLimit.windowLength = .seconds(1)
        let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client,
            connectionConfiguration: .init(),
            streamConfiguration: streams
        ) { stream in
            // The server opens no streams of its own (no push): any it tries is closed.
            stream.close()
        }
        let watcher = HTTP2ConnectionWatcher()
        try channel.pipeline.syncOperations.addHandler(watcher)
        return HTTP2Session(channel: channel, multiplexer: multiplexer, watcher: watcher)
    }

    /// The name for SNI: none for an IP address, as RFC 6066 says.
    private static func serverName(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}

/// Fails the set-up with the first error on the connection before TLS and the protocol are
/// agreed (an untrusted certificate, say), so the request names it.
private final class SetUpFailure: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let negotiated: EventLoopPromise<NIOLoopBound<any UpstreamSession>>

    init(negotiated: EventLoopPromise<NIOLoopBound<any UpstreamSession>>) {
        self.negotiated = negotiated
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.negotiated.fail(error)
        context.close(promise: nil)
    }
}
