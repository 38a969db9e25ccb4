import Glibc
import NIOCore

/// Reads the backlog back from the spool: the messages accepted to disk only, because the
/// memory queue was full or they were replayed after a restart.
///
/// The backlog is every accepted record from the read position on, in file order, except
/// the ones a replay found resolved. A relocated record (a copy compaction wrote forward) is
/// part of it only as a replayed message not read yet: in the run that wrote it, the pipeline
/// had the message already. The position moves forward only, across segments; a
/// segment that ends in damage is left at the damage (replay already reported it).
///
/// Not thread-safe: ``SpoolJournal`` drives it under its lock, the same lock its writes take,
/// so it never sees half a record of the segment being written.
final class BacklogReader {
    private let directory: String
    private var segment: UInt64
    /// The file offset of `buffered`'s first readable byte.
    private var offset: Int
    private var descriptor: Int32 = -1
    private var buffered = ByteBuffer()
    /// Replayed messages not yet read; older records not in it were resolved before the restart.
    private var replayPending: Set<UInt64>
    private var replayHighest: UInt64

    private static let chunkBytes = 1 << 20

    /// Starts at the oldest segment a replay found, taking only `replayPending` among records
    /// up to `replayHighest`, and everything after.
    init(directory: String, replay: SpoolDirectory.Replay) {
        self.directory = directory
        self.segment = replay.segments.first?.index ?? 0
        self.offset = SegmentReplay.headerLength
        self.replayPending = Set(replay.pending.map(\.sequence))
        self.replayHighest = replay.highestSequence
    }

    deinit {
        if self.descriptor >= 0 {
            close(self.descriptor)
        }
    }

    /// The segment the reader is in: it has read every backlog call in the segments before it.
    var segmentIndex: UInt64 { self.segment }

    /// Moves to where the writer is about to append: the backlog starts there.
    func reposition(segment: UInt64, offset: Int) {
        self.closeSegment()
        self.segment = segment
        self.offset = offset
    }

    /// Reads up to `limit` backlog messages. Fewer come back only at the end of what
    /// `writerSegment` (the segment being written) holds.
    func read(limit: Int, writerSegment: UInt64) -> [SpooledMessage] {
        var messages: [SpooledMessage] = []
        while messages.count < limit {
            let before = self.buffered.readerIndex
            switch SpoolRecord.read(from: &self.buffered) {
            case .record(let record):
                self.offset += self.buffered.readerIndex - before
                switch record {
                case .accepted(let message) where self.isBacklog(message.sequence):
                    messages.append(message)
                case .relocated(let message) where self.replayPending.remove(message.sequence) != nil:
                    messages.append(message)
                case .accepted, .relocated, .resolved, .learned:
                    break
                }
            case .end, .damaged:
                if self.readMore() {
                    continue
                }
                guard self.segment < writerSegment, self.moveToNextSegment() else {
                    return messages
                }
            }
        }
        return messages
    }

    private func isBacklog(_ sequence: UInt64) -> Bool {
        sequence > self.replayHighest || self.replayPending.remove(sequence) != nil
    }

    /// Appends the next bytes of the segment to `buffered`; `false` at the end of the file.
    private func readMore() -> Bool {
        if self.descriptor < 0 {
            self.descriptor = open(
                SpoolDirectory.path(ofSegment: self.segment, in: self.directory), O_RDONLY | O_CLOEXEC)
            guard self.descriptor >= 0 else {
                return false
            }
        }
        self.buffered.discardReadBytes()
        let position = off_t(self.offset + self.buffered.readableBytes)
        var status = stat()
        guard fstat(self.descriptor, &status) == 0, status.st_size > position else {
            return false
        }
        // A record bigger than a chunk is read whole, but never more than the file holds: a
        // damaged length must not become a huge allocation.
        let declared = self.buffered.getInteger(at: 0, as: UInt32.self).map { Int($0) + SpoolRecord.headerLength } ?? 0
        let wanted = min(max(Self.chunkBytes, declared), Int(status.st_size - position))
        let read = self.buffered.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes in
            max(0, pread(self.descriptor, bytes.baseAddress, wanted, position))
        }
        return read > 0
    }

    /// Moves to the oldest segment after this one still on disk; `false` when there is none.
    private func moveToNextSegment() -> Bool {
        guard let next = SpoolDirectory.segments(in: self.directory).first(where: { $0.index > self.segment }) else {
            return false
        }
        self.reposition(segment: next.index, offset: SegmentReplay.headerLength)
        return true
    }

    private func closeSegment() {
        if self.descriptor >= 0 {
            close(self.descriptor)
            self.descriptor = -1
        }
        self.buffered.clear()
    }
}
