import DequeModule
import Foundation
import Glibc
import NIOCore

/// The spool on disk: appends accepted messages and their outcomes to segments, makes them
/// durable on ``sync()``, and deletes each segment once every message in it is resolved.
///
/// Not thread-safe: one owner drives it, the spool's writer (``SpoolJournal``), which is also
/// where group commit happens: many appends, then one `fsync` that covers them all.
final class SpoolStore {
    private let writer: SpoolWriter
    private var ledger: SegmentLedger
    /// When calls were accepted, as checkpoints at least ``checkpointMilliseconds`` apart: the
    /// first call number of a run and its acceptance time. The oldest pending call's age is read
    /// from the checkpoint at or before it, so it costs memory per time, not per call.
    private var acceptance: Deque<(sequence: UInt64, milliseconds: Int64)> = []
    private static let checkpointMilliseconds: Int64 = 100
    /// Bytes in the segments still kept.
    private(set) var bytes: Int
    /// Segments deleted, and how many of the deletions' directory `fsync`s failed.
    private(set) var deletions = (segments: 0, unsyncedDirectory: 0)
    /// Segments compacted, and the calls copied forward to do it.
    private(set) var compactions = (segments: 0, callsCopied: 0)
    /// Where learned refs go when their segment is deleted while they are remembered.
    private let refsFile: LearnedRefsFile
    /// How long a learned ref is remembered (`--ref-ttl`), in milliseconds.
    private let refTTLMilliseconds: Int64
    /// The learned records in each kept segment.
    private var learnedIn: [UInt64: [LearnedRef]]
    /// Learned refs that could not be carried into the refs file before their segment went:
    /// after a restart, calls that name them wait for a log again.
    private(set) var refsNotCarried = 0

    /// Opens a new segment in `directory` (created with mode 0700 if missing), after the ones
    /// `replay` read there, whose pending messages it keeps until they are resolved, and whose
    /// learned refs it keeps for `refTTL`.
    init(
        directory: String, segmentBytes: Int = 64 << 20,
        replay: SpoolDirectory.Replay = .empty, refTTL: TimeAmount = .hours(1)
    ) throws {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SpoolWriter.WriteError(
                description: "cannot create the spool directory \(directory): \(String(cString: strerror(errno)))")
        }
        self.writer = try SpoolWriter(directory: directory, segmentBytes: segmentBytes)
        self.ledger = SegmentLedger(current: self.writer.segmentIndex)
        self.refTTLMilliseconds = refTTL.nanoseconds / 1_000_000
        self.refsFile = try LearnedRefsFile(
            directory: directory, ttlMilliseconds: self.refTTLMilliseconds, refs: replay.carriedRefs)
        self.learnedIn = replay.learnedInSegments
        self.bytes = SpoolDirectory.segments(in: directory).reduce(0) { total, segment in
            var status = stat()
            return total + (stat(segment.path, &status) == 0 ? Int(status.st_size) : 0)
        }
        for message in replay.pending.sorted(by: { $0.sequence < $1.sequence }) {
            self.checkpoint(message.sequence, acceptedAt: message.acceptedAtMilliseconds)
        }
        self.delete(
            self.ledger.seed(
                segments: replay.segments.map(\.index), calls: replay.callsPerSegment,
                pending: replay.pending.map { ($0.sequence, $0.segment) }))
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.ledger.pendingMessages }

    /// Where the next record goes: the segment being written and its size.
    var position: (segment: UInt64, offset: Int) { (self.writer.segmentIndex, self.writer.currentSegmentSize) }

    /// Appends `records` (accepted calls and outcomes, in order) with one write; durable after
    /// the next ``sync()``. Returns where the record at index `marked` begins, if there is one.
    /// On a failure nothing of them is kept.
    func append(records: [SpoolRecord], marking marked: Int?) throws -> (segment: UInt64, offset: Int)? {
        let offset = try self.write(records, marking: marked)
        for record in records {
            switch record {
            case .accepted(let message):
                self.ledger.written(sequence: message.sequence)
                self.checkpoint(message.sequence, acceptedAt: message.acceptedAtMilliseconds)
            case .resolved(let sequence):
                self.delete(self.ledger.resolved(sequence: sequence))
            case .learned(let learned):
                self.learnedIn[self.writer.segmentIndex, default: []].append(learned)
                self.delete(self.ledger.resolved(sequence: learned.sequence))
            case .relocated:
                // Only ``copyForward(from:)`` writes these, and it tells the ledger itself.
                break
            }
        }
        return offset.map { (self.writer.segmentIndex, $0) }
    }

    /// Appends accepted messages; durable after the next ``sync()``.
    func append(_ messages: [SpooledMessage]) throws {
        _ = try self.append(records: messages.map { .accepted($0) }, marking: nil)
    }

    /// Records final outcomes and deletes the segments that no longer hold anything pending.
    func resolve(_ sequences: [UInt64]) throws {
        _ = try self.append(records: sequences.map { .resolved(sequence: $0) }, marking: nil)
    }

    private func checkpoint(_ sequence: UInt64, acceptedAt milliseconds: Int64) {
        if let last = self.acceptance.last, milliseconds < last.milliseconds + Self.checkpointMilliseconds {
            return
        }
        self.acceptance.append((sequence, milliseconds))
    }

    /// When the oldest message still pending was accepted, in milliseconds since the epoch, to
    /// within ``checkpointMilliseconds`` (never later than it was).
    func oldestPendingAcceptedAt() -> Int64? {
        guard let oldest = self.ledger.oldestPending else {
            return nil
        }
        while self.acceptance.count > 1,
            self.acceptance[self.acceptance.index(after: self.acceptance.startIndex)].sequence <= oldest
        {
            self.acceptance.removeFirst()
        }
        return self.acceptance.first?.milliseconds
    }

    /// Makes everything appended so far durable.
    func sync() throws {
        try self.writer.sync()
    }

    /// Writes `records` with one write; returns where the record at index `marked` begins.
    private func write(_ records: [SpoolRecord], marking marked: Int?) throws -> Int? {
        let before = self.writer.segmentIndex
        let (written, markedOffset) = try self.writer.append(records, marking: marked)
        self.bytes += written
        if self.writer.segmentIndex != before {
            self.delete(self.ledger.rolled(to: self.writer.segmentIndex))
        }
        return markedOffset
    }

    /// Deletes `segments`, then flushes the directory: a deleted segment that came back after
    /// a power failure would send its calls again. The refs learned in them that are still
    /// remembered are carried into the refs file first.
    private func delete(_ segments: [UInt64]) {
        guard !segments.isEmpty else {
            return
        }
        self.carryLearnedRefs(from: segments)
        for segment in segments {
            let path = SpoolDirectory.path(ofSegment: segment, in: self.writer.directory)
            var status = stat()
            if stat(path, &status) == 0 {
                self.bytes -= Int(status.st_size)
            }
            _ = unlink(path)
        }
        self.deletions.segments += segments.count
        if !SpoolDirectory.syncEntries(of: self.writer.directory) {
            self.deletions.unsyncedDirectory += 1
        }
    }
}

