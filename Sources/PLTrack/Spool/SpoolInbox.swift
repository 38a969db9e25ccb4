import NIOCore

/// The spool stage as a state machine: what the pipeline hands the spool's writer, what the
/// writer does with it in rounds, and the acknowledgements that wait for "written through N"
/// or, with `--fsync always`, "durable through N".
///
/// The pipeline and the connections call in under the driver's lock (``SpoolJournal``); the
/// writer takes everything queued as one ``SpoolRound``, performs it without the lock, and
/// reports the ``SpoolRound/Result``. Nothing here touches a file, so tests drive it directly.
struct SpoolInbox {
    /// What the driver does after an event that may give the writer work.
    enum Wake: Equatable {
        /// The writer is idle: start a run of rounds.
        case startWriter
        /// The writer is running, or there is nothing to do.
        case none
    }

    /// What a connection's wait gets at once.
    enum WaitAction: Equatable {
        case succeedNow
        case failNow(String)
        /// The promise is kept and completed when a round covers it.
        case wait(Wake)
    }

    /// Waits that a round ended, to complete outside the lock.
    struct Settled {
        var succeeded: [EventLoopPromise<Void>] = []
        var failed: [(EventLoopPromise<Void>, String)] = []
        var finished: [EventLoopPromise<Void>] = []
        /// Calls were refused for want of room, or told to wait for the writer, and there is
        /// room again.
        var roomFreed = false
    }

    private struct Waiter {
        var from: UInt64
        var through: UInt64
        var promise: EventLoopPromise<Void>
    }

    /// Why ``accept(_:backlogFrom:)`` took fewer calls than it was given.
    enum Refusal: Equatable {
        /// `--spool-max-bytes` would be exceeded: refuse calls until a round frees room.
        case full
        /// The writer has ``queueLimitBytes`` queued: calls wait until it catches up.
        case busy
    }

    /// The most bytes of records queued for the writer; beyond it ingest waits, so a writer
    /// slower than ingest costs memory only up to here. It also bounds how long an
    /// acknowledgement waits behind other clients' calls: the writer's round in progress and
    /// the one that takes it, each at most about this much (a few milliseconds here). At
    /// 8 MiB, one flooding client held another's acknowledgements for 50–60 ms at p99.
    static let queueLimitBytes = 256 << 10

    /// Whether acknowledgements wait for an `fsync` (`always`) or only for the write.
    let waitsForSync: Bool
    let maximumBytes: Int
    /// The highest call number written; acknowledgements wait for this without `always`.
    private(set) var written: UInt64
    /// The highest call number an `fsync` covers.
    private(set) var durable: UInt64
    /// Bytes promised to calls queued and not yet written.
    private(set) var reservedBytes = 0
    /// The spool's figures as of the last round, its bytes on disk among them.
    private(set) var figures: SpoolJournal.Figures
    private var queued = SpoolRound()
    private var writerRunning = false
    private var commitRequested = false
    /// The record that did not fit, when calls were refused for want of room.
    private var refusedBytes: Int?
    /// Calls were told to wait because the queue was at its limit.
    private var refusedBusy = false
    private var waiters: [Waiter] = []
    /// Entries (calls and outcomes) ever queued, and ever written (or failed to be).
    private var entriesQueued: UInt64 = 0
    private var entriesWritten: UInt64 = 0
    /// Callbacks to run once the entries queued before them are written.
    private var entryWaiters: [(mark: UInt64, callback: @Sendable () -> Void)] = []
    private var finishers: [EventLoopPromise<Void>] = []
    /// Call numbers whose records could not be written or flushed, newest last.
    private var failures: [(range: ClosedRange<UInt64>, reason: String)] = []
    private static let failuresKept = 256

    /// Room kept free besides the records: a new segment's header and a few outcome records,
    /// which are written without a reservation.
    static let slackBytes = SegmentReplay.headerLength + 64

