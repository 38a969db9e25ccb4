import NIOCore

/// What the events of ``PipelineStateMachine`` answer, besides ``PipelineEffects``.
extension PipelineStateMachine {
    /// Where the next call would go, so the driver can spool it before ``submit(_:now:)``.
    enum Admission: Equatable {
        /// Into the memory queue.
        case memory(sequence: UInt64)
        /// Into the backlog on disk; `starts` when it is the first of a new backlog.
        case backlog(sequence: UInt64, starts: Bool)
        /// The memory queue is full (without a spool).
        case full
        /// The spool is full.
        case spoolFull
        case shuttingDown

        /// The call's sequence number, when it is taken.
        var sequence: UInt64? {
            switch self {
            case .memory(let sequence), .backlog(let sequence, _): sequence
            case .full, .spoolFull, .shuttingDown: nil
            }
        }
    }

    /// What ``submit(_:now:)`` did with a call.
    enum SubmitOutcome: Equatable {
        case accepted(PipelineEffects)
        /// The queue holds `capacity` calls; the client should stop being read until there is room.
        case full
        /// The spool holds `--spool-max-bytes`; the client should stop until there is room.
        case spoolFull
        /// The daemon is stopping and takes no new calls.
        case shuttingDown
    }

    /// What a worker asking for work gets.
    enum WorkRequestOutcome: Equatable {
        case assigned(Envelope)
        /// Nothing to do yet: the driver keeps the worker until a call is ready.
        case wait
        /// The pipeline stopped; the worker ends.
        case stop
    }

    /// How one upstream attempt ended, as far as the pipeline cares.
    enum AttemptResult: Equatable {
        case delivered
        /// A `log.request` delivered, with the id PromptLayer answered it with (`nil` when its
        /// answer had none).
        case logged(id: Int64?)
        case deadLettered
        case retry(at: NIODeadline)
    }
}
