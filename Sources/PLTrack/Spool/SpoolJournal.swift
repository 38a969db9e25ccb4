import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The spool as a stage of its own: one writer owns the files, and the pipeline and the
/// connections meet it only through a queue (``SpoolInbox``) behind a short lock.
///
/// The pipeline queues accepted calls and outcomes in acceptance order (under its own lock, so
/// the spool's record order is the pipeline's). The writer, on a thread of its own, takes
/// everything queued as one round: one `write(2)`, an `fsync` when acknowledgements wait for one
/// (group commit), segment roll-over and deletion, and the backlog reads. It reports back as
/// events: "written through N" and "durable through N" complete the acknowledgements waiting on
/// them; backlog calls read back and room freed go to the pipeline. No lock is held across I/O.
public final class SpoolJournal: Sendable {
    /// What the spool held when the daemon started.
    public struct Recovery: Sendable, Equatable {
        /// Undelivered messages found, to be dispatched again.
        public var pending: Int
        /// Of those, the ones whose upstream attempt was under way when the daemon stopped, with
        /// the calls merged into them (metadata, calls folded into a log): PromptLayer may have
        /// them already, so they may arrive twice.
        public var inFlight: Int
        /// The highest sequence number found; numbering continues after it.
        public var highestSequence: UInt64
        /// Segments read.
        public var segments: Int
        /// Damage found, one line per damaged segment.
        public var damage: [String]
        /// Bytes skipped after damage.
        public var bytesSkipped: Int
        /// Logs PromptLayer answered, with the ids: calls that name their refs go with them.
        var learned: [LearnedRef] = []
    }

    /// The spool's size and its oldest undelivered message, for stats.
    public struct Figures: Sendable, Equatable {
        public var bytes: Int
        public var records: Int
        public var oldestAcceptedAtMilliseconds: Int64?
        /// Group commits run: each `fsync` covered every record written before it started.
        public var commits: Int
        /// Segments compacted: the few calls still pending in them copied forward, the rest freed.
        public var compactions = 0
        /// Calls copied forward by compaction.
        public var callsCopied = 0
        /// Learned refs carried into the refs file as their segments went, and those that could not be.
        public var refsCarried = 0
        public var refsNotCarried = 0
    }

    /// Where the writer's reports go: the pipeline.
    struct Events: Sendable {
        /// Backlog calls read back from the spool (`answersRead`), or whose record could not be
        /// written (so they are held in memory instead).
        var backlog: @Sendable (_ messages: [SpooledMessage], _ answersRead: Bool) -> Void
        /// Calls were refused because the spool was full, or waited for the writer, and there
        /// is room again.
        var roomFreed: @Sendable () -> Void
    }

    public let directory: String
    public let policy: FsyncPolicy
    public let recovery: Recovery
    private let inbox: NIOLockedValueBox<SpoolInbox>
    private let events = NIOLockedValueBox<Events?>(nil)
    private let writer: SpoolWriterSide
    private let inFlightSlots: InFlightSlots
    private let logger: Logger

    /// Reads what `directory` holds and opens a new segment after it, with a slot for each of
    /// `workers` to note the call it has in flight. Learned refs are kept on disk for `refTTL`
    /// (`--ref-ttl`).
    public init(
        directory: String, maximumBytes: Int, policy: FsyncPolicy, workers: Int, logger: Logger,
        segmentBytes: Int? = nil, refTTL: TimeAmount = .hours(1)
    ) throws {
        let replay = SpoolDirectory.replay(directory)
        let store = try SpoolStore(
            directory: directory,
            segmentBytes: segmentBytes ?? Self.segmentBytes(forMaximum: maximumBytes),
            replay: replay,
            refTTL: refTTL
        )
        let slots = try InFlightSlots(directory: directory, workers: workers)
        self.inFlightSlots = slots
        self.directory = directory
        self.policy = policy
        self.logger = logger
        self.recovery = Recovery(
            pending: replay.pending.count,
            inFlight: replay.possiblyDelivered(inFlight: slots.previous),
            highestSequence: replay.highestSequence,
            segments: replay.segments.count,
            damage: replay.damage.map(\.description),
            bytesSkipped: replay.damage.reduce(0) { $0 + $1.bytesSkipped },
            learned: replay.learned
        )
        let writer = SpoolWriterSide(
            store: store, backlog: BacklogReader(directory: directory, replay: replay),
            unreadBacklog: replay.pending.count, maximumBytes: maximumBytes)
        self.writer = writer
        self.inbox = NIOLockedValueBox(
            SpoolInbox(
                waitsForSync: policy == .always,
                maximumBytes: maximumBytes,
                durableThrough: replay.highestSequence,
                figures: writer.figures()
            ))
    }

    /// Segments small enough that a full spool frees space a segment at a time: a sixteenth of
    /// the maximum, from 64 KiB to 64 MiB.
    static func segmentBytes(forMaximum maximum: Int) -> Int {
        min(64 << 20, max(64 << 10, maximum / 16))
    }

    /// Sends the writer's reports to `events`; call once, before anything is queued.
    func connect(_ events: Events) {
        self.events.withLockedValue { $0 = events }
    }

    // MARK: Pipeline side (called under the pipeline's lock; nothing here waits for the disk)

