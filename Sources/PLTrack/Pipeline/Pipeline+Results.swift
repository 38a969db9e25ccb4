import NIOCore

/// What the pipeline answers a connection: how a submitted call was received, and how a
/// `flush` ended.
extension Pipeline {
    /// How a submitted call was received.
    public enum SubmitResult: Sendable, Equatable {
        /// Taken, as call number `sequence`; see ``whenDurable(from:through:on:)``.
        case accepted(sequence: UInt64)
        /// The memory queue is full (no spool): stop reading until there is room.
        case full
        /// The spool holds `--spool-max-bytes`.
        case spoolFull
        case shuttingDown

        /// The refusal for a call the state machine has no place for.
        init(refusedAs admission: PipelineStateMachine.Admission) {
            switch admission {
            case .full: self = .full
            case .spoolFull: self = .spoolFull
            case .shuttingDown, .memory, .backlog: self = .shuttingDown
            }
        }

        /// Whether the connection that sent `message` must stop reading until there is room:
        /// the queue is full, or the spool is and the client asked for no reply (one that did
        /// is answered `overloaded` instead).
        public func makesTheConnectionWait(for message: TrackMessage) -> Bool {
            switch self {
            case .full: true
            case .spoolFull: message.replyID == nil
            case .accepted, .shuttingDown: false
            }
        }
    }

    /// How a flush ended.
    public enum FlushResult: Sendable, Equatable {
        case flushed
        case timedOut
    }
}
