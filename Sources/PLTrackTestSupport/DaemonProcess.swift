import Foundation
import Glibc

/// The `pltrackd` executable run as a child process with its own directory, socket and spool,
/// delivering to a ``FakeUpstream``: for tests that kill it, stop it and start it again.
public final class DaemonProcess: Sendable {
    public let directory: String
    public let socketPath: String
    public let spoolDirectory: String
    public let process: ChildProcess.Running

    /// Starts `pltrackd run` in `directory` (kept across restarts: socket, spool, key, dead
    /// letters) and returns once it answers a `ping`.
    public init(directory: String, upstream: FakeUpstream, arguments: [String] = []) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.socketPath = directory + "/pltrackd.sock"
        self.spoolDirectory = directory + "/spool"
        let keyFile = directory + "/api-key"
        _ = FileManager.default.createFile(
            atPath: keyFile, contents: Data(upstream.expectedAPIKey.utf8), attributes: [.posixPermissions: 0o600])
        var environment = ProcessInfo.processInfo.environment
        for name in ["PROMPTLAYER_API_KEY", "STATE_DIRECTORY", "NOTIFY_SOCKET", "LISTEN_FDS", "PLTRACKD_CONFIG"] {
            environment[name] = nil
        }
        let child = ChildProcess(
            BuildProducts.pltrackd,
            [
                "run", "--socket", self.socketPath, "--spool-dir", self.spoolDirectory,
                "--upstream", upstream.baseURL, "--api-key-file", keyFile,
                "--outbox", directory + "/outbox.jsonl", "--dead-letter", directory + "/dead-letters.jsonl",
                "--retry-base", "5ms", "--retry-cap", "50ms",
                // As in DaemonHarness: a timed-out request may have been taken and is sent again.
                "--request-timeout", "5m",
            ] + arguments,
            environment: environment,
            currentDirectory: directory
        )
        self.process = try child.start()
        try await TestClient.waitUntilServing(self.socketPath)
    }

    /// Kills the daemon with SIGKILL: no drain, no last flush.
    public func kill() async -> ChildProcess.Outcome {
        self.process.signal(SIGKILL)
        return await self.process.wait()
    }

    /// Stops the daemon with SIGTERM and waits for it to exit.
    public func stop() async -> ChildProcess.Outcome {
        self.process.signal(SIGTERM)
        return await self.process.wait()
    }

    /// Kills the daemon with SIGKILL unless it has exited: for `defer`, so a test that throws
    /// before ``stop()`` or ``kill()`` leaves no daemon behind.
    public func killIfRunning() {
        self.process.killIfRunning()
    }

    /// The daemon's resident memory, in KiB, from `/proc`.
    public var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(self.process.pid)/status", encoding: .utf8) else {
            return nil
        }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") }
    }
}
