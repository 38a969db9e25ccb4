import Logging

/// Everything the daemon is told, with the documented defaults. Built by the `pltrackd`
/// executable from its options and environment; plain data, so tests build it directly.
public struct DaemonConfiguration: Sendable {
    /// Where the daemon listens (`--socket`).
    public var socketPath: String
    /// Permission bits of the socket file (`--socket-mode`).
    public var socketMode: UInt32 = 0o660
    /// The largest frame payload, in bytes (`--max-frame-length`).
    public var maximumFrameLength = 1 << 20
    /// The most client connections served at once (`--max-connections`).
    public var maximumConnections = 1024
    /// Longest a client may take to finish a frame it started before its connection is closed.
    public var frameTimeout: Duration = .seconds(10)
    /// Longest a connection may stay silent, owed nothing, before it is closed; zero never closes it.
    public var idleTimeout: Duration = .seconds(600)
    /// Peers admitted by uid (`SO_PEERCRED`); `nil`, with ``allowedGIDs`` `nil` too, admits
    /// everyone the socket file's mode lets connect.
    public var allowedUIDs: [UInt32]?
    /// Peers admitted by primary gid.
    public var allowedGIDs: [UInt32]?
    /// How long a call may wait for a newer one for the same request (`--coalesce-window`).
    public var coalescingWindow: Duration = .milliseconds(50)
    /// The most requests on their way to PromptLayer at once (`--max-in-flight`, formerly
    /// `--workers`): the ceiling of the delivery governor's adaptive limit, which starts at 8.
    public var maximumInFlight = 512
    /// Connections that carry the requests as streams when PromptLayer speaks HTTP/2.
    public var http2Connections = 8
    /// The most calls held in the pipeline (`--queue-capacity`).
    public var queueCapacity = 100_000
    /// PromptLayer's base URL (`--upstream`, `PROMPTLAYER_BASE_URL`).
    public var upstreamURL = "https://api.promptlayer.com"
    /// The API key; without one, calls go to ``outboxPath``.
    public var apiKey: APIKey?
    /// The file the key is read from (`--api-key-file`), when one is named.
    public var apiKeyFile: String?
    /// PEM certificates that an `https` upstream's certificate must chain to
    /// (`--upstream-ca-file`); `nil` trusts the system's roots.
    public var upstreamCAFile: String?
    /// The HTTP proxy PromptLayer is reached through (`--proxy`, else `HTTPS_PROXY` or
    /// `HTTP_PROXY` by the upstream's scheme); `nil` connects directly.
    public var proxy: UpstreamProxy?
    /// Hosts reached without the proxy (`--no-proxy`, else `NO_PROXY`).
    public var noProxy = ProxyExclusions("")
    /// Where the key came from, for `check-config` and the startup log.
    public var apiKeySource = "none"
    /// Where calls go without an API key (`--outbox`).
    public var outboxPath = "pltrackd-outbox.jsonl"
    /// Where calls refused for good are written (`--dead-letter`).
    public var deadLetterPath = "pltrackd-dead-letters.jsonl"
    /// Retry backoff (`--retry-base`, `--retry-cap`).
    public var retryPolicy = RetryPolicy()
    /// How long one upstream request may take (`--request-timeout`).
    public var requestTimeout: Duration = .seconds(30)
    /// How long a `flush` without `timeout_ms` waits (`--flush-timeout`).
    public var flushTimeout: Duration = .seconds(30)
    /// How long a stop waits for held calls to be delivered (`--drain-timeout`).
    public var drainTimeout: Duration = .seconds(10)
    /// How long a call is retried before it is dead-lettered as `expired` (`--max-age`).
    public var maximumAge: Duration = .seconds(86_400)
    /// How long a call that names a ref waits for its `log.request` before it is dead-lettered
    /// as `unknown_ref`, and how long a ref is remembered after its log is answered (`--ref-ttl`).
    public var refTTL: Duration = .seconds(3_600)
    /// The bounds on calls waiting for a log and on remembered refs (`--ref-wait-max-calls`,
    /// `--ref-wait-max-bytes`, `--ref-max-known`).
    public var refLimits = RefLimits()
    /// Where accepted calls are kept until their outcome (`--spool-dir`, else
    /// `$STATE_DIRECTORY`); `nil` runs without a spool, and a stop loses what is undelivered.
    public var spoolDirectory: String?
    /// `off` runs without a spool even under systemd's `StateDirectory=` (`--spool`).
    public var spool = SpoolSwitch.on
    /// When the spool is flushed to disk, and so what `"ok": true` promises (`--fsync`).
    public var fsyncPolicy: FsyncPolicy = .always
    /// How often `--fsync interval` flushes (`--fsync-interval`).
    public var fsyncInterval: Duration = .milliseconds(100)
    /// The most bytes the spool may hold (`--spool-max-bytes`).
    public var spoolMaximumBytes = 1 << 30
    /// The least severe level logged (`--log-level`).
    public var logLevel: Logger.Level = .info

    public init(socketPath: String) {
        self.socketPath = socketPath
    }
}
