import ArgumentParser
import NIOCore
import NIOPosix

/// `pltrackd-bench wait`: polls pltrackd's `stats` until a counter reaches a value.
struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Poll pltrackd's stats until a counter reaches a value; print it and the time as JSON.",
        discussion: """
            One connection, one stats frame per --interval-ms, so that the time a run ends is \
            known to about that much. With --at-least 0 it prints the counter once.
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
    var socket: String

    @Option(help: "A top-level or spool counter of the stats reply, e.g. accepted, delivered, fsyncs.")
    var counter = "delivered"

    @Option(help: "The value to wait for.")
    var atLeast: UInt64 = 0

    @Option(help: "Give up after this many seconds.")
    var timeout = 600.0

    @Option(help: "Milliseconds between polls.")
    var intervalMs = 10

    func run() async throws {
        let request = ByteBuffer(bytes: Self.frame(#"{"type":"stats","id":"bench-wait"}"#))
        let marker = Array("\"\(self.counter)\":".utf8)
        let deadline = Clocks.monotonicNanoseconds() + UInt64(self.timeout * 1e9)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: self.socket) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplyFrameDecoder()))
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
                last = reply.offset(after: marker).flatMap { reply.decimal(at: $0) }
                if let value = last, value >= self.atLeast {
                    return Result(counter: self.counter, value: value, finishedAt: Clocks.epochSeconds(), polls: polls)
                }
                try await Task.sleep(for: .milliseconds(self.intervalMs))
            }
            throw TimedOut(counter: self.counter, value: last, target: self.atLeast)
        }
        try Output.result(result)
    }

    /// `payload` with its 4-byte big-endian length in front.
    static func frame(_ payload: String) -> [UInt8] {
        let count = UInt32(payload.utf8.count)
        return [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
            + Array(payload.utf8)
    }
}
