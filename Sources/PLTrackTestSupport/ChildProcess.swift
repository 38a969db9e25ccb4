import Foundation
import Glibc

/// Runs a program to completion without blocking a Swift concurrency thread, capturing its
/// output in files (so a chatty child can never fill a pipe and stall).
public struct ChildProcess: Sendable {
    /// How a child ended.
    public struct Outcome: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]?
    public var currentDirectory: String?
    /// Sets `JOURNAL_STREAM` to the device and inode of the child's standard error, as
    /// systemd does when standard error is connected to the journal.
    public var standardErrorIsJournal = false

    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    /// Starts the child; `run()` on the result waits for it.
    public func start() throws -> Running {
        try Running(self)
    }

    /// Runs the child and waits for it to exit.
    public func run() async throws -> Outcome {
        try await self.start().wait()
    }

    /// A started child.
    public final class Running: Sendable {
        /// `environment` (the test's own when `nil`), with `PLTRACKD_CHILD_ASAN_OPTIONS` as the
        /// child's `ASAN_OPTIONS` when set: scripts/sanitize.sh checks the daemons for leaks at
        /// exit, but not the test runner, whose leaks are Foundation's and XCTest's.
        static func sanitizerEnvironment(_ environment: [String: String]?) -> [String: String]? {
            guard let options = ProcessInfo.processInfo.environment["PLTRACKD_CHILD_ASAN_OPTIONS"] else {
                return environment
            }
            var environment = environment ?? ProcessInfo.processInfo.environment
            environment["ASAN_OPTIONS"] = options
            return environment
        }

        private let process: Process
        private let outputPath: String
        private let errorPath: String
        private let exited: Task<Int32, Never>

        init(_ child: ChildProcess) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: child.executable)
            process.arguments = child.arguments
            process.environment = Self.sanitizerEnvironment(child.environment)
            if let directory = child.currentDirectory {
                process.currentDirectoryURL = URL(fileURLWithPath: directory)
            }
            let base = NSTemporaryDirectory() + "pltrackd-child-\(UUID().uuidString)"
            self.outputPath = base + ".out"
            self.errorPath = base + ".err"
            _ = FileManager.default.createFile(atPath: self.outputPath, contents: nil)
            _ = FileManager.default.createFile(atPath: self.errorPath, contents: nil)
            if child.standardErrorIsJournal {
                var status = stat()
                _ = stat(self.errorPath, &status)
                var environment = Self.sanitizerEnvironment(child.environment) ?? ProcessInfo.processInfo.environment
                environment["JOURNAL_STREAM"] = "\(status.st_dev):\(status.st_ino)"
                process.environment = environment
            }
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: self.outputPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: self.errorPath))
            process.standardInput = FileHandle.nullDevice
            let (stream, continuation) = AsyncStream<Int32>.makeStream()
            process.terminationHandler = { finished in
                continuation.yield(finished.terminationStatus)
                continuation.finish()
            }
            try process.run()
            self.process = process
            self.exited = Task { await stream.first { _ in true } ?? -1 }
        }

        /// The child's process id.
        public var pid: Int32 { self.process.processIdentifier }

        /// Sends `signal` to the child.
        public func signal(_ signal: Int32) {
            kill(self.process.processIdentifier, signal)
        }

        /// Kills the child with SIGKILL unless it has exited, and removes its captured output:
        /// for `defer`, so a test that throws before it stops the child leaves no process behind.
        /// Foundation reaps the killed child.
        public func killIfRunning() {
            guard self.process.isRunning else {
                return
            }
            kill(self.process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(atPath: self.outputPath)
            try? FileManager.default.removeItem(atPath: self.errorPath)
        }

        /// Waits for the child to exit and returns what it wrote.
        public func wait() async -> Outcome {
            let status = await self.exited.value
            defer {
                try? FileManager.default.removeItem(atPath: self.outputPath)
                try? FileManager.default.removeItem(atPath: self.errorPath)
            }
            return Outcome(
                status: status,
                standardOutput: (try? String(contentsOfFile: self.outputPath, encoding: .utf8)) ?? "",
                standardError: (try? String(contentsOfFile: self.errorPath, encoding: .utf8)) ?? ""
            )
        }
    }
}

/// Paths of the package and its build products, for tests that run programs.
public enum BuildProducts {
    /// The package root.
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The built `pltrackd` executable, beside the test bundle.
    public static var pltrackd: String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("pltrackd").path
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/pltrackd").path
    }

    /// The first of `names` found on `PATH`.
    public static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}
