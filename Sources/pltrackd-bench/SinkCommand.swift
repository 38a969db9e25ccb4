import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `pltrackd-bench sink`: a small HTTP/1.1 server on loopback standing in for PromptLayer.
struct SinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Answer POST /rest/* with 200 {\"success\":true}, counting requests and end-to-end latency.",
        discussion: """
            A request whose body holds "sent_ns":"<digits>" (CLOCK_MONOTONIC nanoseconds, as \
            'pltrackd-bench rate' writes) adds the time from then to its arrival to an HDR \
            histogram. GET /bench/stats answers the count and percentiles as JSON; POST \
            /bench/reset clears them. With --hang, tracking requests are never answered: an \
            upstream that accepts connections and stalls. --delay-ms answers each tracking \
            request that much later (a distant PromptLayer); --rate-limit answers at most that \
            many per second and refuses the rest with 429 and Retry-After: 1. Runs until killed.
            """
    )

    @Option(help: "Port on 127.0.0.1; 0 picks a free one.")
    var port = 0

    @Option(help: ArgumentHelp("Write the bound port to this file once listening.", valueName: "path"))
    var portFile: String?

    @Option(help: "Event loop threads.")
    var threads = 1

    @Flag(help: "Never answer tracking requests (an upstream that hangs).")
    var hang = false

    @Option(help: "Answer each tracking request this many milliseconds after it arrived.")
    var delayMs = 0

    @Option(help: "Answer at most this many tracking requests per second; refuse the rest with 429.")
    var rateLimit: Int?

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, self.threads))
        let record = LatencyRecord()
        let answers = !self.hang
        let delay = TimeAmount.milliseconds(Int64(max(0, self.delayMs)))
        let rateLimit = self.rateLimit.map { RateLimit(perSecond: max(1, $0)) }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(
                        SinkHandler(record: record, answers: answers, delay: delay, rateLimit: rateLimit))
                }
            }
            .bind(host: "127.0.0.1", port: self.port)
            .get()
        let port = channel.localAddress?.port ?? self.port
        if let portFile {
            // Written whole and renamed, so a script polling for the file never reads half of it.
            try Data("\(port)\n".utf8).write(to: URL(fileURLWithPath: portFile), options: .atomic)
        }
        Output.note("sink listening on 127.0.0.1:\(port)\(self.hang ? " (hanging)" : "")")
        try await channel.closeFuture.get()
    }
}
