import Glibc

/// The spool on disk: appends accepted messages and their outcomes to segments, makes them
/// durable on ``sync()``, and deletes each segment once every message in it is resolved.
///
/// Not thread-safe: one owner drives it (the spool's writer), which is also where group
/// commit happens: many ``append(_:)`` calls, then one ``sync()`` that covers them all.
final class SpoolStore {
    private let writer: SpoolWriter
    private var ledger: SegmentLedger
    /// Bytes in the segments still kept.
    private(set) var bytes: Int

    /// Opens a new segment in `directory` (created with mode 0700 if missing).
    init(directory: String, segmentBytes: Int = 64 << 20) throws {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SpoolWriter.WriteError(
                description: "cannot create the spool directory \(directory): \(String(cString: strerror(errno)))")
        }
        self.writer = try SpoolWriter(directory: directory, segmentBytes: segmentBytes)
        self.ledger = SegmentLedger(current: self.writer.segmentIndex)
        self.bytes = SpoolDirectory.segments(in: directory).reduce(0) { total, segment in
            var status = stat()
            return total + (stat(segment.path, &status) == 0 ? Int(status.st_size) : 0)
        }
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.ledger.pendingMessages }

    /// Appends accepted messages; durable after the next ``sync()``.
    func append(_ messages: [SpooledMessage]) throws {
        try self.write(messages.map { .accepted($0) })
        for message in messages {
            self.ledger.written(sequence: message.sequence)
        }
    }

    /// Records final outcomes and deletes the segments that no longer hold anything pending.
    func resolve(_ sequences: [UInt64]) throws {
        try self.write(sequences.map { .resolved(sequence: $0) })
        for sequence in sequences {
            self.delete(self.ledger.resolved(sequence: sequence))
        }
    }

    /// Makes everything appended so far durable.
    func sync() throws {
        try self.writer.sync()
    }

    private func write(_ records: [SpoolRecord]) throws {
        let before = self.writer.segmentIndex
        let written = try self.writer.append(records)
        self.bytes += written
        if self.writer.segmentIndex != before {
            self.delete(self.ledger.rolled(to: self.writer.segmentIndex))
        }
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
