/// Whether the daemon is reading a connection, told by ``ConnectionHandler`` to the handlers
/// before it as an outbound user event, so that ``StalledFrameGuard`` does not count the time
/// the daemon itself held the client back (backpressure) against the client.
enum ReadingState: Sendable, Equatable {
    /// The daemon stopped reading: the client may not be able to send the rest of a frame.
    case stopped
    /// The daemon reads again.
    case resumed
}
