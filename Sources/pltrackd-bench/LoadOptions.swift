import ArgumentParser
import NIOCore
import NIOPosix

/// Options every load-generating subcommand shares.
struct LoadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Unix socket of pltrackd or of syslog-ng's unix-stream() source.", valueName: "path"))
    var socket: String

    @Option(help: "Connections, sharing the messages evenly.")
    var connections = 16

    @Option(help: "frame: pltrackd's length-prefixed frames; syslog: one JSON object per line.")
    var framing = Framing.frame

    @Option(help: "Length of each JSON object, in bytes (the frame adds 4, a line 1).")
    var payloadBytes = 250

    @Option(help: "Request id of the first message (12 digits); a run's ids follow it, one per message.")
    var firstRequestID: UInt64 = MessageTemplate.defaultFirstRequestID

    @Option(help: "Event loop threads of the generator (the machine's cores are shared with the daemon).")
    var threads = 1

    func validate() throws {
        guard self.connections >= 1, self.threads >= 1, self.payloadBytes >= 1 else {
            throw ValidationError("--connections, --threads and --payload-bytes must be at least 1")
        }
        guard (100_000_000_000...899_999_999_999).contains(self.firstRequestID) else {
            throw ValidationError("--first-request-id must have 12 digits and leave room for the run")
        }
    }

    /// Runs `run` with the chosen options and prints its summary; fails when any message was
    /// answered with an error or was not sent.
    func perform(messages: Int, pattern: LoadPattern) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let run = LoadRun(
            socketPath: self.socket, connections: self.connections, messages: messages, framing: self.framing,
            pattern: pattern, payloadBytes: self.payloadBytes, firstRequestID: self.firstRequestID)
        let summary: LoadRun.Summary
        do {
            summary = try await run.run(group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        try Output.result(summary)
        guard summary.errors == 0, summary.sent == messages else {
            throw ValidationError(
                "\(summary.errors) error replies, \(summary.sent) of \(messages) sent; first error: \(summary.firstError ?? "none")"
            )
        }
    }
}
