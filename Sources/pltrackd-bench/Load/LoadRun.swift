import NIOCore
import NIOPosix

/// How each connection of a run sends.
enum LoadPattern: Sendable {
    /// As fast as the socket takes them, no replies asked for.
    case fireAndForget
    /// With an `id`, at most this many unanswered per connection.
    case acknowledged(inFlight: Int)
    /// At a fixed rate per connection, stamped with the send time.
    case paced(messagesPerSecond: Double)
}

/// One run of the generator: `connections` connections to one Unix socket sharing `messages`
/// messages, each with a distinct request id.
struct LoadRun: Sendable {
    var socketPath: String
    var connections: Int
    var messages: Int
    var framing: Framing
    var pattern: LoadPattern
    var payloadBytes: Int
    var firstRequestID: UInt64

    /// What the run did and how long it took, as the script reads it.
    struct Summary: Encodable {
        var mode: String
        var framing: Framing
        var connections: Int
        var inFlight: Int?
        var messages: Int
        var messageBytes: Int
        var sent: Int
        var acknowledged: Int
        var errors: Int
        var firstError: String?
        /// `CLOCK_REALTIME` seconds before the first connection was opened.
        var startedAt: Double
        /// `CLOCK_REALTIME` seconds when the last connection finished: for pltrackd's framing,
        /// when every connection's closing `ping` was answered.
        var finishedAt: Double
        var seconds: Double
        var messagesPerSecond: Double
        /// CPU the generator itself used; near `seconds` means it, not the daemon, was the limit.
        var generatorCPUSeconds: Double
        /// From a message's write to its reply, in microseconds (acknowledged runs).
        var replyLatency: ReplyLatency?
    }

    /// Percentiles of the reply latencies of a run, in microseconds.
    struct ReplyLatency: Encodable {
        var p50Us: Double
        var p99Us: Double
        var p999Us: Double
        var maxUs: Double

        init?(_ nanoseconds: [UInt64]) {
            guard !nanoseconds.isEmpty else {
                return nil
            }
            let sorted = nanoseconds.sorted()
            func at(_ quantile: Double) -> Double {
                let index = min(sorted.count - 1, Int((Double(sorted.count) * quantile).rounded(.up)) - 1)
                return Double(sorted[max(0, index)]) / 1000
            }
            self.p50Us = at(0.5)
            self.p99Us = at(0.99)
            self.p999Us = at(0.999)
            self.maxUs = at(1)
        }
    }

    func run(group: any EventLoopGroup) async throws -> Summary {
        let acknowledged: Bool
        if case .acknowledged = self.pattern { acknowledged = true } else { acknowledged = false }
        let template = MessageTemplate(
            framing: self.framing, payloadBytes: self.payloadBytes, acknowledged: acknowledged,
            firstRequestID: self.firstRequestID)
        let cpuBefore = Clocks.processCPUSeconds()
        let startedAt = Clocks.epochSeconds()
        let started = Clocks.monotonicNanoseconds()
        var channels: [any Channel] = []
        var outcomes: [EventLoopFuture<ConnectionReport>] = []
        for connection in 0..<self.connections {
            let range = self.range(of: connection)
            guard !range.isEmpty else {
                continue
            }
            let done = group.next().makePromise(of: ConnectionReport.self)
            let channel = try await self.connect(group: group, template: template, range: range, done: done)
            channels.append(channel)
            outcomes.append(done.futureResult)
        }
        var total = ConnectionReport()
        for outcome in outcomes {
            let report = try await outcome.get()
            total.sent += report.sent
            total.acknowledged += report.acknowledged
            total.errors += report.errors
            total.firstError = total.firstError ?? report.firstError
            total.latencies += report.latencies
        }
        let seconds = Double(Clocks.monotonicNanoseconds() - started) / 1e9
        let finishedAt = Clocks.epochSeconds()
        for channel in channels {
            try? await channel.close()
        }
        return Summary(
            mode: self.modeName, framing: self.framing, connections: self.connections, inFlight: self.inFlight,
            messages: self.messages, messageBytes: template.size, sent: total.sent, acknowledged: total.acknowledged,
            errors: total.errors, firstError: total.firstError, startedAt: startedAt, finishedAt: finishedAt,
            seconds: seconds, messagesPerSecond: Double(total.sent) / seconds,
            generatorCPUSeconds: Clocks.processCPUSeconds() - cpuBefore, replyLatency: ReplyLatency(total.latencies))
    }

    /// The message indices connection `index` sends: an even share of the run.
    private func range(of index: Int) -> Range<UInt64> {
        UInt64(self.messages * index / self.connections)..<UInt64(self.messages * (index + 1) / self.connections)
    }

    private func connect(
        group: any EventLoopGroup, template: MessageTemplate, range: Range<UInt64>,
        done: EventLoopPromise<ConnectionReport>
    ) async throws -> any Channel {
        let pattern = self.pattern
        let framing = self.framing
        return try await ClientBootstrap(group: group)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler: any ChannelHandler =
                        switch pattern {
                        case .fireAndForget:
                            FireAndForgetHandler(template: template, framing: framing, range: range, done: done)
                        case .acknowledged(let inFlight):
                            AcknowledgedHandler(template: template, inFlight: inFlight, range: range, done: done)
                        case .paced(let rate):
                            PacedHandler(
                                template: template, framing: framing, messagesPerSecond: rate, range: range,
                                done: done)
                        }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplyFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(unixDomainSocketPath: self.socketPath)
            .get()
    }

    private var modeName: String {
        switch self.pattern {
        case .fireAndForget: "fire-and-forget"
        case .acknowledged: "acknowledged"
        case .paced: "paced"
        }
    }

    private var inFlight: Int? {
        if case .acknowledged(let inFlight) = self.pattern { inFlight } else { nil }
    }
}
