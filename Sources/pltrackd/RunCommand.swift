import ArgumentParser
import Foundation
import Logging
import PLTrack
import ServiceLifecycle
import UnixSignals

/// `pltrackd run` (the default): the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon (the default when no subcommand is given).",
        discussion: """
            Environment: PROMPTLAYER_API_KEY (the API key, unless --api-key-file is given), \
            PROMPTLAYER_BASE_URL (unless --upstream is given), XDG_RUNTIME_DIR (for the default \
            socket path). Durations read like 50ms, 10s, 2m; sizes like 512KiB, 1MiB. \
            SIGTERM or SIGINT stops the daemon gracefully.
            """
    )

    @Option(
        help: ArgumentHelp(
            "Unix socket to listen on. Default: $XDG_RUNTIME_DIR/pltrackd.sock, else /run/pltrackd/pltrackd.sock.",
            valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Permission bits of the socket file, in octal.", valueName: "mode"))
    var socketMode = FileModeArgument(0o660)

    @Option(
        help: ArgumentHelp("Largest frame payload accepted; a larger frame closes the connection.", valueName: "size"))
    var maxFrameLength = ByteSizeArgument(1 << 20)

    @Option(
        help: ArgumentHelp(
            "Most client connections served at once; more are answered 'overloaded' and closed.", valueName: "n"))
    var maxConnections = 1024

    @Option(
        help: ArgumentHelp(
            "Longest a message waits for a newer one with the same request_id before dispatch (0 turns coalescing off).",
            valueName: "duration"))
    var coalesceWindow = DurationArgument(.milliseconds(50))

    @Option(help: ArgumentHelp("Concurrent upstream requests.", valueName: "n"))
    var workers = 8

    @Option(
        help: ArgumentHelp(
            "Most messages held in the pipeline; when full, pltrackd stops reading from clients.", valueName: "n"))
    var queueCapacity = 100_000

    @Option(
        help: ArgumentHelp(
            "PromptLayer base URL. Default: $PROMPTLAYER_BASE_URL, else https://api.promptlayer.com.", valueName: "url")
    )
    var upstream: String?

    @Option(
        help: ArgumentHelp(
            "File holding the PromptLayer API key (overrides $PROMPTLAYER_API_KEY). Without a key, calls go to the outbox.",
            valueName: "path"))
    var apiKeyFile: String?

    @Option(
        help: ArgumentHelp("Where calls are appended as JSON lines when no API key is configured.", valueName: "path"))
    var outbox = "pltrackd-outbox.jsonl"

    @Option(
        help: ArgumentHelp(
            "Where calls PromptLayer refused for good (4xx other than 408/429) are appended as JSON lines.",
            valueName: "path"))
    var deadLetter = "pltrackd-dead-letters.jsonl"

    @Option(
        help: ArgumentHelp(
            "Ceiling of the first retry backoff; it doubles per attempt, with full jitter.", valueName: "duration"))
    var retryBase = DurationArgument(.milliseconds(100))

    @Option(help: ArgumentHelp("Largest retry backoff.", valueName: "duration"))
    var retryCap = DurationArgument(.seconds(30))

    @Option(help: ArgumentHelp("Longest one upstream request may take before it is retried.", valueName: "duration"))
    var requestTimeout = DurationArgument(.seconds(30))

    @Option(help: ArgumentHelp("How long a flush without timeout_ms waits.", valueName: "duration"))
    var flushTimeout = DurationArgument(.seconds(30))

    @Option(
        help: ArgumentHelp("On SIGTERM, how long to wait for held messages to be delivered.", valueName: "duration"))
    var drainTimeout = DurationArgument(.seconds(10))

    @Option(
        help: ArgumentHelp(
            "Least severe log level written: trace, debug, info, notice, warning, error, critical.", valueName: "level")
    )
    var logLevel: Logger.Level = .info

    func validate() throws {
        try Self.require(
            self.maxFrameLength.value >= 1 && self.maxFrameLength.value <= Int(UInt32.max), "--max-frame-length",
            "must be from 1 byte to 4GiB")
        try Self.require(self.maxConnections >= 1, "--max-connections", "must be at least 1")
        try Self.require((1...1024).contains(self.workers), "--workers", "must be from 1 to 1024")
        try Self.require(self.queueCapacity >= 1, "--queue-capacity", "must be at least 1")
        try Self.require(self.retryBase.value > .zero, "--retry-base", "must be more than 0")
        try Self.require(
            self.retryCap.value >= self.retryBase.value, "--retry-cap", "must be at least --retry-base")
        try Self.require(self.requestTimeout.value > .zero, "--request-timeout", "must be more than 0")
        try Self.require(self.flushTimeout.value > .zero, "--flush-timeout", "must be more than 0")
        if let upstream {
            try Self.require(
                upstream.hasPrefix("http://") || upstream.hasPrefix("https://"), "--upstream",
                "must start with http:// or https://")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = self.logLevel
            return handler
        }
        let logger = Logger(label: "pltrackd")
        let daemon = Daemon(configuration: try self.daemonConfiguration(), logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    private func daemonConfiguration() throws -> DaemonConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var configuration = DaemonConfiguration(
            socketPath: self.socket ?? SocketLocation.daemonDefault(environment: environment))
        configuration.socketMode = self.socketMode.value
        configuration.maximumFrameLength = self.maxFrameLength.value
        configuration.maximumConnections = self.maxConnections
        configuration.coalescingWindow = self.coalesceWindow.value
        configuration.workers = self.workers
        configuration.queueCapacity = self.queueCapacity
        configuration.upstreamURL =
            self.upstream ?? environment["PROMPTLAYER_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? configuration.upstreamURL
        configuration.apiKey = try APIKeySource.load(file: self.apiKeyFile, environment: environment)
        configuration.outboxPath = self.outbox
        configuration.deadLetterPath = self.deadLetter
        configuration.retryPolicy = RetryPolicy(base: self.retryBase.value, cap: self.retryCap.value)
        configuration.requestTimeout = self.requestTimeout.value
        configuration.flushTimeout = self.flushTimeout.value
        configuration.drainTimeout = self.drainTimeout.value
        return configuration
    }

    private static func require(_ condition: Bool, _ option: String, _ rule: String) throws {
        if !condition {
            throw ValidationError("\(option) \(rule)")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
