import Foundation
import NIOCore
import NIOHTTP1

/// Answers one HTTP/1.1 connection: `POST /rest/…` with `200 {"success":true}` after `delay`
/// (or never, when the sink stands for an upstream that hangs; or 429 beyond its rate limit),
/// `POST /log-request` likewise with `201 {"id":N,"success":true}`, as PromptLayer does,
/// `GET /bench/stats` with the figures, `POST /bench/reset` by forgetting them.
final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let sentMarker = Array(#""sent_ns":""#.utf8)
    private static let success = ByteBuffer(string: #"{"success":true}"#)

    private let record: LatencyRecord
    private let answers: Bool
    private let delay: TimeAmount
    private let rateLimit: RateLimit?
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    /// - Parameters:
    ///   - answers: `false` holds every tracking request open without an answer.
    ///   - delay: how long each tracking request waits for its answer (a distant server).
    ///   - rateLimit: refuses with 429 what is beyond it.
    init(record: LatencyRecord, answers: Bool, delay: TimeAmount = .zero, rateLimit: RateLimit? = nil) {
        self.record = record
        self.answers = answers
        self.delay = delay
        self.rateLimit = rateLimit
    }

    func channelActive(context: ChannelHandlerContext) {
        self.record.connection(opened: true)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.record.connection(opened: false)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
        case .body(var chunk):
            self.body.writeBuffer(&chunk)
        case .end:
            guard let head = self.head else {
                return
            }
            self.head = nil
            self.answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch (head.method, head.uri) {
        case (.POST, let uri) where uri.hasPrefix("/rest/") || uri == "/log-request":
            let received = Clocks.monotonicNanoseconds()
            let sent = self.body.offset(after: Self.sentMarker).flatMap { self.body.decimal(at: $0) }
            guard self.answers else {
                self.record.record(sentNanoseconds: sent, receivedNanoseconds: received)
                return
            }
            let admitted = self.rateLimit?.admit(atNanoseconds: received) ?? true
            let counted = admitted ? self.record.record(sentNanoseconds: sent, receivedNanoseconds: received) : 0
            if !admitted {
                self.record.refused()
            }
            let keepAlive = head.isKeepAlive
            let logged = head.uri == "/log-request"
            let answer = { (context: ChannelHandlerContext) in
                if admitted && logged {
                    self.respond(
                        .created, ByteBuffer(string: #"{"id":\#(counted),"success":true}"#), keepAlive: keepAlive,
                        context: context)
                } else if admitted {
                    self.respond(.ok, Self.success, keepAlive: keepAlive, context: context)
                } else {
                    self.respond(
                        .tooManyRequests, ByteBuffer(string: #"{"success":false}"#), keepAlive: keepAlive,
                        retryAfter: "1", context: context)
                }
            }
            if self.delay > .zero {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: self.delay) {
                    answer(loopBound.value.1)
                }
            } else {
                answer(context)
            }
        case (.GET, "/bench/stats"):
            let json = (try? JSONEncoder.snakeCase.encode(self.record.report)) ?? Data("{}".utf8)
            self.respond(.ok, ByteBuffer(bytes: json), keepAlive: head.isKeepAlive, context: context)
        case (.POST, "/bench/reset"):
            self.record.reset()
            self.respond(.ok, Self.success, keepAlive: head.isKeepAlive, context: context)
        default:
            self.respond(.notFound, ByteBuffer(string: #"{"success":false}"#), keepAlive: false, context: context)
        }
    }

    private func respond(
        _ status: HTTPResponseStatus, _ body: ByteBuffer, keepAlive: Bool, retryAfter: String? = nil,
        context: ChannelHandlerContext
    ) {
        var headers: HTTPHeaders = [
            "Content-Type": "application/json",
            "Content-Length": String(body.readableBytes),
        ]
        if let retryAfter {
            headers.add(name: "Retry-After", value: retryAfter)
        }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        }
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

extension JSONEncoder {
    /// snake_case keys, as every figure the benchmark writes.
    static var snakeCase: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
