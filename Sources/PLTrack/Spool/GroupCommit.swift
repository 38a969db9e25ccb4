import NIOCore

/// Group commit as a state machine: acknowledgements wait for a sequence number to be
/// durable, and one `fsync` at a time makes everything written so far durable, completing
/// every wait it covers.
///
/// The driver (``SpoolJournal``) calls it under its lock and performs the returned actions
/// outside: start an `fsync`, complete promises.
struct GroupCommit {
    /// What the driver does after ``wait(for:_:)``.
    enum WaitAction: Equatable {
        case succeedNow
        case none
        /// Run a commit now; nothing else is committing.
        case startCommit
    }

    /// The highest sequence number written to the spool.
    private(set) var written: UInt64 = 0
    /// The highest sequence number known durable.
    private(set) var durable: UInt64 = 0
    private var committing = false
    /// The sequence the running commit covers.
    private var target: UInt64 = 0
    private var waiters: [(sequence: UInt64, promise: EventLoopPromise<Void>)] = []

    /// Starts after a replay: what it read is on disk already.
    init(durableThrough sequence: UInt64) {
        self.written = sequence
        self.durable = sequence
    }

    mutating func wrote(_ sequence: UInt64) {
        self.written = max(self.written, sequence)
    }

    /// `promise` is to succeed once `sequence` is durable.
    mutating func wait(for sequence: UInt64, _ promise: EventLoopPromise<Void>) -> WaitAction {
        if sequence <= self.durable {
            return .succeedNow
        }
        self.waiters.append((sequence, promise))
        return self.startCommitIfIdle() ? .startCommit : .none
    }

    /// For a periodic flush: whether a commit should start now.
    mutating func startCommitIfIdle() -> Bool {
        guard !self.committing, self.written > self.durable else {
            return false
        }
        self.committing = true
        return true
    }

    /// A commit is about to `fsync`; it covers everything written up to now.
    mutating func commitStarts() {
        self.target = self.written
    }

    /// The `fsync` ended. Returns the waits it settles, and whether to commit again because
    /// more was written meanwhile that someone waits for.
    mutating func commitEnded(succeeded: Bool) -> (settled: [EventLoopPromise<Void>], again: Bool) {
        if succeeded {
            self.durable = max(self.durable, self.target)
        }
        var settled: [EventLoopPromise<Void>] = []
        self.waiters.removeAll { waiter in
            // A failed fsync fails every wait it was to cover.
            guard waiter.sequence <= self.target else { return false }
            settled.append(waiter.promise)
            return true
        }
        let again = !self.waiters.isEmpty
        self.committing = again
        return (settled, again)
    }
}
