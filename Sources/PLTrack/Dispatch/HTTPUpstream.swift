import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Delivers to the PromptLayer REST API over keep-alive HTTP connections.
///
/// The API key is held here and only placed in the `X-API-KEY` header.
public final class HTTPUpstream: Upstream {
    /// Response bodies kept for the dead letters are cut at this many bytes.
    static let maximumKeptBodyBytes = 64 * 1024

    private let client: HTTPClient
    private let baseURL: String
    private let headers: HTTPHeaders
    private let requestTimeout: TimeAmount

    /// - Parameters:
    ///   - baseURL: scheme, host and optional port, e.g. `https://api.promptlayer.com`.
    ///   - connections: the most connections kept open to the host (one per worker).
    ///   - certificateAuthoritiesFile: a PEM file of the authorities an `https` upstream's
    ///     certificate must chain to (`--upstream-ca-file`); `nil` trusts the system's roots.
    public init(
        baseURL: String,
        apiKey: APIKey,
        connections: Int,
        requestTimeout: Duration,
        certificateAuthoritiesFile: String? = nil,
        eventLoopGroup: any EventLoopGroup
    ) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: connections
        )
        // A refused or failed connection comes back as a failed attempt at once, for pltrackd's
        // own retry policy: left to the client, requests would wait out its hidden connection
        // backoff (up to a minute) and be late to notice that PromptLayer is back.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(10))
        configuration.httpVersion = .automatic
        if let certificateAuthoritiesFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificateAuthoritiesFile)
            configuration.tlsConfiguration = tls
        }
        self.client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.headers = [
            "X-API-KEY": apiKey.secret,
            "Content-Type": "application/json",
            "User-Agent": "pltrackd/\(PLTrackVersion.current)",
        ]
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    public func send(path: String, body: ByteBuffer) async -> UpstreamResponse {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = .POST
        request.headers = self.headers
        request.body = .bytes(body)
        do {
            let response = try await self.client.execute(request, timeout: self.requestTimeout)
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
            var kept = ByteBuffer()
            for try await part in response.body {
                let room = Self.maximumKeptBodyBytes - kept.readableBytes
                if room > 0 {
                    kept.writeImmutableBuffer(
                        part.getSlice(at: part.readerIndex, length: min(room, part.readableBytes)) ?? part)
                }
            }
            return .answered(status: Int(response.status.code), retryAfter: retryAfter, body: String(buffer: kept))
        } catch {
            return .failed(reason: String(describing: error))
        }
    }

    public func shutdown() async {
        try? await self.client.shutdown()
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
