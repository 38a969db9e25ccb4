import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Delivers to the PromptLayer REST API: one keep-alive connection per worker
/// (``UpstreamConnection``), each on an event loop of its own choosing.
///
/// Built on SwiftNIO's HTTP/1 client handlers rather than AsyncHTTPClient: the benchmark's
/// profile put most of a delivered call's CPU in the client's request machinery and its hand-offs
/// between threads, and a request here is one write. The API key is held here and only placed
/// in the `X-API-KEY` header.
public final class HTTPUpstream: Upstream {
    /// Response bodies kept for the dead letters are cut at this many bytes.
    static let maximumKeptBodyBytes = 64 * 1024

    /// Why the upstream URL or TLS set-up cannot be used.
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    private let connections: [UpstreamConnection]
    /// Whether PromptLayer is reached without a proxy.
    let isDirect: Bool

    /// - Parameters:
    ///   - baseURL: scheme, host, optional port and path, e.g. `https://api.promptlayer.com`.
    ///   - connections: one per worker.
    ///   - certificateAuthoritiesFile: a PEM file of the authorities an `https` upstream's
    ///     certificate must chain to (`--upstream-ca-file`); `nil` trusts the system's roots.
    ///   - proxy: the HTTP proxy to tunnel through, unless `noProxy` excludes the host.
    ///   - onStaleConnection: told of each request sent again on a fresh connection after it
    ///     met a kept one the server had closed.
    ///   - onProxyTunnel: told of each tunnel the proxy opened (`nil`) or refused (why).
    public init(
        baseURL: String,
        apiKey: APIKey,
        connections: Int,
        requestTimeout: Duration,
        certificateAuthoritiesFile: String? = nil,
        eventLoopGroup: any EventLoopGroup,
        proxy: UpstreamProxy? = nil,
        noProxy: ProxyExclusions = ProxyExclusions(""),
        onStaleConnection: @escaping @Sendable () -> Void = {},
        onProxyTunnel: @escaping @Sendable (String?) -> Void = { _ in }
    ) throws {
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            throw SetupError(description: "the upstream URL \(baseURL) is not an http:// or https:// URL with a host")
        }
        var tls: NIOSSLContext?
        if scheme == "https" {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let certificateAuthoritiesFile {
                configuration.trustRoots = .file(certificateAuthoritiesFile)
            }
            do {
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw SetupError(description: "cannot set up TLS for \(baseURL): \(error)")
            }
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let defaultPort = url.port == nil
        let path = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        let target = UpstreamConnection.Target(
            host: host,
            port: port,
            tls: tls,
            pathPrefix: path,
            headers: [
                "Host": defaultPort ? host : "\(host):\(port)",
                "X-API-KEY": apiKey.secret,
                "Content-Type": "application/json",
                "User-Agent": "pltrackd/\(PLTrackVersion.current)",
            ],
            connectTimeout: .seconds(10),
            requestTimeout: TimeAmount(requestTimeout),
            proxy: noProxy.excludes(host) ? nil : proxy
        )
        self.isDirect = target.proxy == nil
        self.connections = (0..<max(1, connections)).map { _ in
            UpstreamConnection(
                target: target, eventLoop: eventLoopGroup.next(), onStaleConnection: onStaleConnection,
                onProxyTunnel: onProxyTunnel)
        }
    }

    public func eventLoop(forWorker worker: Int) -> (any EventLoop)? {
        self.connections[worker % self.connections.count].eventLoop
    }

    public func send(path: String, body: TrackBody, worker: Int, isolation: isolated (any Actor)?) async
        -> UpstreamResponse
    {
        let connection = self.connections[worker % self.connections.count]
        do {
            // A drain that runs out cancels the workers: the request in flight is abandoned
            // (its connection closed) rather than awaited for the whole request timeout.
            let response = try await withTaskCancellationHandler {
                // Awaited in the caller's isolation: on the connection's own event loop, the
                // answer resumes the worker without a hand-off to another thread.
                try await withCheckedThrowingContinuation(isolation: isolation) { continuation in
                    connection.post(path: path, body: body).whenComplete { continuation.resume(with: $0) }
                }
            } onCancel: {
                connection.abandon()
            }
            return .answered(
                status: response.status,
                retryAfter: response.retryAfter.flatMap(Self.parseRetryAfter),
                body: String(buffer: response.body)
            )
        } catch let failure as UpstreamConnection.Failure where failure.isTimeout {
            return .timedOut(reason: failure.description)
        } catch {
            return .failed(reason: String(describing: error))
        }
    }

    public func shutdown() async {
        for connection in self.connections {
            try? await connection.close().get()
        }
    }

    /// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(trimmed), seconds >= 0 {
            return .seconds(seconds)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else {
            return nil
        }
        return .milliseconds(max(0, Int64(date.timeIntervalSinceNow * 1000)))
    }
}
