import Foundation
import Logging
import PLTrack
import ServiceLifecycle

/// Runs a real ``Daemon`` in-process on a socket in a fresh temporary directory, for
/// end-to-end tests over a real Unix socket.
public final class DaemonHarness: Sendable {
    public let directory: URL
    public let daemon: Daemon
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts the daemon; `configure` adjusts the configuration (the socket and files are preset
    /// inside the temporary directory, the key and upstream are unset).
    public init(
        logLevel: Logger.Level = .warning,
        configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent(
            "pltrackd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = DaemonConfiguration(socketPath: directory.appendingPathComponent("pltrackd.sock").path)
        configuration.outboxPath = directory.appendingPathComponent("outbox.jsonl").path
        configuration.deadLetterPath = directory.appendingPathComponent("dead-letters.jsonl").path
        configure(&configuration)
        var logger = Logger(label: "pltrackd-test")
        logger.logLevel = logLevel
        let daemon = try Daemon(configuration: configuration, logger: logger, environment: [:])
        let group = ServiceGroup(configuration: .init(services: [.init(service: daemon)], logger: logger))
        self.directory = directory
        self.daemon = daemon
        self.group = group
        self.task = Task { try await group.run() }
        try await daemon.waitUntilReady()
    }

    /// Starts a daemon that delivers to `upstream` with the key it expects.
    public convenience init(
        upstream: FakeUpstream,
        configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws {
        try await self.init { configuration in
            configuration.apiKey = APIKey(upstream.expectedAPIKey)
            configuration.upstreamURL = upstream.baseURL
            configuration.retryPolicy = RetryPolicy(base: .milliseconds(5), cap: .milliseconds(50))
            // A request that times out may have been taken, and is sent again: on a slow, loaded
            // machine (the sanitized suites) 30 s is not a bound on the stand-in server's answer,
            // and a test counting arrivals would count a machine's speed.
            configuration.requestTimeout = .seconds(300)
            configure(&configuration)
        }
    }

    public var socketPath: String { self.daemon.configuration.socketPath }

    /// Gracefully stops the daemon and waits for it to exit.
    public func stop() async throws {
        await self.group.triggerGracefulShutdown()
        try await self.task.value
    }

    /// Cancels the daemon unless ``stop()`` already stopped it, and removes the temporary
    /// directory: for `defer`, so a test that throws leaves no daemon serving. (Cancelling its
    /// service group stops the daemon without waiting for it; ``stop()`` is the graceful way.)
    public func tearDown() {
        self.task.cancel()
        self.removeFiles()
    }

    /// Removes the temporary directory.
    public func removeFiles() {
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// The lines of a JSON-lines file in the directory, parsed.
    public func jsonLines(_ path: String) throws -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else {
            return []
        }
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONValue.parse($0) }
    }
}