    /// Starts after a replay: what it read through `sequence` is on disk already.
    init(waitsForSync: Bool, maximumBytes: Int, durableThrough sequence: UInt64, figures: SpoolJournal.Figures) {
        self.waitsForSync = waitsForSync
        self.maximumBytes = maximumBytes
        self.written = sequence
        self.durable = sequence
        self.figures = figures
    }

    /// Whether a record of `recordBytes` would still fit.
    func hasRoom(forRecord recordBytes: Int = 0) -> Bool {
        self.figures.bytes + self.reservedBytes + recordBytes + Self.slackBytes <= self.maximumBytes
    }

    // MARK: Pipeline side

    /// Queues accepted calls, as many as fit from the first, and returns how many. The one at
    /// index `backlogStart`, if any, begins a backlog and every one from it on stays on disk
    /// until read back; the calls before it are held in memory too.
    mutating func accept(_ messages: [SpooledMessage], backlogFrom backlogStart: Int?) -> (
        count: Int, refusal: Refusal?, wake: Wake
    ) {
        var count = 0
        var refusal: Refusal?
        for message in messages {
            let bytes = message.recordLength
            guard self.hasRoom(forRecord: bytes) else {
                self.refusedBytes = bytes
                refusal = .full
                break
            }
            guard self.reservedBytes < Self.queueLimitBytes else {
                self.refusedBusy = true
                refusal = .busy
                break
            }
            self.reservedBytes += bytes
            self.queued.reservedBytes += bytes
            self.entriesQueued += 1
            self.queued.entries.append(
                .accepted(
                    message, backlog: backlogStart.map { count >= $0 } ?? false, startsBacklog: count == backlogStart))
            count += 1
        }
        return (count, refusal, count > 0 ? self.wakeWriter() : .none)
    }

    /// Queues the records of final outcomes: resolutions, then the logs PromptLayer answered
    /// (`learned`, which resolve them with the id).
    mutating func resolve(_ sequences: [UInt64], learned: [LearnedRef] = []) -> Wake {
        guard !sequences.isEmpty || !learned.isEmpty else {
            return .none
        }
        self.queued.entries.append(contentsOf: sequences.map { .resolved($0) })
        self.queued.entries.append(contentsOf: learned.map { .learned($0) })
        self.entriesQueued += UInt64(sequences.count + learned.count)
        return self.wakeWriter()
    }

    /// Asks for up to `limit` backlog calls, read after everything queued is written.
    mutating func readBacklog(limit: Int) -> Wake {
        self.queued.backlogLimit += limit
        return self.wakeWriter()
    }

    /// For `--fsync interval`: an `fsync` after the next write, if anything is unsynced.
    mutating func requestCommit() -> Wake {
        guard self.written > self.durable || !self.queued.entries.isEmpty else {
            return .none
        }
        self.commitRequested = true
        return self.wakeWriter()
    }

    /// At stop: `promise` succeeds once everything queued before now is written and synced.
    mutating func finish(_ promise: EventLoopPromise<Void>) -> Wake {
        self.finishers.append(promise)
        self.commitRequested = true
        return self.wakeWriter()
    }

    // MARK: Connection side

    /// `promise` is to succeed once calls `from...through` are written (or, with `always`,
    /// durable), and to fail if the record of any of them could not be.
    mutating func wait(from: UInt64, through: UInt64, _ promise: EventLoopPromise<Void>) -> WaitAction {
        if let failure = self.failure(from: from, through: through) {
            return .failNow(failure)
        }
        if through <= self.threshold {
            return .succeedNow
        }
        self.waiters.append(Waiter(from: from, through: through, promise: promise))
        // Written already, not yet synced: only a commit covers it.
        return .wait(through <= self.written ? self.wakeWriter() : .none)
    }

    /// Whether every entry queued so far is written.
    var everythingQueuedIsWritten: Bool {
        self.entriesWritten >= self.entriesQueued
    }

