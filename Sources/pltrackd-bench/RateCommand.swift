import ArgumentParser

/// `pltrackd-bench rate`: messages at a fixed rate, stamped with their send time.
struct RateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rate",
        abstract: "Send fire-and-forget messages at a fixed rate, each carrying its send time for the sink.",
        discussion: """
            Each message's prompt_input_variables.sent_ns holds CLOCK_MONOTONIC nanoseconds at \
            the time it was written; 'pltrackd-bench sink' subtracts it from the time the POST \
            arrives. Prints one JSON object.
            """
    )

    @OptionGroup var load: LoadOptions

    @Option(help: "Messages per second, over all connections.")
    var rate = 10_000

    @Option(help: "How long to send, in seconds.")
    var seconds = 10.0

    func validate() throws {
        guard self.rate >= 1, self.seconds > 0 else {
            throw ValidationError("--rate and --seconds must be more than 0")
        }
    }

    func run() async throws {
        try await self.load.perform(
            messages: Int(Double(self.rate) * self.seconds),
            pattern: .paced(messagesPerSecond: Double(self.rate) / Double(self.load.connections)))
    }
}