// MARK: Learned refs

extension SpoolStore {
    /// Learned records carried into the refs file.
    var refsCarried: Int { self.refsFile.carried }

    /// Appends the learned records in `segments` still remembered to the refs file, flushed. When
    /// that fails the segments go all the same (keeping them would bring back calls resolved in
    /// later segments) and the refs are counted as not carried.
    private func carryLearnedRefs(from segments: [UInt64]) {
        let now = WallClock.milliseconds()
        let remembered = segments.flatMap { self.learnedIn.removeValue(forKey: $0) ?? [] }.filter {
            $0.isRemembered(at: now, ttlMilliseconds: self.refTTLMilliseconds)
        }
        guard !remembered.isEmpty else {
            return
        }
        do {
            try self.refsFile.append(remembered)
        } catch {
            self.refsNotCarried += remembered.count
        }
    }
}

// MARK: Compaction

extension SpoolStore {
    /// The oldest segment and what it holds, unless it is the one being written.
    var oldestSegment: (segment: UInt64, occupancy: SegmentLedger.Occupancy)? { self.ledger.oldest }

    /// Compacts `segment`, the oldest: copies the calls still pending in it into the segment
    /// being written as `relocated` records, flushes them to disk, and only then deletes the
    /// segment. A kill in between leaves both copies, and replay counts the call once; a torn
    /// copy leaves the old segment, which still holds it.
    func compact(_ segment: UInt64) throws {
        let copies = try self.copyForward(from: segment)
        self.release(segment, copied: copies)
        if let left = self.ledger.oldest, left.segment == segment {
            throw SpoolWriter.WriteError(
                description:
                    "\(left.occupancy.unresolved) pending calls of spool segment \(segment) were not found in it")
        }
    }

    /// The first half of ``compact(_:)``: the copies written and flushed, the old segment kept.
    func copyForward(from segment: UInt64) throws -> [UInt64] {
        let path = SpoolDirectory.path(ofSegment: segment, in: self.writer.directory)
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw SpoolWriter.WriteError(description: "cannot read the spool segment \(path) to compact it")
        }
        let records = SegmentReplay.read(ByteBuffer(bytes: contents)).records
        let copies: [SpoolRecord] = records.compactMap { record in
            guard let message = record.message, self.ledger.segment(ofPending: message.sequence) == segment else {
                return nil
            }
            return .relocated(message)
        }
        if !copies.isEmpty {
            _ = try self.write(copies, marking: nil)
            try self.sync()
        }
        return copies.compactMap { $0.message?.sequence }
    }

    /// The second half of ``compact(_:)``: `segment`'s pending calls live in their copies now.
    func release(_ segment: UInt64, copied sequences: [UInt64]) {
        self.compactions.segments += 1
        self.compactions.callsCopied += sequences.count
        self.delete(self.ledger.relocated(sequences, from: segment))
    }
}
