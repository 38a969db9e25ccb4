import NIOCore

/// What one spool segment holds, read back after a restart: every intact record up to the
/// first damaged one, and where and why reading stopped if it did not reach a clean end.
struct SegmentReplay: Equatable {
    /// The intact records, in the order written.
    var records: [SpoolRecord]
    /// Where the damage starts (byte offset in the segment) and why; `nil` for a clean segment.
    var damage: (offset: Int, reason: String)?

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.records == rhs.records && lhs.damage?.offset == rhs.damage?.offset
            && lhs.damage?.reason == rhs.damage?.reason
    }

    /// The magic bytes every segment starts with, then a 4-byte big-endian format version.
    static let magic = Array("PLTSPOOL".utf8)
    static let version: UInt32 = 1
    static var headerLength: Int { Self.magic.count + 4 }

    /// Reads a whole segment's bytes. Never fails: damage is reported, not thrown.
    static func read(_ contents: ByteBuffer) -> SegmentReplay {
        var buffer = contents
        guard buffer.readBytes(length: Self.magic.count) == Self.magic else {
            return SegmentReplay(records: [], damage: (0, "the segment does not start with the spool's magic bytes"))
        }
        guard buffer.readInteger(as: UInt32.self) == Self.version else {
            return SegmentReplay(records: [], damage: (Self.magic.count, "unknown spool format version"))
        }
        var records: [SpoolRecord] = []
        while true {
            let offset = buffer.readerIndex - contents.readerIndex
            switch SpoolRecord.read(from: &buffer) {
            case .record(let record):
                records.append(record)
            case .end:
                return SegmentReplay(records: records, damage: nil)
            case .damaged(let reason):
                return SegmentReplay(records: records, damage: (offset, reason))
            }
        }
    }

    /// The header a new segment starts with.
    static func header() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(Self.version)
        return buffer
    }
}
