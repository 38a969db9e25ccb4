import NIOCore

/// A round's spool records laid out for `writev(2)`: headers, fixed fields and braces are
/// written into one framing buffer, and each call's body members stay the slice they are,
/// so a call's body is never copied on its way to disk.
struct RecordGather {
    /// One run of bytes in file order.
    enum Piece {
        /// Bytes of ``framing``, by index.
        case framing(Range<Int>)
        /// A call's body members, as held in memory.
        case members(ByteBuffer)
    }

    private(set) var framing = ByteBuffer()
    private(set) var pieces: [Piece] = []
    /// Where the framing run not yet in ``pieces`` starts.
    private var openRunStart = 0
    /// Bytes in all pieces so far, the open framing run included.
    private(set) var byteCount = 0

    /// Appends framing bytes by running `write` on the framing buffer; returns what it returned.
    @discardableResult
    mutating func writeFraming<Result>(_ write: (inout ByteBuffer) -> Result) -> Result {
        let before = self.framing.writerIndex
        let result = write(&self.framing)
        self.byteCount += self.framing.writerIndex - before
        return result
    }

    /// Appends `members` as a piece of their own.
    mutating func appendMembers(_ members: ByteBuffer) {
        guard members.readableBytes > 0 else {
            return
        }
        self.closeRun()
        self.pieces.append(.members(members))
        self.byteCount += members.readableBytes
    }

    /// Sets `value` at `index` of the framing buffer, in place.
    mutating func setFraming<Value: FixedWidthInteger>(_ value: Value, at index: Int) {
        self.framing.setInteger(value, at: index)
    }

    /// Every piece, the last framing run included.
    mutating func finish() -> [Piece] {
        self.closeRun()
        return self.pieces
    }

    /// Appends all pieces to `buffer`, as one run of bytes.
    mutating func write(to buffer: inout ByteBuffer) {
        for piece in self.finish() {
            switch piece {
            case .framing(let range):
                buffer.writeImmutableBuffer(
                    self.framing.getSlice(at: range.lowerBound, length: range.count) ?? ByteBuffer())
            case .members(let members):
                buffer.writeImmutableBuffer(members)
            }
        }
    }

    private mutating func closeRun() {
        if self.framing.writerIndex > self.openRunStart {
            self.pieces.append(.framing(self.openRunStart..<self.framing.writerIndex))
            self.openRunStart = self.framing.writerIndex
        }
    }
}
