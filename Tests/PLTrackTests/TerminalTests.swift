import Foundation
import Glibc
import PLTrackTestSupport
import Testing

/// What the daemon does when the terminal it runs in, or the reader of its log, goes away: it
/// stops as on SIGTERM (delivers what it holds, removes its socket). A SIGHUP with the
/// terminal still there reloads, as it does under systemd.
@Suite(.enabled(if: BuildProducts.onPath("script") != nil, "needs script(1) for a terminal (Debian package bsdutils)"))
struct TerminalTests {
    /// A directory with a socket and an outbox; the coalescing window is long, so a call is
    /// still held when the daemon is stopped and reaches the outbox only through the drain.
    struct Setup {
        let directory = "/tmp/pltrackd-tty-\(UUID().uuidString.prefix(8))"
        var socket: String { self.directory + "/pltrackd.sock" }
        var outbox: String { self.directory + "/outbox.jsonl" }

        var command: [String] {
            [
                BuildProducts.pltrackd, "run", "--socket", self.socket, "--outbox", self.outbox,
                "--dead-letter", self.directory + "/dead-letters.jsonl", "--coalesce-window", "10m",
            ]
        }

        var environment: [String: String] {
            var environment = ProcessInfo.processInfo.environment
            for name in [
                "PROMPTLAYER_API_KEY", "STATE_DIRECTORY", "NOTIFY_SOCKET", "LISTEN_FDS", "JOURNAL_STREAM",
                "PLTRACKD_CONFIG",
            ] {
                environment[name] = nil
            }
            return environment
        }

        init() throws {
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        }

        /// Sends one acknowledged call and checks it was accepted.
        func track(_ requestID: Int) async throws {
            let reply = try await TestClient.connect(to: self.socket) {
                try await $0.request(
                    #"{"type":"track.prompt","id":1,"prompt_name":"tty","request_id":\#(requestID)}"#)
            }
            #expect(reply?["ok"] == .bool(true))
        }

        var outboxLines: [String] {
            let text = (try? String(contentsOfFile: self.outbox, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map(String.init)
        }
    }

    @Test func closingTheTerminalStopsTheDaemonAsSIGTERMDoes() async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        let terminal = try TerminalSession(setup.command, environment: setup.environment)
        defer { terminal.hangUp() }
        let pid = try await terminal.commandPID()
        defer { TerminalSession.killIfRunning(pid) }
        try await TestClient.waitUntilServing(setup.socket)
        try await setup.track(1)

        // With the terminal open, SIGHUP is a reload: the daemon keeps serving and holding.
        kill(pid, SIGHUP)
        try await setup.track(2)
        #expect(setup.outboxLines.isEmpty)

        await terminal.close()
        try await TerminalSession.waitUntilExited(pid)
        #expect(!FileManager.default.fileExists(atPath: setup.socket), "the socket file was left behind")
        let lines = setup.outboxLines
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.allSatisfy { $0.contains(#""prompt_name":"tty""#) })
    }

    @Test func losingTheReaderOfStandardErrorStopsTheDaemonCleanly() async throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: setup.command[0])
        process.arguments = Array(setup.command.dropFirst())
        process.environment = setup.environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let log = Pipe()
        process.standardError = log
        let (exited, exit) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished in
            exit.yield(finished.terminationStatus)
            exit.finish()
        }
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
        }
        try await TestClient.waitUntilServing(setup.socket)
        try await setup.track(3)

        // Nobody reads the log any more: the reload's log line fails with EPIPE.
        try log.fileHandleForReading.close()
        kill(process.processIdentifier, SIGHUP)
        let status = await exited.first { _ in true }
        #expect(status == 0)
        #expect(!FileManager.default.fileExists(atPath: setup.socket), "the socket file was left behind")
        let lines = setup.outboxLines
        #expect(lines.count == 1, "\(lines)")
    }
}
