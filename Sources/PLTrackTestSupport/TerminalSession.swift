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

    /// The command's process id: the one child of `script`. Waits for it to appear.
    public func commandPID() async throws -> Int32 {
        let children = "/proc/\(self.script.pid)/task/\(self.script.pid)/children"
        for _ in 0..<400 {
            let text = (try? String(contentsOfFile: children, encoding: .utf8)) ?? ""
            if let pid = text.split(separator: " ").first.flatMap({ Int32($0) }) {
                return pid
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw CocoaError(.fileNoSuchFile)
    }

    /// Closes the terminal: `script` is killed, so the terminal's master side is closed.
    public func close() async {
        self.script.signal(SIGKILL)
        _ = await self.script.wait()
    }

    /// Waits until process `pid` has exited (gone, or a zombie nobody has reaped yet); throws
    /// if it is still running after a minute.
    public static func waitUntilExited(_ pid: Int32) async throws {
        for _ in 0..<2400 {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let state = stat.split(separator: ")").last?.split(separator: " ").first
            else {
                return
            }
            if state == "Z" || state == "X" {
                return
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw CocoaError(.executableLoad)
    }

    private static func quoted(_ argument: String) -> String {
        "'" + argument.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
