import ArgumentParser
import PLTrack

/// `pltrackd`: the daemon and its two small clients.
@main
struct PLTrackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pltrackd",
        abstract: "A local sidecar that delivers PromptLayer tracking calls for apps in any language.",
        discussion: """
            Apps write length-prefixed JSON frames to a Unix socket; pltrackd validates them, \
            coalesces calls for the same request, and delivers them to the PromptLayer API through \
            a bounded pool of workers, retrying with backoff. Without an API key it appends every \
            call to a local outbox file instead. The wire protocol is described in protocol/SPEC.md.
            """,
        version: PLTrackVersion.current,
        subcommands: [RunCommand.self, CheckConfigCommand.self, StatsCommand.self, SendCommand.self],
        defaultSubcommand: RunCommand.self
    )
}
