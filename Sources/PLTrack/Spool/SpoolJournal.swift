import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The spool as the pipeline uses it: appends accepted messages and their outcomes, reads the
/// backlog back, and tells acknowledgements when their record is durable.
///
/// Every call takes the journal's lock; the pipeline calls in while holding its own, so the
/// spool's record order is the pipeline's acceptance order (lock order: pipeline, then
/// journal). The `fsync` of a group commit runs on the thread pool, outside the lock, on a
/// second descriptor of the segment, so appends go on meanwhile.
public final class SpoolJournal: Sendable {
    /// Why a message could not be spooled.
    typealias AppendError = SpoolStore.AppendError

    /// What the spool held when the daemon started.
    public struct Recovery: Sendable, Equatable {
        /// Undelivered messages found, to be dispatched again.
        public var pending: Int
        /// Of those, the ones whose upstream attempt was under way when the daemon stopped:
        /// PromptLayer may have them already, so they may arrive twice.
        public var inFlight: Int
        /// The highest sequence number found; numbering continues after it.
        public var highestSequence: UInt64
        /// Segments read.
        public var segments: Int
        /// Damage found, one line per damaged segment.
        public var damage: [String]
        /// Bytes skipped after damage.
        public var bytesSkipped: Int
    }

    /// The spool's size and its oldest undelivered message, for stats.
    public struct Figures: Sendable, Equatable {
        public var bytes: Int
        public var records: Int
        public var oldestAcceptedAtMilliseconds: Int64?
        /// Group commits run: each `fsync` covered every record written before it started.
        public var commits: Int
    }

    private struct State {
        var store: SpoolStore
        var backlog: BacklogReader
        var commit: GroupCommit
        var commits = 0
    }

    public let directory: String
    public let policy: FsyncPolicy
    public let recovery: Recovery
    private let state: Mutex<State>
    private let inFlightSlots: InFlightSlots
    private let logger: Logger

    /// Reads what `directory` holds and opens a new segment after it, with a slot for each of
    /// `workers` to note the call it has in flight.
    public init(
        directory: String, maximumBytes: Int, policy: FsyncPolicy, workers: Int, logger: Logger,
        segmentBytes: Int? = nil
    ) throws {
        let replay = SpoolDirectory.replay(directory)
        let store = try SpoolStore(
            directory: directory,
            segmentBytes: segmentBytes ?? Self.segmentBytes(forMaximum: maximumBytes),
            maximumBytes: maximumBytes,
            replay: replay
        )
        let slots = try InFlightSlots(directory: directory, workers: workers)
        self.inFlightSlots = slots
        self.directory = directory
        self.policy = policy
        self.logger = logger
        self.recovery = Recovery(
            pending: replay.pending.count,
            inFlight: replay.pending.count { slots.previous.contains($0.sequence) },
            highestSequence: replay.highestSequence,
            segments: replay.segments.count,
            damage: replay.damage.map(\.description),
            bytesSkipped: replay.damage.reduce(0) { $0 + $1.bytesSkipped }
        )
        self.state = Mutex(
            State(
                store: store,
                backlog: BacklogReader(directory: directory, replay: replay),
                commit: GroupCommit(durableThrough: replay.highestSequence)
            ))
    }

    /// Segments small enough that a full spool frees space a segment at a time: a sixteenth of
    /// the maximum, from 64 KiB to 64 MiB.
    static func segmentBytes(forMaximum maximum: Int) -> Int {
        min(64 << 20, max(64 << 10, maximum / 16))
    }

    // MARK: Pipeline side (called under the pipeline's lock)

    /// Appends accepted messages with one write, as many as fit; returns how many. The one at
    /// index `backlogStart`, if any, is the first of a backlog that stays on disk until the
    /// memory queue has room, and the backlog reader starts at its record.
    func append(_ messages: [SpooledMessage], backlogStart: Int?) throws(AppendError) -> Int {
        try self.state.withLock { state throws(AppendError) in
            let (count, marked) = try state.store.append(fitting: messages, marking: backlogStart)
            if let marked {
                state.backlog.reposition(segment: marked.segment, offset: marked.offset)
            }
            state.commit.wrote(messages[count - 1].sequence)
            return count
        }
    }

