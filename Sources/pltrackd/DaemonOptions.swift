import ArgumentParser
import Foundation
import PLTrack

/// The daemon's options as typed on the command line. Values stay text here: the library's
/// ``ConfigurationResolver`` reads flags, environment and file with one set of rules, so an
/// error reads the same wherever the value came from.
struct DaemonOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Configuration file (TOML key = value lines). Default: $PLTRACKD_CONFIG, else /etc/pltrackd/pltrackd.toml if it exists.",
            valueName: "path"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Unix socket to listen on when not socket-activated. Default: $XDG_RUNTIME_DIR/pltrackd.sock, else /run/pltrackd/pltrackd.sock.",
            valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Permission bits of the socket file, in octal. Default: 0660.", valueName: "mode"))
    var socketMode: String?

    @Option(
        help: ArgumentHelp(
            "Largest frame payload; a larger frame is answered frame_too_large and its connection closed. Default: 1MiB.",
            valueName: "size"))
    var maxFrameLength: String?

    @Option(
        help: ArgumentHelp(
            "Most client connections served at once; more are answered 'overloaded' and closed. Default: 1024.",
            valueName: "n"))
    var maxConnections: String?

    @Option(
        help: ArgumentHelp(
            "Longest a client may take to finish a frame it started; then it is answered 'timeout' and closed. Default: 10s.",
            valueName: "duration"))
    var frameTimeout: String?

    @Option(
        help: ArgumentHelp(
            "Close a connection whose client has sent nothing for this long and is owed no reply, or has read none of its replies for this long (its client reconnects when it next sends); 0 keeps idle connections open. Reloadable. Default: 10m.",
            valueName: "duration"))
    var idleTimeout: String?

    @Option(
        help: ArgumentHelp(
            "Admit only peers with this uid (checked per connection with SO_PEERCRED); repeatable or comma-separated. With neither --allow-uid nor --allow-gid, the socket file's mode alone decides. Reloadable.",
            valueName: "uid"))
    var allowUid: [String] = []

    @Option(
        help: ArgumentHelp(
            "Admit only peers whose primary group is this gid; repeatable or comma-separated. A peer on either list is admitted; others get 'forbidden'. Reloadable.",
            valueName: "gid"))
    var allowGid: [String] = []

    @Option(
        help: ArgumentHelp(
            "Longest a message waits for a newer one with the same request_id before dispatch (0 turns coalescing off). Default: 50ms.",
            valueName: "duration"))
    var coalesceWindow: String?

    @Option(
        help: ArgumentHelp(
            "Most requests on their way to PromptLayer at once: the ceiling of the adaptive limit, which starts at 8, grows while latency holds and shrinks when it rises or PromptLayer answers 429 or 503. Default: 512.",
            valueName: "n"))
    var maxInFlight: String?

    @Option(help: ArgumentHelp("The old name of --max-in-flight.", valueName: "n"))
    var workers: String?

    @Option(
        help: ArgumentHelp(
            "Most messages held in the pipeline; when full, pltrackd stops reading from the clients that send more. Default: 100000.",
            valueName: "n"))
    var queueCapacity: String?

    @Option(
        help: ArgumentHelp(
            "PromptLayer base URL. Default: $PROMPTLAYER_BASE_URL, else https://api.promptlayer.com.", valueName: "url")
    )
    var upstream: String?

    @Option(
        help: ArgumentHelp(
            "Connections to PromptLayer when it speaks HTTP/2 (offered over TLS, chosen by ALPN h2): each carries up to the server's limit of concurrent streams, so 8 carry the 512 requests --max-in-flight allows with 100 streams each. At least one per event-loop thread. Over HTTP/1.1 each request on its way has a keep-alive connection of its own instead. Default: 8.",
            valueName: "n"))
    var http2Connections: String?

    @Option(
        help: ArgumentHelp(
            "File holding the PromptLayer API key. Without it: the systemd credential promptlayer-api-key, else $PROMPTLAYER_API_KEY; without any key, calls go to the outbox.",
            valueName: "path"))
    var apiKeyFile: String?

    @Option(
        help: ArgumentHelp(
            "PEM file of the certificate authorities an https upstream's certificate must chain to, instead of the system's (for a private or test CA). Default: the system's trust store.",
            valueName: "path"))
    var upstreamCaFile: String?

    @Option(
        help: ArgumentHelp(
            "An HTTP proxy to reach PromptLayer through, as http://[user:password@]host:port: pltrackd asks it for a CONNECT tunnel, then speaks TLS to PromptLayer inside it. Default: $HTTPS_PROXY for an https upstream ($HTTP_PROXY for http); none without them. The password is sent only to the proxy, never logged.",
            valueName: "url"))
    var proxy: String?

    @Option(
        help: ArgumentHelp(
            "Hosts reached without the proxy: comma-separated names (each with its subdomains), IP addresses, or * for all. Default: $NO_PROXY.",
            valueName: "hosts"))
    var noProxy: String?

    @Option(
        help: ArgumentHelp(
            "Where calls are appended as JSON lines when no API key is configured. Default: pltrackd-outbox.jsonl.",
            valueName: "path"))
    var outbox: String?

    @Option(
        help: ArgumentHelp(
            "Where calls PromptLayer refused for good (4xx other than 408/429) are appended as JSON lines. Default: pltrackd-dead-letters.jsonl.",
            valueName: "path"))
    var deadLetter: String?

    @Option(
        help: ArgumentHelp(
            "Ceiling of the first retry backoff; it doubles per attempt, with full jitter. Default: 100ms.",
            valueName: "duration"))
    var retryBase: String?

    @Option(help: ArgumentHelp("Largest retry backoff. Default: 30s.", valueName: "duration"))
    var retryCap: String?

    @Option(
        help: ArgumentHelp(
            "Longest one upstream request may take before it is retried. Default: 30s.", valueName: "duration"))
    var requestTimeout: String?

    @Option(help: ArgumentHelp("How long a flush without timeout_ms waits. Default: 30s.", valueName: "duration"))
    var flushTimeout: String?

    @Option(
        help: ArgumentHelp(
            "On SIGTERM, how long to keep delivering held messages. Default: 10s.", valueName: "duration"))
    var drainTimeout: String?

    @Option(
        help: ArgumentHelp(
            "How long a message is retried before it is dead-lettered with the reason 'expired'. Default: 24h.",
            valueName: "duration"))
    var maxAge: String?

    @Option(
        help: ArgumentHelp(
            "How long a call with request_ref waits for the log.request with that ref before it is dead-lettered with the reason 'unknown_ref'; also how long a ref is remembered after PromptLayer answered its log. Default: 1h.",
            valueName: "duration"))
    var refTtl: String?

    @Option(
        help: ArgumentHelp(
            "The most calls with request_ref that wait for a log.request not yet sent; one more is dead-lettered with the reason 'ref_wait_full' (counted in stats 'refused'). Default: 100000.",
            valueName: "count"))
    var refWaitMaxCalls: String?

    @Option(
        help: ArgumentHelp(
            "The most bytes of such waiting calls, as for --ref-wait-max-calls. Default: 64MiB.", valueName: "size"))
    var refWaitMaxBytes: String?

    @Option(
        help: ArgumentHelp(
            "The most refs remembered with the id PromptLayer gave their log; past it the oldest is forgotten before --ref-ttl (stats 'refs_forgotten_early'), and a call naming it later waits for a log again. Default: 1000000.",
            valueName: "count"))
    var refMaxKnown: String?

    @Option(
        help: ArgumentHelp(
            "Directory of the spool, where every accepted message is kept until delivered or dead-lettered, so a crash or stop loses nothing. Default: $STATE_DIRECTORY (the unit's StateDirectory=, /var/lib/pltrackd); without either, no spool, and a stop loses what is undelivered.",
            valueName: "path"))
    var spoolDir: String?

    @Option(
        help: ArgumentHelp(
            "on, or off to run without a spool even under systemd, where it is on in $STATE_DIRECTORY: a stop or crash then loses what is undelivered. Default: on.",
            valueName: "on|off"))
    var spool: String?

    @Option(
        help: ArgumentHelp(
            "When the spool is flushed to disk: always (\"ok\" waits for the flush; group commit), interval (every --fsync-interval; a power failure can lose that window), never (the kernel decides). Default: always.",
            valueName: "policy"))
    var fsync: String?

    @Option(help: ArgumentHelp("How often --fsync interval flushes the spool. Default: 100ms.", valueName: "duration"))
    var fsyncInterval: String?

    @Option(
        help: ArgumentHelp(
            "Most bytes the spool may hold; when full, tracking calls are answered 'overloaded' (with an id) or not read (without). Default: 1GiB.",
            valueName: "size"))
    var spoolMaxBytes: String?

    @Option(
        help: ArgumentHelp(
            "Least severe log level written: trace, debug, info, notice, warning, error, critical. Default: info.",
            valueName: "level"))
    var logLevel: String?

    /// The flags given, by setting name.
    var flags: [String: String] {
        let given: [(String, String?)] = [
            ("socket", self.socket), ("socket-mode", self.socketMode), ("max-frame-length", self.maxFrameLength),
            ("max-connections", self.maxConnections), ("frame-timeout", self.frameTimeout),
            ("idle-timeout", self.idleTimeout),
            ("allow-uid", self.allowUid.isEmpty ? nil : self.allowUid.joined(separator: ",")),
            ("allow-gid", self.allowGid.isEmpty ? nil : self.allowGid.joined(separator: ",")),
            ("coalesce-window", self.coalesceWindow),
            ("max-in-flight", self.maxInFlight), ("workers", self.workers),
            ("queue-capacity", self.queueCapacity), ("upstream", self.upstream),
            ("http2-connections", self.http2Connections), ("api-key-file", self.apiKeyFile),
            ("upstream-ca-file", self.upstreamCaFile), ("proxy", self.proxy), ("no-proxy", self.noProxy),
            ("outbox", self.outbox), ("dead-letter", self.deadLetter), ("retry-base", self.retryBase),
            ("retry-cap", self.retryCap), ("request-timeout", self.requestTimeout),
            ("flush-timeout", self.flushTimeout),
            ("drain-timeout", self.drainTimeout), ("max-age", self.maxAge), ("ref-ttl", self.refTtl),
            ("ref-wait-max-calls", self.refWaitMaxCalls), ("ref-wait-max-bytes", self.refWaitMaxBytes),
            ("ref-max-known", self.refMaxKnown),
            ("spool-dir", self.spoolDir), ("spool", self.spool), ("fsync", self.fsync),
            ("fsync-interval", self.fsyncInterval),
            ("spool-max-bytes", self.spoolMaxBytes), ("log-level", self.logLevel),
        ]
        return Dictionary(uniqueKeysWithValues: given.compactMap { name, value in value.map { (name, $0) } })
    }

    /// The resolver for these flags and this process's environment.
    var resolver: ConfigurationResolver {
        ConfigurationResolver(
            flags: self.flags, environment: ProcessInfo.processInfo.environment, configPath: self.config)
    }
}
