import ArgumentParser
import Foundation
import PLTrack

/// How the clients find the daemon.
struct ClientOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon's socket. Default: $PLTRACKD_SOCKET, else $XDG_RUNTIME_DIR/pltrackd.sock, else /run/pltrackd/pltrackd.sock.",
            valueName: "path"
        )
    )
    var socket: String?

    @Option(help: ArgumentHelp("Give up when the daemon has not answered within this time.", valueName: "duration"))
    var timeout = DurationArgument(.seconds(60))

    var socketPath: String {
        SocketLocation.clientPath(option: self.socket, environment: ProcessInfo.processInfo.environment)
    }

    /// Runs `exchange` with a connection to the daemon, failing with a clear error when the
    /// daemon does not finish answering within `--timeout`: a client never hangs.
    func withConnection<Result: Sendable>(
        _ exchange: @escaping @Sendable (FrameClient.Writer, FrameClient.Replies) async throws -> Result
    ) async throws -> Result {
        let path = self.socketPath
        let timeout = self.timeout.value
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await FrameClient.withConnection(to: path) { try await exchange($0, $1) }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw ValidationError(
                    "pltrackd at \(path) did not answer within \(HumanDuration.format(timeout)) (--timeout)")
            }
            return result
        }
    }
}
