/// What each connection needs to know about the daemon.
struct IngestSettings: Sendable {
    var maximumFrameLength: Int
    /// What the listening socket serves.
    var role: ListenerRole
    /// The reloadable settings (flush timeout, connection limit).
    var live: LiveConfiguration
    /// Builds the reply to a `stats` message.
    var statsReply: @Sendable (ReplyID?, StatsFormat) -> Reply
}