    /// Records final outcomes; segments holding nothing pending any more are deleted. Returns
    /// whether the spool has room for new messages.
    func resolve(_ sequences: [UInt64]) -> Bool {
        self.state.withLock { state in
            do {
                try state.store.resolve(sequences)
            } catch {
                // The messages were delivered; on replay they would be sent again, not lost.
                self.logger.error(
                    "could not record delivered messages in the spool; they may be sent again after a restart",
                    metadata: ["error": "\(error)", "messages": "\(sequences.count)"])
            }
            return state.store.hasRoom()
        }
    }

    /// Notes that `worker` sends call `sequence` upstream now, so that a restart knows which
    /// calls may have reached PromptLayer already; `nil` when its attempt has ended and the
    /// outcome is recorded.
    func inFlight(worker: Int, _ sequence: UInt64?) {
        self.inFlightSlots.set(worker, to: sequence ?? 0)
    }

    /// Whether the spool has room for new messages.
    var hasRoom: Bool {
        self.state.withLock { $0.store.hasRoom() }
    }

    /// Up to `limit` messages of the backlog, oldest first.
    func readBacklog(limit: Int) -> [SpooledMessage] {
        self.state.withLock { state in
            state.backlog.read(limit: limit, writerSegment: state.store.position.segment)
        }
    }

    // MARK: Durability

    /// Succeeds on `eventLoop` once the record of `sequence` is durable as `--fsync` says: at
    /// once for `interval` and `never` (the record is written already), after the group commit
    /// covering it for `always`; fails when that `fsync` fails.
    func whenDurable(_ sequence: UInt64, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard self.policy == .always else {
            return eventLoop.makeSucceededVoidFuture()
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let action = self.state.withLock { $0.commit.wait(for: sequence, promise) }
        switch action {
        case .succeedNow: promise.succeed()
        case .startCommit: self.startCommits()
        case .none: break
        }
        return promise.futureResult
    }

    /// Starts a commit unless one is running or nothing is new (for `--fsync interval`).
    public func commitIfNeeded() {
        if self.state.withLock({ $0.commit.startCommitIfIdle() }) {
            self.startCommits()
        }
    }

    /// Flushes everything to disk now, on this thread (at stop).
    public func syncNow() {
        self.state.withLock { state in
            do {
                try state.store.sync()
            } catch {
                self.logger.error("could not flush the spool to disk", metadata: ["error": "\(error)"])
            }
        }
    }

    private func startCommits() {
        NIOThreadPool.singleton.submit { _ in
            self.runCommits()
        }
    }

    /// One `fsync` per round, covering everything written before it; rounds go on while
    /// acknowledgements wait for records written after the last one started.
    private func runCommits() {
        var again = true
        while again {
            let descriptor = self.state.withLock { state in
                state.commit.commitStarts()
                state.commits += 1
                return state.store.duplicateDescriptor()
            }
            let succeeded = descriptor >= 0 && fsync(descriptor) == 0
            let failure = succeeded ? "" : String(cString: strerror(errno))
            if descriptor >= 0 {
                close(descriptor)
            }
            let settled: [EventLoopPromise<Void>]
            (settled, again) = self.state.withLock { $0.commit.commitEnded(succeeded: succeeded) }
            for promise in settled {
                if succeeded {
                    promise.succeed()
                } else {
                    promise.fail(SpoolWriter.WriteError(description: "cannot fsync the spool: \(failure)"))
                }
            }
            if !succeeded {
                self.logger.error("could not flush the spool to disk", metadata: ["error": "\(failure)"])
            }
        }
    }

    // MARK: Reading

    public var figures: Figures {
        self.state.withLock { state in
            Figures(
                bytes: state.store.bytes,
                records: state.store.pendingMessages,
                oldestAcceptedAtMilliseconds: state.store.oldestPendingAcceptedAt(),
                commits: state.commits
            )
        }
    }
}
