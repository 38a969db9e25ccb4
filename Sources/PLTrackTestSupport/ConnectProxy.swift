import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A real HTTP `CONNECT` proxy on loopback, standing in for a company's: it opens a tunnel to
/// the host and port asked for and relays bytes both ways, or refuses. With
/// `requiredAuthorization` it answers 407 to a request without that `Proxy-Authorization`;
/// with `refusal` it answers every `CONNECT` with that status.
public final class ConnectProxy: Sendable {
    /// One `CONNECT` as it came: its target and its `Proxy-Authorization`, if any.
    public struct Request: Sendable, Equatable {
        public var target: String
        public var authorization: String?
    }

    private let channel: any Channel
    private let record = NIOLockedValueBox<[Request]>([])
    let requiredAuthorization: String?
    let refusal: Int?
    public let port: Int

    public init(
        requiredAuthorization: String? = nil, refusal: Int? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        self.requiredAuthorization = requiredAuthorization
        self.refusal = refusal
        let box = NIOLockedValueBox<ConnectProxy?>(nil)
        self.channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let proxy = box.withLockedValue({ $0 }) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try channel.pipeline.syncOperations.addHandler(ConnectRequestHandler(proxy: proxy))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.channel.localAddress?.port ?? 0
        box.withLockedValue { $0 = self }
    }

    /// `http://127.0.0.1:PORT`.
    public var url: String { "http://127.0.0.1:\(self.port)" }

    /// Every `CONNECT` received, in order.
    public var requests: [Request] { self.record.withLockedValue { $0 } }

    func received(_ request: Request) {
        self.record.withLockedValue { $0.append(request) }
    }

    public func stop() async {
        try? await self.channel.close()
    }

    public func close() {
        self.channel.close(promise: nil)
    }
}

/// Reads one `CONNECT` request, answers it, and on success relays the connection to the target.
final class ConnectRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let proxy: ConnectProxy
    private var header = ByteBuffer()
    private var isAnswered = false

    init(proxy: ConnectProxy) {
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        guard !self.isAnswered else {
            return
        }
        self.header.writeBuffer(&bytes)
        let view = self.header.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else {
            return
        }
        self.isAnswered = true
        let lines = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self).components(
            separatedBy: "\r\n")
        let requestLine = lines.first?.split(separator: " ") ?? []
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        guard requestLine.count == 3, requestLine[0] == "CONNECT" else {
            self.answer("400 Bad Request", context: context, close: true)
            return
        }
        let target = String(requestLine[1])
        self.proxy.received(ConnectProxy.Request(target: target, authorization: authorization))
        if let required = self.proxy.requiredAuthorization, authorization != required {
            self.answer("407 Proxy Authentication Required", context: context, close: true)
            return
        }
        if let refusal = self.proxy.refusal {
            self.answer("\(refusal) Refused By The Test Proxy", context: context, close: true)
            return
        }
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            self.answer("400 Bad Request", context: context, close: true)
            return
        }
        let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let client = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { server in
                server.eventLoop.makeCompletedFuture {
                    try server.pipeline.syncOperations.addHandler(Relay(to: client))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let server):
                    handler.answer("200 Connection Established", context: context, close: false)
                    do {
                        try context.pipeline.syncOperations.addHandler(Relay(to: server), position: .last)
                        context.pipeline.removeHandler(handler, promise: nil)
                    } catch {
                        context.close(promise: nil)
                        server.close(promise: nil)
                    }
                case .failure:
                    handler.answer("502 Bad Gateway", context: context, close: true)
                }
            }
    }

    private func answer(_ status: String, context: ChannelHandlerContext, close: Bool) {
        let reply = "HTTP/1.1 \(status)\r\nContent-Length: 0\r\n\r\n"
        let written = context.writeAndFlush(NIOAny(ByteBuffer(string: reply)))
        if close {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// Relays every byte read on its channel to `partner`, and closes `partner` when its channel
/// closes.
final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel

    init(to partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner.writeAndFlush(Self.unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
