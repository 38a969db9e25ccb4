/// What only the spool's writer touches: the segment files, through ``SpoolStore`` and
/// ``BacklogReader``, and where the backlog starts.
///
/// ``SpoolInbox`` starts one run of rounds at a time and its lock orders one run after the
/// next, so a single thread at a time performs rounds here; that confinement is why it is
/// `@unchecked Sendable` without a lock of its own.
final class SpoolWriterSide: @unchecked Sendable {
    private let store: SpoolStore
    private let backlog: BacklogReader
    /// A backlog start whose record could not be written: the next backlog record written is
    /// where the reader starts instead.
    private var backlogStartPending = false
    private var commits = 0
    /// Backlog calls on disk the reader has not handed to the pipeline yet: replayed ones and
    /// those written as backlog, less those read. A segment is compacted only when none of
    /// them can be in it.
    private var unreadBacklog: Int
    private var compaction = CompactionPolicy()
    private let maximumBytes: Int

    init(store: SpoolStore, backlog: BacklogReader, unreadBacklog: Int = 0, maximumBytes: Int = .max) {
        self.store = store
        self.backlog = backlog
        self.unreadBacklog = unreadBacklog
        self.maximumBytes = maximumBytes
    }

    /// What writing a round's records found: nothing on success.
    struct WriteOutcome {
        var failure: String
        /// The backlog calls among the records, which are then held in memory only.
        var backlog: [SpooledMessage]
    }

    /// Writes the round's records with one write.
    func write(_ round: SpoolRound) -> WriteOutcome? {
        round.entries.isEmpty ? nil : self.write(round.entries)
    }

    /// After ``write(_:)``: flushes the records when the round asks, then reads the backlog back.
    func complete(_ round: SpoolRound, after written: WriteOutcome?) -> SpoolRound.Result {
        var syncFailure: String?
        if round.sync {
            self.commits += 1
            do {
                try self.store.sync()
            } catch {
                syncFailure = "\(error)"
            }
        }
        let backlog =
            round.backlogLimit > 0
            ? self.backlog.read(limit: round.backlogLimit, writerSegment: self.store.position.segment) : []
        self.unreadBacklog = max(0, self.unreadBacklog - backlog.count)
        let compactionFailure = self.compactIfPinned()
        return SpoolRound.Result(
            writeFailure: written?.failure,
            syncFailure: syncFailure,
            compactionFailure: compactionFailure,
            figures: self.figures(),
            backlog: backlog,
            unwrittenBacklog: written?.backlog ?? []
        )
    }

    /// Writes the entries' records with one write; on failure returns why, and the backlog calls
    /// among them, which are then held in memory only.
    private func write(_ entries: [SpoolRound.Entry]) -> WriteOutcome? {
        var records: [SpoolRecord] = []
        records.reserveCapacity(entries.count)
        var marked: Int?
        var startsBacklog = self.backlogStartPending
        for entry in entries {
            switch entry {
            case .accepted(let message, let backlog, let starts):
                if backlog && (starts || startsBacklog) {
                    marked = records.count
                    startsBacklog = false
                }
                records.append(.accepted(message))
            case .resolved(let sequence):
                records.append(.resolved(sequence: sequence))
            case .learned(let learned):
                records.append(.learned(learned))
            }
        }
        do {
            if let start = try self.store.append(records: records, marking: marked) {
                self.backlog.reposition(segment: start.segment, offset: start.offset)
            }
            self.backlogStartPending = startsBacklog
            for case .accepted(_, true, _) in entries {
                self.unreadBacklog += 1
            }
            return nil
        } catch {
            self.backlogStartPending = self.backlogStartPending || marked != nil
            var unwritten: [SpooledMessage] = []
            for case .accepted(let message, true, _) in entries {
                unwritten.append(message)
            }
            return WriteOutcome(failure: "\(error)", backlog: unwritten)
        }
    }

    /// Compacts the oldest segment when ``CompactionPolicy`` says a few pinned calls are all
    /// that keeps it; returns why that failed, if it did.
    private func compactIfPinned() -> String? {
        let oldest = self.store.oldestSegment
        let writing = self.store.position.segment
        let seen = CompactionPolicy.Observation(
            oldest: oldest, writing: writing, spoolBytes: self.store.bytes, maximumBytes: self.maximumBytes,
            backlogUnreadInOldest: self.unreadBacklog > 0
                && oldest.map { self.backlog.segmentIndex <= $0.segment } ?? false)
        guard let segment = self.compaction.segmentToCompact(seen) else {
            return nil
        }
        do {
            try self.store.compact(segment)
            return nil
        } catch {
            self.compaction.failed(whileWriting: writing)
            return "\(error)"
        }
    }

    /// The spool's figures now.
    func figures() -> SpoolJournal.Figures {
        SpoolJournal.Figures(
            bytes: self.store.bytes,
            records: self.store.pendingMessages,
            oldestAcceptedAtMilliseconds: self.store.oldestPendingAcceptedAt(),
            commits: self.commits,
            compactions: self.store.compactions.segments,
            callsCopied: self.store.compactions.callsCopied,
            refsCarried: self.store.refsCarried,
            refsNotCarried: self.store.refsNotCarried
        )
    }
}
