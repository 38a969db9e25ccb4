import Logging

/// Every option of the daemon, in the order `--help` and `check-config` show them.
public enum Settings {
    public static let all: [Setting] = [
        .text("socket", \.socketPath, reloadable: false),
        Setting(name: "socket-mode", aliases: [], isReloadable: false) { text, configuration in
            guard let mode = UInt32(text, radix: 8), mode <= 0o777 else {
                return "\"\(text)\" is not permission bits in octal, like 0660"
            }
            configuration.socketMode = mode
            return nil
        } show: {
            "0" + String($0.socketMode, radix: 8)
        },
        .size("max-frame-length", \.maximumFrameLength, in: 1...Int(UInt32.max), reloadable: false),
        .integer("max-connections", \.maximumConnections, in: 1...1_000_000, reloadable: true),
        .duration("frame-timeout", \.frameTimeout, reloadable: true),
        .duration("idle-timeout", \.idleTimeout, allowsZero: true, reloadable: true),
        .idList("allow-uid", \.allowedUIDs, reloadable: true),
        .idList("allow-gid", \.allowedGIDs, reloadable: true),
        .duration("coalesce-window", \.coalescingWindow, allowsZero: true, reloadable: true),
        .integer("max-in-flight", \.maximumInFlight, in: 1...1024, reloadable: false),
        // The old name of max-in-flight, so that configuration files written for it keep working.
        .integer("workers", \.maximumInFlight, in: 1...1024, reloadable: false),
        .integer("queue-capacity", \.queueCapacity, in: 1...100_000_000, reloadable: true),
        .text("upstream", \.upstreamURL, aliases: ["PROMPTLAYER_BASE_URL"], reloadable: false) { text in
            text.hasPrefix("http://") || text.hasPrefix("https://") ? nil : "must start with http:// or https://"
        },
        .integer("http2-connections", \.http2Connections, in: 1...64, reloadable: false),
        .optionalPath("api-key-file", \.apiKeyFile, reloadable: false),
        Setting(name: "proxy", aliases: [], isReloadable: false) { text, configuration in
            switch UpstreamProxy.parse(text) {
            case .success(let proxy):
                configuration.proxy = proxy
                return nil
            case .failure(let problem):
                // The text is not repeated: it may hold a password.
                return problem.message
            }
        } show: {
            $0.proxy?.display
        },
        Setting(name: "no-proxy", aliases: ["NO_PROXY", "no_proxy"], isReloadable: false) { text, configuration in
            configuration.noProxy = ProxyExclusions(text)
            return nil
        } show: {
            $0.noProxy.entries.isEmpty ? nil : $0.noProxy.entries.joined(separator: ",")
        },
        .optionalPath(
            "upstream-ca-file", \.upstreamCAFile, reloadable: false,
            problem: "must not be empty; leave it unset to trust the system's certificate authorities"),
        .text("outbox", \.outboxPath, reloadable: false),
        .text("dead-letter", \.deadLetterPath, reloadable: false),
        .duration("retry-base", \.retryPolicy.base, reloadable: true),
        .duration("retry-cap", \.retryPolicy.cap, reloadable: true),
        .duration("request-timeout", \.requestTimeout, reloadable: false),
        .duration("flush-timeout", \.flushTimeout, reloadable: true),
        .duration("drain-timeout", \.drainTimeout, allowsZero: true, reloadable: true),
        .duration("max-age", \.maximumAge, reloadable: true),
        .duration("ref-ttl", \.refTTL, reloadable: false),
        .integer("ref-wait-max-calls", \.refLimits.waitingCalls, in: 1...100_000_000, reloadable: false),
        .size("ref-wait-max-bytes", \.refLimits.waitingBytes, in: 1...(1 << 40), reloadable: false),
        .integer("ref-max-known", \.refLimits.knownRefs, in: 1...100_000_000, reloadable: false),
        // A relative spool directory is taken from the working directory, as the outbox is.
        .optionalPath(
            "spool-dir", \.spoolDirectory, reloadable: false,
            problem: "must not be empty; leave it unset to run without a spool"),
        Setting(name: "spool", aliases: [], isReloadable: false) { text, configuration in
            // The file's booleans too: `spool = false` reads as well as `spool = "off"`.
            switch text {
            case "on", "true": configuration.spool = .on
            case "off", "false": configuration.spool = .off
            default: return "\"\(text)\" is not on or off"
            }
            return nil
        } show: {
            $0.spool.rawValue
        },
        .choice("fsync", \.fsyncPolicy, reloadable: false),
        .duration("fsync-interval", \.fsyncInterval, reloadable: false),
        .size("spool-max-bytes", \.spoolMaximumBytes, in: (1 << 20)...(1 << 50), reloadable: false),
        .choice("log-level", \.logLevel, reloadable: true),
    ]

    /// The setting called `name` (flag name, file key or either spelling).
    public static func named(_ name: String) -> Setting? {
        let normalized = name.replacingDashes(with: "-").replacingOccurrencesOfUnderscores()
        return Self.all.first { $0.name == normalized }
    }
}

extension String {
    fileprivate func replacingOccurrencesOfUnderscores() -> String {
        String(self.map { $0 == "_" ? "-" : $0 })
    }
}
