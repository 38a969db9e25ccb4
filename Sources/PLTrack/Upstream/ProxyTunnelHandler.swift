import NIOCore

/// Asks an HTTP proxy for a `CONNECT` tunnel to PromptLayer's host and port, on a connection
/// to the proxy, and completes `established` once the proxy answers 2xx: from then on the
/// connection carries PromptLayer's bytes, and the handler is removed for TLS and HTTP to take
/// over. Any other answer, a closed connection or more than 16 KiB of answer fails it with
/// ``Refused`` or ``Broken``, naming the proxy (without its credentials).
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// The proxy answered the `CONNECT` with something other than 2xx.
    struct Refused: Error, CustomStringConvertible {
        var proxy: String
        var destination: String
        var status: Int
        var reason: String
        var description: String {
            "the proxy \(self.proxy) refused the tunnel to \(self.destination): \(self.status) \(self.reason)"
        }
    }

    /// The proxy's answer was not HTTP, or did not come.
    struct Broken: Error, CustomStringConvertible {
        var description: String
    }

    private static let maximumAnswerBytes = 16 << 10
    private static let headerEnd = Array("\r\n\r\n".utf8)

    private let proxy: UpstreamProxy
    private let destination: String
    private let established: EventLoopPromise<Void>
    private var answer = ByteBuffer()
    private var isDone = false

    init(proxy: UpstreamProxy, host: String, port: Int, established: EventLoopPromise<Void>) {
        self.proxy = proxy
        let bracketed = host.contains(":") ? "[\(host)]" : host
        self.destination = "\(bracketed):\(port)"
        self.established = established
    }

    func channelActive(context: ChannelHandlerContext) {
        var request = "CONNECT \(self.destination) HTTP/1.1\r\nHost: \(self.destination)\r\n"
        if let authorization = self.proxy.authorization {
            request += "Proxy-Authorization: \(authorization)\r\n"
        }
        request += "User-Agent: pltrackd/\(PLTrackVersion.current)\r\n\r\n"
        context.writeAndFlush(NIOAny(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        guard !self.isDone else {
            return
        }
        self.answer.writeBuffer(&bytes)
        let view = self.answer.readableBytesView
        guard let end = view.firstRange(of: Self.headerEnd) else {
            if self.answer.readableBytes > Self.maximumAnswerBytes {
                self.fail(
                    Broken(description: "the proxy \(self.proxy.display) sent more than 16 KiB of answer headers"))
                context.close(promise: nil)
            }
            return
        }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let fields = statusLine.split(separator: " ", maxSplits: 2)
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/1."), let status = Int(fields[1]) else {
            self.fail(
                Broken(description: "the proxy \(self.proxy.display) did not answer in HTTP: \(statusLine.prefix(80))"))
            context.close(promise: nil)
            return
        }
        guard (200..<300).contains(status) else {
            self.fail(
                Refused(
                    proxy: self.proxy.display, destination: self.destination, status: status,
                    reason: fields.count > 2 ? String(fields[2]) : ""))
            context.close(promise: nil)
            return
        }
        guard end.upperBound == view.endIndex else {
            self.fail(Broken(description: "the proxy \(self.proxy.display) sent bytes after its answer to CONNECT"))
            context.close(promise: nil)
            return
        }
        self.isDone = true
        self.established.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(
            Broken(description: "the proxy \(self.proxy.display) closed the connection before the tunnel was open"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(Broken(description: "the connection to the proxy \(self.proxy.display) failed: \(error)"))
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        guard !self.isDone else {
            return
        }
        self.isDone = true
        self.established.fail(error)
    }
}