    /// Queues accepted calls for the writer, as many as fit under `--spool-max-bytes` and the
    /// writer's queue limit from the first; returns how many, and why not all. The one at index
    /// `backlogStart`, if any, is the first of a backlog that stays on disk until the memory
    /// queue has room.
    func append(_ messages: [SpooledMessage], backlogStart: Int?) -> (count: Int, refusal: SpoolInbox.Refusal?) {
        let (count, refusal, wake) = self.inbox.withLockedValue { $0.accept(messages, backlogFrom: backlogStart) }
        self.perform(wake)
        return (count, refusal)
    }

    /// Queues the records of final outcomes, and of the logs PromptLayer answered with the ids
    /// (`learned`, which resolve them); segments holding nothing pending any more are deleted
    /// once they are written. Each learned ref is stamped with the time now.
    func resolve(_ sequences: [UInt64], learned: [LearnedRef] = []) {
        guard !sequences.isEmpty || !learned.isEmpty else {
            return
        }
        var stamped = learned
        if !stamped.isEmpty {
            let now = WallClock.milliseconds()
            for index in stamped.indices {
                stamped[index].learnedAtMilliseconds = now
            }
        }
        self.perform(self.inbox.withLockedValue { $0.resolve(sequences, learned: stamped) })
    }

    /// Asks the writer for up to `limit` backlog calls, oldest first; they arrive through
    /// ``Events/backlog``.
    func readBacklog(limit: Int) {
        self.perform(self.inbox.withLockedValue { $0.readBacklog(limit: limit) })
    }

    /// Notes that `worker` sends call `sequence` upstream now, so that a restart knows which
    /// calls may have reached PromptLayer already. The note replaces the worker's last one, so
    /// it waits until every outcome queued so far (that call's among them) is written: a kill
    /// in between must find the last call either resolved or still noted.
    func inFlight(worker: Int, _ sequence: UInt64, isolation: isolated (any Actor)? = #isolation) async {
        // Mostly written already: then no continuation, no suspension.
        if !self.inbox.withLockedValue({ $0.everythingQueuedIsWritten }) {
            await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Void, Never>) in
                let waits = self.inbox.withLockedValue { $0.afterQueuedWritten { continuation.resume() } }
                if !waits {
                    continuation.resume()
                }
            }
        }
        self.inFlightSlots.set(worker, to: sequence)
    }

    // MARK: Durability

    /// Succeeds on `eventLoop` once the records of calls `from...through` are written, and with
    /// `--fsync always` flushed to disk; fails when one of them could not be.
    func whenDurable(from: UInt64, through: UInt64, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let action = self.inbox.withLockedValue { $0.wait(from: from, through: through, promise) }
        switch action {
        case .succeedNow: promise.succeed()
        case .failNow(let reason): promise.fail(SpoolWriter.WriteError(description: reason))
        case .wait(let wake): self.perform(wake)
        }
        return promise.futureResult
    }

    /// For `--fsync interval`: an `fsync` soon, unless everything written is flushed already.
    public func commitIfNeeded() {
        self.perform(self.inbox.withLockedValue { $0.requestCommit() })
    }

    /// At stop: completes once everything queued so far is written and flushed to disk.
    public func finish(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        self.perform(self.inbox.withLockedValue { $0.finish(promise) })
        return promise.futureResult
    }

    // MARK: The writer

    private func perform(_ wake: SpoolInbox.Wake) {
        guard case .startWriter = wake else {
            return
        }
        NIOThreadPool.singleton.submit { _ in
            self.runRounds()
        }
    }

    /// Performs rounds until nothing is queued. The inbox lets one run go at a time, so the
    /// writer side is only ever touched by one thread, and the lock orders one run after another.
    private func runRounds() {
        while let round = self.inbox.withLockedValue({ $0.nextRound() }) {
            let written = self.writer.write(round)
            // Before the fsync: what waits for the records to be written need not wait for it.
            for callback in self.inbox.withLockedValue({ $0.roundWritten(round) }) {
                callback()
            }
            let result = self.writer.complete(round, after: written)
            if let failure = result.writeFailure {
                // Calls in the round are held in memory only; outcomes in it are not recorded,
                // so those calls would be sent again after a restart.
                self.logger.error(
                    "could not write to the spool; the calls in the write are held in memory only, and calls whose outcome was in it may be sent again after a restart",
                    metadata: ["error": "\(failure)", "records": "\(round.entries.count)"])
            }
            if let failure = result.syncFailure {
                self.logger.error("could not flush the spool to disk", metadata: ["error": "\(failure)"])
            }
            if let failure = result.compactionFailure {
                self.logger.warning(
                    "could not compact the spool's oldest segment; it stays until its calls are resolved",
                    metadata: ["error": "\(failure)"])
            }
            let settled = self.inbox.withLockedValue { $0.roundEnded(round, result) }
            for promise in settled.succeeded {
                promise.succeed()
            }
            for (promise, reason) in settled.failed {
                promise.fail(SpoolWriter.WriteError(description: reason))
            }
            let events = self.events.withLockedValue { $0 }
            if !result.unwrittenBacklog.isEmpty {
                events?.backlog(result.unwrittenBacklog, false)
            }
            if round.backlogLimit > 0 {
                events?.backlog(result.backlog, true)
            }
            if settled.roomFreed {
                events?.roomFreed()
            }
            for promise in settled.finished {
                promise.succeed()
            }
        }
    }

    // MARK: Reading

    public var figures: Figures {
        self.inbox.withLockedValue { $0.figures }
    }
}
