import ArgumentParser
import NIOCore
import NIOPosix

/// `pltrackd-bench wait`: polls a daemon's counter until it reaches a value: pltrackd's
/// `stats`, or syslog-ng's control socket, read the same way (``CounterSource``).
struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Poll a daemon's counter until it reaches a value; print it and the time as JSON.",
        discussion: """
            One connection, one query per --interval-ms, so that the time a run ends is known to \
            about that much. pltrackd is asked with a stats frame on --socket; syslog-ng, with \
            --syslog-ng-control, by QUERY GET_SUM on its control socket (what syslog-ng-ctl sends, \
            without a process per poll). With --at-least 0 it prints the counter once.
            """
    )

    /// What the wait found.
    struct Result: Encodable {
        var counter: String
        var value: UInt64
        /// `CLOCK_REALTIME` seconds when the counter was first seen at or above the value.
        var finishedAt: Double
        var polls: Int
    }

    /// The counter did not get there in time.
    struct TimedOut: Error, CustomStringConvertible {
        var counter: String
        var value: UInt64?
        var target: UInt64
        var description: String {
            "\(self.counter) reached \(self.value.map(String.init) ?? "nothing"), not \(self.target), before the timeout"
        }
    }

    @Option(help: ArgumentHelp("pltrackd's socket.", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("syslog-ng's control socket, instead of --socket.", valueName: "path"))
    var syslogNgControl: String?

    @Option(
        help: """
            pltrackd: a top-level or spool counter of the stats reply, e.g. accepted, delivered, \
            fsyncs. syslog-ng: a counter pattern, e.g. 'dst.file.*.written'.
            """)
    var counter = "delivered"

    @Option(help: "The value to wait for.")
    var atLeast: UInt64 = 0

    @Option(help: "Give up after this many seconds.")
    var timeout = 600.0

    @Option(help: "Milliseconds between polls.")
    var intervalMs = 10

    func validate() throws {
        guard (self.socket == nil) != (self.syslogNgControl == nil) else {
            throw ValidationError("give one of --socket (pltrackd) and --syslog-ng-control (syslog-ng)")
        }
    }

    func run() async throws {
        let source: CounterSource =
            self.syslogNgControl == nil ? .pltrackd(counter: self.counter) : .syslogNG(pattern: self.counter)
        let path = self.syslogNgControl ?? self.socket ?? ""
        let request = source.request
        let deadline = Clocks.monotonicNanoseconds() + UInt64(self.timeout * 1e9)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(source.makeDecoder())
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let result = try await channel.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var polls = 0
            var last: UInt64?
            while Clocks.monotonicNanoseconds() < deadline {
                try await outbound.write(request)
                polls += 1
                guard let reply = try await replies.next() else {
                    break
                }
                last = source.value(in: reply) ?? last
                if let value = last, value >= self.atLeast {
                    return Result(counter: source.name, value: value, finishedAt: Clocks.epochSeconds(), polls: polls)
                }
                try await Task.sleep(for: .milliseconds(self.intervalMs))
            }
            throw TimedOut(counter: source.name, value: last, target: self.atLeast)
        }
        try Output.result(result)
    }
}