    /// `callback` is to run once every entry queued so far is written (a worker's note of the
    /// call it sends next must not replace its last call's before that call's outcome is on
    /// disk). Returns `false`, keeping nothing, when they are written already.
    mutating func afterQueuedWritten(_ callback: @escaping @Sendable () -> Void) -> Bool {
        guard !self.everythingQueuedIsWritten else {
            return false
        }
        self.entryWaiters.append((self.entriesQueued, callback))
        return true
    }

    /// The writer wrote (or failed to write) `round`'s entries; returns the callbacks that
    /// were waiting for them, to run outside the lock.
    mutating func roundWritten(_ round: SpoolRound) -> [@Sendable () -> Void] {
        self.entriesWritten += UInt64(round.entries.count)
        guard !self.entryWaiters.isEmpty else {
            return []
        }
        var ready: [@Sendable () -> Void] = []
        var waiting: [(mark: UInt64, callback: @Sendable () -> Void)] = []
        for waiter in self.entryWaiters {
            if waiter.mark <= self.entriesWritten {
                ready.append(waiter.callback)
            } else {
                waiting.append(waiter)
            }
        }
        self.entryWaiters = waiting
        return ready
    }

    // MARK: Writer side

    /// Takes everything queued as one round; `nil` (and the writer stops) when there is nothing
    /// to do.
    mutating func nextRound() -> SpoolRound? {
        var round = self.queued
        self.queued = SpoolRound()
        round.sync =
            self.commitRequested || !self.finishers.isEmpty
            || (self.waitsForSync && self.waiters.contains { $0.through > self.durable })
        round.finishers = self.finishers
        self.finishers = []
        self.commitRequested = false
        guard !round.isEmpty else {
            self.writerRunning = false
            return nil
        }
        return round
    }

    /// The writer performed `round`; returns the waits it settles.
    mutating func roundEnded(_ round: SpoolRound, _ result: SpoolRound.Result) -> Settled {
        var settled = Settled()
        self.reservedBytes -= round.reservedBytes
        self.figures = result.figures
        if let failure = result.writeFailure, let range = round.acceptedRange {
            self.recordFailure(range, failure)
        } else if let highest = round.acceptedRange?.upperBound {
            self.written = max(self.written, highest)
        }
        if round.sync {
            if let failure = result.syncFailure {
                if self.written > self.durable {
                    self.recordFailure((self.durable + 1)...self.written, failure)
                }
            } else {
                self.durable = self.written
            }
        }
        var waiting: [Waiter] = []
        for waiter in self.waiters {
            if let failure = self.failure(from: waiter.from, through: waiter.through) {
                settled.failed.append((waiter.promise, failure))
            } else if waiter.through <= self.threshold {
                settled.succeeded.append(waiter.promise)
            } else {
                waiting.append(waiter)
            }
        }
        self.waiters = waiting
        settled.finished = round.finishers
        if let refused = self.refusedBytes, self.hasRoom(forRecord: refused) {
            self.refusedBytes = nil
            settled.roomFreed = true
        }
        if self.refusedBusy && self.reservedBytes < Self.queueLimitBytes / 2 {
            self.refusedBusy = false
            settled.roomFreed = true
        }
        return settled
    }

    // MARK: Internals

    private var threshold: UInt64 { self.waitsForSync ? self.durable : self.written }

    private mutating func wakeWriter() -> Wake {
        guard !self.writerRunning else {
            return .none
        }
        self.writerRunning = true
        return .startWriter
    }

    private mutating func recordFailure(_ range: ClosedRange<UInt64>, _ reason: String) {
        self.failures.append((range, reason))
        if self.failures.count > Self.failuresKept {
            self.failures.removeFirst(self.failures.count - Self.failuresKept)
        }
    }

    private func failure(from: UInt64, through: UInt64) -> String? {
        self.failures.last { $0.range.overlaps(from...through) }?.reason
    }
}
