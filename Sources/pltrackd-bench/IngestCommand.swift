import ArgumentParser

/// `pltrackd-bench ingest`: a fixed number of messages as fast as the receiver takes them.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send messages as fast as the receiver takes them, fire-and-forget or acknowledged.",
        discussion: """
            Fire-and-forget (--in-flight 0) sends no ids; with pltrackd's framing each connection \
            ends with a ping, so the run ends when pltrackd has handled every message. \
            Acknowledged (--in-flight N) keeps N calls with an id unanswered per connection and \
            ends when every one is answered. Prints one JSON object.
            """
    )

    @OptionGroup var load: LoadOptions

    @Option(help: "Messages in all, over every connection.")
    var messages = 100_000

    @Option(help: "Unanswered calls with an id per connection; 0 sends without ids (fire-and-forget).")
    var inFlight = 0

    func validate() throws {
        guard self.messages >= 1, self.inFlight >= 0 else {
            throw ValidationError("--messages must be at least 1 and --in-flight at least 0")
        }
        guard self.inFlight == 0 || self.load.framing == .frame else {
            throw ValidationError("--in-flight needs --framing frame: only pltrackd acknowledges")
        }
    }

    func run() async throws {
        try await self.load.perform(
            messages: self.messages,
            pattern: self.inFlight == 0 ? .fireAndForget : .acknowledged(inFlight: self.inFlight))
    }
}
