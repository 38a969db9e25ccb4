import Foundation
import Glibc

/// A command run as a user runs it in a terminal window: `script(1)` gives it a
/// pseudo-terminal as its controlling terminal, and killing `script` closes that terminal the
/// way closing the window does (the kernel hangs it up and sends SIGHUP).
public final class TerminalSession: Sendable {
    private let script: ChildProcess.Running

    /// Starts `command` (the program and its arguments) in a new terminal.
    public init(_ command: [String], environment: [String: String]? = nil) throws {
        guard let script = BuildProducts.onPath("script") else {
            throw CocoaError(.executableNotLoadable)
        }
        let line = "exec " + command.map(Self.quoted).joined(separator: " ")
        self.script = try ChildProcess(
            script, ["--quiet", "--flush", "--command", line, "/dev/null"], environment: environment
        ).start()
    }

    /// The command's process id: the one child of `script`. Waits for it to appear; throws
    /// ``WaitTimedOut`` if it did not within a minute.
    public func commandPID() async throws -> Int32 {
        let children = "/proc/\(self.script.pid)/task/\(self.script.pid)/children"
        return try await waitFor(
            "a child of script(1), pid \(self.script.pid)", limit: .seconds(60), polling: .milliseconds(25)
        ) {
            let text = (try? String(contentsOfFile: children, encoding: .utf8)) ?? ""
            return text.split(separator: " ").first.flatMap { Int32($0) }
        }
    }

    /// Closes the terminal: `script` is killed, so the terminal's master side is closed.
    public func close() async {
        self.script.signal(SIGKILL)
        _ = await self.script.wait()
    }

    /// Closes the terminal without waiting, unless ``close()`` already did: for `defer`, so a
    /// test that throws leaves no terminal behind.
    public func hangUp() {
        self.script.killIfRunning()
    }

    /// Waits until process `pid` has exited (gone, or a zombie nobody has reaped yet); throws
    /// ``WaitTimedOut`` if it is still running after a minute.
    public static func waitUntilExited(_ pid: Int32) async throws {
        try await waitUntil("process \(pid) to exit", limit: .seconds(60), polling: .milliseconds(25)) {
            !Self.isRunning(pid)
        }
    }

    /// Kills process `pid` with SIGKILL unless it has exited: for `defer`, so a command that
    /// outlives its terminal in a failing test does not outlive the test.
    public static func killIfRunning(_ pid: Int32) {
        if Self.isRunning(pid) {
            kill(pid, SIGKILL)
        }
    }

    /// Whether process `pid` exists and is neither a zombie nor dead.
    private static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let state = stat.split(separator: ")").last?.split(separator: " ").first
        else {
            return false
        }
        return state != "Z" && state != "X"
    }

    private static func quoted(_ argument: String) -> String {
        "'" + argument.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
