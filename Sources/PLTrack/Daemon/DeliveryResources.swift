import Logging
import NIOCore

/// The upstream and the dead-letter file, chosen by whether an API key is configured.
struct DeliveryResources {
    let upstream: any Upstream
    let deadLetters: DeadLetters
    /// One line for the startup log.
    let summary: String

    init(
        configuration: DaemonConfiguration, group: any EventLoopGroup, stats: DaemonStats, logger: Logger,
        onProxyTunnel: @escaping @Sendable (String?) -> Void = { _ in }
    ) throws {
        // With `--fsync always` a final outcome is as durable as the acceptance was.
        let synchronous = configuration.spoolDirectory != nil && configuration.fsyncPolicy == .always
        self.deadLetters = DeadLetters(
            file: try JSONLinesFile(path: configuration.deadLetterPath, mode: 0o600, synchronous: synchronous))
        if let key = configuration.apiKey {
            self.upstream = try HTTPUpstream(
                baseURL: configuration.upstreamURL,
                apiKey: key,
                connections: configuration.maximumInFlight,
                http2Connections: configuration.http2Connections,
                requestTimeout: configuration.requestTimeout,
                certificateAuthoritiesFile: configuration.upstreamCAFile,
                eventLoopGroup: group,
                proxy: configuration.proxy,
                noProxy: configuration.noProxy,
                events: HTTPUpstream.Events(
                    onResent: { stats.unprocessedRequestResent(staleConnection: $0) },
                    onProxyTunnel: onProxyTunnel,
                    onOpened: { stats.upstreamConnectionOpened(http2: $0) }
                )
            )
            let direct = configuration.proxy == nil || (self.upstream as? HTTPUpstream)?.isDirect == true
            self.summary =
                direct
                ? "\(configuration.upstreamURL)"
                : "\(configuration.upstreamURL) through the proxy \(configuration.proxy?.display ?? "")"
        } else {
            self.upstream = OutboxUpstream(
                file: try JSONLinesFile(path: configuration.outboxPath, synchronous: synchronous))
            self.summary = "outbox \(configuration.outboxPath)"
            logger.notice(
                "no API key configured (PROMPTLAYER_API_KEY or --api-key-file): nothing is sent to PromptLayer; every call is appended to the outbox",
                metadata: ["outbox": "\(configuration.outboxPath)"]
            )
        }
    }

    func close() async {
        await self.upstream.shutdown()
        self.deadLetters.close()
    }
}
