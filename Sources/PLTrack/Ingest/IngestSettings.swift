/// What each connection needs to know about the daemon.
struct IngestSettings: Sendable {
    var maximumFrameLength: Int
    /// How long a `flush` without `timeout_ms` waits.
    var flushTimeout: Duration
    /// Builds the reply to a `stats` message.
    var statsReply: @Sendable (ReplyID?) -> Reply
}
