import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

/// A real HTTP server on loopback standing in for PromptLayer.
///
/// Each request is checked against ``APIContract`` and recorded; a ``Script`` decides the
/// answer, so a test can have it fail with 500, rate-limit with 429 and `Retry-After`, refuse
/// with 400, or answer slowly. Given a certificate, it serves HTTPS instead of HTTP, and HTTP/2
/// as well when its TLS context offers `h2` by ALPN.
public final class FakeUpstream: Sendable {
    /// One request as it arrived.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var apiKey: String?
        public var body: [UInt8]

        /// The body as JSON.
        public var json: JSONValue? { try? JSONValue.parse(self.body) }
    }

    /// How the server answers one request.
    public struct Answer: Sendable {
        public var status: Int
        public var retryAfter: String?
        public var body: String
        /// Wait this long before answering.
        public var delay: TimeAmount
        /// Whether the body is the default one: a `/log-request` taken with it is answered 201
        /// with a new id, as PromptLayer does.
        var hasDefaultBody: Bool

        public init(status: Int, retryAfter: String? = nil, body: String? = nil, delay: TimeAmount = .zero) {
            self.status = status
            self.retryAfter = retryAfter
            self.body =
                body
                ?? (status < 300
                    ? #"{"success":true,"message":"Prompt tracked successfully"}"#
                    : #"{"success":false,"message":"refused by the fake upstream"}"#)
            self.delay = delay
            self.hasDefaultBody = body == nil
        }

        public static let success = Answer(status: 200)
    }

    /// Chooses the answer for a request; `attempt` counts the earlier requests with the same
    /// path and body (0 for the first), so a script can fail a call a few times and then take it.
    public typealias Script = @Sendable (_ request: Request, _ attempt: Int) -> Answer

    private struct Record {
        var all: [Request] = []
        var succeeded: [Request] = []
        var violations: [String] = []
        var attempts: [[UInt8]: Int] = [:]
        var logged: [(id: Int64, request: Request)] = []
        var connections: [String: Int] = [:]
    }

    /// The next id a `/log-request` is answered with, shared by every server in the process, so
    /// one restarted on a port does not give an id twice.
    private static let nextLogID = NIOLockedValueBox<Int64>(700_000)

    public let expectedAPIKey: String
    private let contract: APIContract
    private let script: Script
    private let record = NIOLockedValueBox(Record())
    private let channel: any Channel
    private let tls: NIOSSLContext?
    /// The port it listens on, kept after ``stop()`` so a test can point at the dead port.
    public let port: Int
    /// Requests answered on one connection; the next one finds the connection closed without a
    /// byte of answer, as a server that let an idle keep-alive connection go (`nil`: no limit).
    let requestsPerConnection: Int?
    /// Streams processed on one HTTP/2 connection; at the next, the server sends `GOAWAY` naming
    /// the last it processed, and processes no stream after it (`nil`: no limit).
    let streamsPerConnection: Int?
    /// The `SETTINGS_MAX_CONCURRENT_STREAMS` an HTTP/2 connection announces (`nil`: NIOHTTP2's 100).
    let maximumConcurrentStreams: Int?

    /// Starts a server on 127.0.0.1 at `port`, or at a free port when it is 0 (a test that
    /// stops one server and starts another on its port stands for an upstream that was down).
    /// With `tls`, it serves HTTPS with that server context. With `requestsPerConnection`, it
    /// closes each connection unanswered at the request after that many. With
    /// `streamsPerConnection`, it sends `GOAWAY` on each HTTP/2 connection after that many streams.
    public init(
        port: Int = 0,
        expectedAPIKey: String = "test-key-\(UInt32.random(in: 0...UInt32.max))",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        tls: NIOSSLContext? = nil,
        requestsPerConnection: Int? = nil,
        streamsPerConnection: Int? = nil,
        maximumConcurrentStreams: Int? = nil,
        script: @escaping Script = { _, _ in .success }
    ) async throws {
        self.expectedAPIKey = expectedAPIKey
        self.requestsPerConnection = requestsPerConnection
        self.streamsPerConnection = streamsPerConnection
        self.maximumConcurrentStreams = maximumConcurrentStreams
        self.contract = try APIContract.load()
        self.script = script
        self.tls = tls
        let box = NIOLockedValueBox<FakeUpstream?>(nil)
        self.channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let upstream = box.withLockedValue({ $0 }) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try upstream.configure(channel)
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        self.port = self.channel.localAddress?.port ?? port
        box.withLockedValue { $0 = self }
    }

    /// An HTTP/1.1 pipeline, or for TLS one that serves what ALPN chose: HTTP/2 for `h2`.
    private func configure(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        guard let tls = self.tls else {
            try self.configureHTTP1(channel)
            return
        }
        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
        try pipeline.addHandler(
            ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    if result == .negotiated("h2") {
                        try self.configureHTTP2(channel)
                    } else {
                        try self.configureHTTP1(channel)
                    }
                }
            })
    }

    private func configureHTTP1(_ channel: any Channel) throws {
        self.record.withLockedValue { $0.connections["http/1.1", default: 0] += 1 }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        try channel.pipeline.syncOperations.addHandler(FakeUpstreamHandler(upstream: self))
    }

    private func configureHTTP2(_ channel: any Channel) throws {
        self.record.withLockedValue { $0.connections["h2", default: 0] += 1 }
        let connection = NIOLoopBound(FakeHTTP2Connection(), eventLoop: channel.eventLoop)
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        if let maximum = self.maximumConcurrentStreams {
            configuration.initialSettings = nioDefaultSettings.map {
                $0.parameter == .maxConcurrentStreams
                    ? HTTP2Setting(parameter: .maxConcurrentStreams, value: maximum) : $0
            }
        }
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: configuration,
            streamConfiguration: .init()
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(
                    FakeUpstreamHandler(upstream: self, http2: connection.value))
            }
        }
    }

    /// Connections accepted, by protocol (`h2`, `http/1.1`).
    public var connections: [String: Int] { self.record.withLockedValue { $0.connections } }

    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    public var baseURL: String { "\(self.tls == nil ? "http" : "https")://127.0.0.1:\(self.port)" }

    /// Every request received, in arrival order.
    public var requests: [Request] { self.record.withLockedValue { $0.all } }

    /// The requests answered with 2xx: what PromptLayer would have stored.
    public var succeeded: [Request] { self.record.withLockedValue { $0.succeeded } }

    /// The `/log-request`s taken, with the id each was answered with, in order.
    public var logged: [(id: Int64, request: Request)] { self.record.withLockedValue { $0.logged } }

    /// Every way a request broke the API description.
    public var violations: [String] { self.record.withLockedValue { $0.violations } }

    public func stop() async {
        try? await self.channel.close()
    }

    /// Stops listening without waiting, unless ``stop()`` already did: for `defer`, so a test
    /// that throws leaves no server behind.
    public func close() {
        self.channel.close(promise: nil)
    }

    /// A PromptLayer that is down: a server started and stopped at once, so connections to its
    /// port are refused; ``restarted()`` brings it back on the same port.
    public static func unreachable() async throws -> FakeUpstream {
        let upstream = try await FakeUpstream()
        await upstream.stop()
        return upstream
    }

    /// A new server on this one's port, with its key and script: the upstream coming back.
    public func restarted() async throws -> FakeUpstream {
        try await FakeUpstream(
            port: self.port, expectedAPIKey: self.expectedAPIKey, tls: self.tls,
            requestsPerConnection: self.requestsPerConnection, streamsPerConnection: self.streamsPerConnection,
            maximumConcurrentStreams: self.maximumConcurrentStreams, script: self.script)
    }

    /// Records `request` and decides its answer.
    func answer(_ request: Request) -> Answer {
        let problems = self.contract.violations(
            method: request.method,
            path: request.path,
            apiKey: request.apiKey,
            expectedKey: self.expectedAPIKey,
            body: request.body
        )
        let attempt = self.record.withLockedValue { record in
            record.all.append(request)
            record.violations += problems.map { "\(request.path): \($0)" }
            let key = Array(request.path.utf8) + [0] + request.body
            defer { record.attempts[key, default: 0] += 1 }
            return record.attempts[key, default: 0]
        }
        var answer =
            problems.isEmpty
            ? self.script(request, attempt)
            : Answer(status: 422, body: #"{"detail":"\#(problems.joined(separator: "; "))"}"#)
        if (200..<300).contains(answer.status) {
            if request.path == "/log-request" && answer.hasDefaultBody {
                let id = Self.nextLogID.withLockedValue { next in
                    defer { next += 1 }
                    return next
                }
                answer = Answer(
                    status: 201, body: #"{"id":\#(id),"prompt_version":null,"status":"SUCCESS"}"#, delay: answer.delay)
                self.record.withLockedValue { $0.logged.append((id, request)) }
            }
            self.record.withLockedValue { $0.succeeded.append(request) }
        }
        return answer
    }
}

/// Collects one HTTP request and writes the scripted answer.
final class FakeUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let upstream: FakeUpstream
    /// The HTTP/2 connection this stream is on, if it is one.
    private let http2: FakeHTTP2Connection?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Requests answered on this connection.
    private var answered = 0

    init(upstream: FakeUpstream, http2: FakeHTTP2Connection? = nil) {
        self.upstream = upstream
        self.http2 = http2
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(let chunk):
            self.body += chunk.readableBytesView
        case .end:
            guard let head = self.head else {
                return
            }
            if let limit = self.upstream.requestsPerConnection, self.answered >= limit {
                // As if the connection had been let go before this request came.
                context.close(promise: nil)
                return
            }
            self.answered += 1
            if let http2 = self.http2,
                let streamID = try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID),
                case .refuse(let goAway) = http2.decide(streamID, limit: self.upstream.streamsPerConnection)
            {
                // Past the limit: not processed; the first such stream makes the server say so.
                if let last = goAway, let parent = context.channel.parent {
                    let frame = HTTP2Frame(
                        streamID: .rootStream,
                        payload: .goAway(lastStreamID: last, errorCode: .noError, opaqueData: nil))
                    parent.writeAndFlush(frame, promise: nil)
                }
                return
            }
            let request = FakeUpstream.Request(
                method: head.method.rawValue,
                path: head.uri,
                apiKey: head.headers.first(name: "X-API-KEY"),
                body: self.body
            )
            let answer = self.upstream.answer(request)
            let keepAlive = head.isKeepAlive
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            if answer.delay > .zero {
                context.eventLoop.scheduleTask(in: answer.delay) {
                    let (handler, context) = loopBound.value
                    handler.write(answer, keepAlive: keepAlive, context: context)
                }
            } else {
                self.write(answer, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func write(_ answer: FakeUpstream.Answer, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers: HTTPHeaders = [
            "Content-Type": "application/json",
            "Content-Length": "\(answer.body.utf8.count)",
        ]
        if let retryAfter = answer.retryAfter {
            headers.add(name: "Retry-After", value: retryAfter)
        }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        }
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive {
                channel.close(promise: nil)
            }
        }
    }
}

/// One HTTP/2 connection of the fake server: it processes a number of streams, and at the
/// next one sends `GOAWAY` naming the last it processed, and processes none after it.
final class FakeHTTP2Connection {
    enum Decision {
        case process
        /// Not processed: the first such stream also sends the `GOAWAY`.
        case refuse(goAway: HTTP2StreamID?)
    }

    private var processed = 0
    private var lastProcessed: HTTP2StreamID?
    private var wentAway = false

    func decide(_ streamID: HTTP2StreamID, limit: Int?) -> Decision {
        guard let limit, self.processed >= limit else {
            self.processed += 1
            self.lastProcessed = max(self.lastProcessed ?? streamID, streamID)
            return .process
        }
        defer { self.wentAway = true }
        return .refuse(goAway: self.wentAway ? nil : self.lastProcessed)
    }
}
