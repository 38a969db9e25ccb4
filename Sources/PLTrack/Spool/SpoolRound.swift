import NIOCore

/// What the spool's writer does in one go, without a lock: write every queued record with one
/// `write(2)`, in the order queued; `fsync` when asked; then read the backlog back.
struct SpoolRound {
    enum Entry {
        /// An accepted call: `backlog` when it is held on disk only, `startsBacklog` when the
        /// backlog reader is to start at its record.
        case accepted(SpooledMessage, backlog: Bool, startsBacklog: Bool)
        case resolved(UInt64)
        /// A log PromptLayer answered: resolved, with the id its calls need.
        case learned(LearnedRef)
    }

    /// What performing a round found.
    struct Result {
        /// Why the records could not be written; none of the round's records is then on disk.
        var writeFailure: String?
        /// Why the `fsync` failed, when the round had one.
        var syncFailure: String?
        /// Why compacting the oldest segment failed, when the round tried.
        var compactionFailure: String?
        /// The spool's figures after the round.
        var figures: SpoolJournal.Figures
        /// Backlog calls read back, oldest first.
        var backlog: [SpooledMessage] = []
        /// Backlog calls whose record could not be written: the pipeline holds them in memory.
        var unwrittenBacklog: [SpooledMessage] = []
    }

    var entries: [Entry] = []
    /// Bytes reserved for the accepted calls among the entries.
    var reservedBytes = 0
    /// Backlog calls to read after writing; 0 for none.
    var backlogLimit = 0
    /// Whether to `fsync` after writing.
    var sync = false
    /// Stops waiting for this round's write and `fsync`.
    var finishers: [EventLoopPromise<Void>] = []

    var isEmpty: Bool {
        self.entries.isEmpty && self.backlogLimit == 0 && !self.sync && self.finishers.isEmpty
    }

    /// The call numbers of the accepted calls, lowest to highest.
    var acceptedRange: ClosedRange<UInt64>? {
        var lowest = UInt64.max
        var highest: UInt64 = 0
        for case .accepted(let message, _, _) in self.entries {
            lowest = min(lowest, message.sequence)
            highest = max(highest, message.sequence)
        }
        return lowest <= highest ? lowest...highest : nil
    }
}
