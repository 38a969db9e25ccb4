import Glibc
import NIOCore

/// Appends spool records to segment files in a directory, and makes them durable on
/// ``sync()``: one `fsync` covers every record written since the last, which is what lets
/// acknowledgements be grouped behind a single disk flush.
///
/// Segments are named `segment-<16 hex digits>.pltspool`, start with the spool header, are
/// created with mode 0600, and roll over to a new file past ``segmentBytes``.
final class SpoolWriter {
    /// Why the spool could not be written.
    struct WriteError: Error, CustomStringConvertible {
        var description: String
    }

    let directory: String
    let segmentBytes: Int
    private(set) var segmentIndex: UInt64
    private var descriptor: Int32 = -1
    private var segmentSize = 0
    private var unsynced = false
    /// A failed write left bytes that could not be cut off again: the next record goes to a
    /// new segment, so that nothing is written after a torn record.
    private var mustRollOver = false

    /// Opens a new segment after the highest one already in `directory`.
    init(directory: String, segmentBytes: Int = 64 << 20) throws {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.segmentIndex = (SpoolDirectory.segments(in: directory).last?.index ?? 0)
        try self.openNextSegment()
    }

    deinit {
        if self.descriptor >= 0 {
            close(self.descriptor)
        }
    }

    /// Bytes in the segment being written: where the next record goes.
    var currentSegmentSize: Int { self.segmentSize }

    /// The path of the segment being written.
    var currentSegmentPath: String { SpoolDirectory.path(ofSegment: self.segmentIndex, in: self.directory) }

    /// Appends `records` to the current segment (rolling over first if it is full) with one
    /// `writev(2)`; returns the bytes written, a new segment's header included.
    @discardableResult
    func append(_ records: [SpoolRecord]) throws -> Int {
        try self.append(records, marking: nil).bytes
    }

    /// Appends `records` with one `writev(2)` (more past `IOV_MAX` pieces), as ``append(_:)``; also returns where the record
    /// at index `marked` begins in its segment, for a reader that starts there.
    func append(_ records: [SpoolRecord], marking marked: Int?) throws -> (bytes: Int, markedOffset: Int?) {
        let sizeBefore = self.segmentSize
        var rolledOver = 0
        if self.descriptor < 0 || self.segmentSize >= self.segmentBytes || self.mustRollOver {
            try self.rollOver()
            rolledOver = sizeBefore
        }
        let recordsStart = self.segmentSize
        var gather = RecordGather()
        var markedOffset: Int?
        for (index, record) in records.enumerated() {
            if index == marked {
                markedOffset = recordsStart + gather.byteCount
            }
            record.write(to: &gather)
        }
        do {
            try self.write(&gather)
        } catch {
            self.cutBack(to: recordsStart)
            throw error
        }
        self.unsynced = true
        return (self.segmentSize - sizeBefore + rolledOver, markedOffset)
    }

    /// Flushes everything appended so far to stable storage.
    func sync() throws {
        guard self.unsynced else {
            return
        }
        guard fsync(self.descriptor) == 0 else {
            throw WriteError(
                description: "cannot fsync \(self.currentSegmentPath): \(String(cString: strerror(errno)))")
        }
        self.unsynced = false
    }

    /// Closes the segment, durable, and opens the next. After a failed open there is no segment,
    /// and the next append tries again.
    private func rollOver() throws {
        if self.descriptor >= 0 {
            try self.sync()
            close(self.descriptor)
            self.descriptor = -1
        }
        try self.openNextSegment()
    }

    /// Removes what a failed write left after `size` (a disk that filled up mid-record), so that
    /// the records after it are not lost behind a torn one on replay.
    private func cutBack(to size: Int) {
        if ftruncate(self.descriptor, off_t(size)) == 0 {
            self.segmentSize = size
        } else {
            self.mustRollOver = true
        }
    }

    private func openNextSegment() throws {
        self.segmentIndex += 1
        let path = self.currentSegmentPath
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw WriteError(
                description: "cannot create the spool segment \(path): \(String(cString: strerror(errno)))")
        }
        self.descriptor = fd
        self.segmentSize = 0
        self.mustRollOver = false
        var header = RecordGather()
        header.writeFraming { $0.writeImmutableBuffer(SegmentReplay.header()) }
        try self.write(&header)
        // The new file's name must survive a crash too.
        SpoolDirectory.syncEntries(of: self.directory)
        self.unsynced = true
    }

    /// Writes every piece of `gather` in order, with as few `writev(2)` calls as `IOV_MAX` allows.
    private func write(_ gather: inout RecordGather) throws {
        let pieces = gather.finish()
        var vectors = IOVectors(framing: gather.framing, pieces: pieces)
        defer { vectors.release() }
        while let batch = vectors.nextBatch() {
            let written = batch.withUnsafeBufferPointer {
                Glibc.writev(self.descriptor, $0.baseAddress, Int32($0.count))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError(
                    description: "cannot write \(self.currentSegmentPath): \(String(cString: strerror(errno)))")
            }
            vectors.advance(by: written)
            self.segmentSize += written
        }
    }
}
