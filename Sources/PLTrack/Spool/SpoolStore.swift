import DequeModule
import Glibc
import NIOCore

/// The spool on disk: appends accepted messages and their outcomes to segments, makes them
/// durable on ``sync()``, and deletes each segment once every message in it is resolved.
///
/// Not thread-safe: one owner drives it (``SpoolJournal``, under its lock), which is also where
/// group commit happens: many ``append(_:)`` calls, then one `fsync` that covers them all.
final class SpoolStore {
    /// Why a message was not appended.
    enum AppendError: Error, Equatable {
        /// The spool holds `--spool-max-bytes` already.
        case full
        case failed(String)
    }

    private let writer: SpoolWriter
    private var ledger: SegmentLedger
    /// Pending messages in acceptance order, with when they were accepted; resolved ones are
    /// dropped from the front lazily, so the first pending one is the oldest undelivered.
    private var acceptance: Deque<(sequence: UInt64, milliseconds: Int64)> = []
    /// The most bytes the kept segments may hold.
    let maximumBytes: Int
    /// Bytes in the segments still kept.
    private(set) var bytes: Int

    /// Opens a new segment in `directory` (created with mode 0700 if missing), after the ones
    /// `replay` read there, whose pending messages it keeps until they are resolved.
    init(
        directory: String, segmentBytes: Int = 64 << 20, maximumBytes: Int = .max,
        replay: SpoolDirectory.Replay = .empty
    ) throws {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SpoolWriter.WriteError(
                description: "cannot create the spool directory \(directory): \(String(cString: strerror(errno)))")
        }
        self.maximumBytes = maximumBytes
        self.writer = try SpoolWriter(directory: directory, segmentBytes: segmentBytes)
        self.ledger = SegmentLedger(current: self.writer.segmentIndex)
        self.acceptance = Deque(replay.pending.map { ($0.sequence, $0.acceptedAtMilliseconds) })
        self.bytes = SpoolDirectory.segments(in: directory).reduce(0) { total, segment in
            var status = stat()
            return total + (stat(segment.path, &status) == 0 ? Int(status.st_size) : 0)
        }
        self.delete(
            self.ledger.seed(
                segments: replay.segments.map(\.index),
                pending: replay.pending.map { ($0.sequence, $0.segment) }))
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.ledger.pendingMessages }

    /// Where the next record goes: the segment being written and its size.
    var position: (segment: UInt64, offset: Int) { (self.writer.segmentIndex, self.writer.currentSegmentSize) }

    /// See ``SpoolWriter/duplicateDescriptor()``.
    func duplicateDescriptor() -> Int32 {
        self.writer.duplicateDescriptor()
    }

    /// Whether a message of `bodyBytes` would still fit under ``maximumBytes``.
    func hasRoom(forBody bodyBytes: Int = 0) -> Bool {
        self.bytes + bodyBytes + Self.recordOverhead <= self.maximumBytes
    }

    /// A record's bytes besides the body, generously: header, numbers and a long request id.
    private static let recordOverhead = 256

    /// Appends, with one write, as many of `messages` as fit under ``maximumBytes``, from the
    /// first; durable after the next sync. Returns how many, and where the record of the
    /// message at index `marked` begins, if it was written. Throws ``AppendError/full`` when
    /// not even the first fits.
    func append(fitting messages: [SpooledMessage], marking marked: Int?) throws(AppendError) -> (
        count: Int, marked: (segment: UInt64, offset: Int)?
    ) {
        var room = self.maximumBytes - self.bytes
        var count = 0
        for message in messages {
            room -= message.body.readableBytes + Self.recordOverhead
            guard room >= 0 else {
                break
            }
            count += 1
        }
        guard count > 0 else {
            throw .full
        }
        let taken = count == messages.count ? messages : Array(messages.prefix(count))
        do {
            let offset = try self.write(taken.map { .accepted($0) }, marking: marked.flatMap { $0 < count ? $0 : nil })
            self.noteWritten(taken)
            return (count, offset.map { (self.writer.segmentIndex, $0) })
        } catch {
            throw .failed("\(error)")
        }
    }

    /// Appends accepted messages; durable after the next ``sync()``.
    func append(_ messages: [SpooledMessage]) throws {
        try self.write(messages.map { .accepted($0) })
        self.noteWritten(messages)
    }

    private func noteWritten(_ messages: [SpooledMessage]) {
        for message in messages {
            self.ledger.written(sequence: message.sequence)
            self.acceptance.append((message.sequence, message.acceptedAtMilliseconds))
        }
    }

    /// Records final outcomes and deletes the segments that no longer hold anything pending.
    func resolve(_ sequences: [UInt64]) throws {
        try self.write(sequences.map { .resolved(sequence: $0) })
        for sequence in sequences {
            self.delete(self.ledger.resolved(sequence: sequence))
        }
    }

    /// When the oldest message still pending was accepted, in milliseconds since the epoch.
    func oldestPendingAcceptedAt() -> Int64? {
        while let first = self.acceptance.first, !self.ledger.isPending(first.sequence) {
            self.acceptance.removeFirst()
        }
        return self.acceptance.first?.milliseconds
    }

    /// Makes everything appended so far durable.
    func sync() throws {
        try self.writer.sync()
    }

    /// Writes `records` with one write; returns where the record at index `marked` begins.
    @discardableResult
    private func write(_ records: [SpoolRecord], marking marked: Int? = nil) throws -> Int? {
        let before = self.writer.segmentIndex
        let (written, markedOffset) = try self.writer.append(records, marking: marked)
        self.bytes += written
        if self.writer.segmentIndex != before {
            self.delete(self.ledger.rolled(to: self.writer.segmentIndex))
        }
        return markedOffset
    }

    private func delete(_ segments: [UInt64]) {
        for segment in segments {
            let path = SpoolDirectory.path(ofSegment: segment, in: self.writer.directory)
            var status = stat()
            if stat(path, &status) == 0 {
                self.bytes -= Int(status.st_size)
            }
            _ = unlink(path)
        }
    }
}
