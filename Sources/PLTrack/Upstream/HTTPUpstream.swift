import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// Delivers to the PromptLayer REST API over ``UpstreamConnection``s, each on an event loop.
///
/// Each worker has a connection of its own, used while PromptLayer speaks HTTP/1.1 (one request
/// at a time per connection). Once a connection finds that it speaks HTTP/2, every worker sends
/// through one of the first `http2Connections` instead, as streams: the workers on an event
/// loop share the connections on that loop, so no request changes threads. Until the protocol
/// is known (at the start, over TLS), the workers use those shared connections too, so a burst
/// at the start opens a few connections, not one per worker.
///
/// Built on SwiftNIO's HTTP handlers rather than AsyncHTTPClient: the benchmark's profile put
/// most of a delivered call's CPU in the client's request machinery and its hand-offs between
/// threads, and a request here is one write. The API key is held here and only placed in the
/// `X-API-KEY` header.
public final class HTTPUpstream: Upstream {
    /// Response bodies kept for the dead letters are cut at this many bytes.
    static let maximumKeptBodyBytes = 64 * 1024

    /// Why the upstream URL or TLS set-up cannot be used.
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// What the connections are told about, for the daemon's counters and `STATUS=`.
    public struct Events: Sendable {
        /// A request went again on a fresh connection: the server had closed the kept one
        /// (`staleConnection: true`), or refused the HTTP/2 stream or went away before it.
        public var onResent: @Sendable (_ staleConnection: Bool) -> Void
        /// The proxy opened a tunnel (`nil`) or refused one (why).
        public var onProxyTunnel: @Sendable (String?) -> Void
        /// A connection opened, speaking HTTP/2 (`true`) or HTTP/1.1.
        public var onOpened: @Sendable (_ http2: Bool) -> Void

        public init(
            onResent: @escaping @Sendable (_ staleConnection: Bool) -> Void = { _ in },
            onProxyTunnel: @escaping @Sendable (String?) -> Void = { _ in },
            onOpened: @escaping @Sendable (_ http2: Bool) -> Void = { _ in }
        ) {
            self.onResent = onResent
            self.onProxyTunnel = onProxyTunnel
            self.onOpened = onOpened
        }
    }

    /// One per worker, lane `i` on event loop `i % loops`.
    private let lanes: [UpstreamConnection]
    /// The lanes that carry every worker's streams over HTTP/2: the first `carriers`, a
    /// multiple of the loops, so worker `w`'s carrier `w % carriers` is on the worker's loop.
    private let carriers: Int
    /// Whether PromptLayer speaks HTTP/2, as the last connection opened found; `nil` until one has.
    private let speaksHTTP2: NIOLockedValueBox<Bool?>
    /// Whether PromptLayer is reached without a proxy.
    let isDirect: Bool

    /// - Parameters:
    ///   - baseURL: scheme, host, optional port and path, e.g. `https://api.promptlayer.com`.
    ///   - connections: one per worker.
    ///   - http2Connections: how many connections carry the streams over HTTP/2 (at least one
    ///     per event loop).
    ///   - certificateAuthoritiesFile: a PEM file of the authorities an `https` upstream's
    ///     certificate must chain to (`--upstream-ca-file`); `nil` trusts the system's roots.
    ///   - proxy: the HTTP proxy to tunnel through, unless `noProxy` excludes the host.
    public init(
        baseURL: String,
        apiKey: APIKey,
        connections: Int,
        http2Connections: Int = 8,
        requestTimeout: Duration,
        certificateAuthoritiesFile: String? = nil,
        eventLoopGroup: any EventLoopGroup,
        proxy: UpstreamProxy? = nil,
        noProxy: ProxyExclusions = ProxyExclusions(""),
        events: Events = Events()
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
            configuration.applicationProtocols = ["h2", "http/1.1"]
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
        // Plain http is HTTP/1.1 (no h2c): known before any connection.
        let speaksHTTP2 = NIOLockedValueBox<Bool?>(tls == nil ? false : nil)
        self.speaksHTTP2 = speaksHTTP2
        let connectionEvents = UpstreamConnection.Events(
            onResent: { events.onResent($0 == .staleConnection) },
            onProxyTunnel: events.onProxyTunnel,
            onOpened: { http2 in
                speaksHTTP2.withLockedValue { $0 = http2 }
                events.onOpened(http2)
            }
        )
        let loops = Array(eventLoopGroup.makeIterator())
        let lanes = max(1, connections)
        self.lanes = (0..<lanes).map { lane in
            UpstreamConnection(target: target, eventLoop: loops[lane % loops.count], events: connectionEvents)
        }
        let perLoop = max(1, (http2Connections + loops.count - 1) / loops.count)
        self.carriers = min(lanes, perLoop * loops.count)
    }

    public func eventLoop(forWorker worker: Int) -> (any EventLoop)? {
        self.lanes[worker % self.lanes.count].eventLoop
    }

    /// Worker `worker`'s own connection over HTTP/1.1; its shared one over HTTP/2 or while the
    /// protocol is not known yet.
    private func connection(forWorker worker: Int) -> UpstreamConnection {
        self.speaksHTTP2.withLockedValue { $0 } == false
            ? self.lanes[worker % self.lanes.count] : self.lanes[worker % self.carriers]
    }

    public func send(path: String, body: TrackBody, worker: Int, isolation: isolated (any Actor)?) async
        -> UpstreamResponse
    {
        let connection = self.connection(forWorker: worker)
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
        for connection in self.lanes {
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
