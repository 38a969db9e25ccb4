import Foundation
import NIOCore
import NIOHTTP1

/// Answers one HTTP/1.1 connection: `POST /rest/…` with `200 {"success":true}` (or never,
/// when the sink stands for an upstream that hangs), `GET /bench/stats` with the figures,
/// `POST /bench/reset` by forgetting them.
final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let sentMarker = Array(#""sent_ns":""#.utf8)
    private static let success = ByteBuffer(string: #"{"success":true}"#)

    private let record: LatencyRecord
    private let answers: Bool
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    /// - Parameter answers: `false` holds every tracking request open without an answer.
    init(record: LatencyRecord, answers: Bool) {
        self.record = record
        self.answers = answers
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
        case (.POST, let uri) where uri.hasPrefix("/rest/"):
            let received = Clocks.monotonicNanoseconds()
            let sent = self.body.offset(after: Self.sentMarker).flatMap { self.body.decimal(at: $0) }
            self.record.record(sentNanoseconds: sent, receivedNanoseconds: received)
            if self.answers {
                self.respond(.ok, Self.success, keepAlive: head.isKeepAlive, context: context)
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
        _ status: HTTPResponseStatus, _ body: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext
    ) {
        var headers: HTTPHeaders = [
            "Content-Type": "application/json",
            "Content-Length": String(body.readableBytes),
        ]
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
