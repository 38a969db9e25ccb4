import NIOCore

/// One record of a spool segment.
///
/// On disk: a 4-byte big-endian payload length N, a 4-byte big-endian CRC-32C of the type
/// byte and the payload, the type byte, then N bytes of payload. A record whose length runs
/// past the end of the file, or whose checksum does not match, marks the damage point.
enum SpoolRecord: Equatable {
    /// A message taken in: its sequence number, when it was accepted (milliseconds since the
    /// Unix epoch), its kind, its request id and its upstream body.
    case accepted(SpooledMessage)
    /// The message with this sequence number reached a final outcome and need not be replayed.
    case resolved(sequence: UInt64)
    /// A copy of a message still pending, written forward when its old segment was compacted.
    /// Replay takes it as the message; the backlog reader skips it, since the pipeline had
    /// the message already.
    case relocated(SpooledMessage)
    /// PromptLayer answered the `log.request` with this sequence number with an id: the log is
    /// resolved, and calls that name its ref go with the id. Payload: the sequence number, the
    /// id, when it was learned (milliseconds since the epoch), then the ref's bytes.
    case learned(LearnedRef)

    static let headerLength = 9
    private static let acceptedType: UInt8 = 1
    private static let resolvedType: UInt8 = 2
    private static let relocatedType: UInt8 = 3
    private static let learnedType: UInt8 = 4

    /// The message an `accepted` or `relocated` record holds.
    var message: SpooledMessage? {
        switch self {
        case .accepted(let message), .relocated(let message): message
        case .resolved, .learned: nil
        }
    }

    /// The sequence number of the call an outcome record resolves.
    var resolvedSequence: UInt64? {
        switch self {
        case .resolved(let sequence): sequence
        case .learned(let learned): learned.sequence
        case .accepted, .relocated: nil
        }
    }

    /// Appends the record, header and all, to `buffer`.
    func write(to buffer: inout ByteBuffer) {
        var gather = RecordGather()
        self.write(to: &gather)
        gather.write(to: &buffer)
    }

    /// Appends the record to `gather`: the header and fixed fields as framing, a call's body
    /// members as a piece of their own. The length and checksum are filled in once the payload
    /// is laid out, so no temporary buffer is needed.
    func write(to gather: inout RecordGather) {
        let recordStart = gather.byteCount
        let headerIndex = gather.writeFraming { buffer in
            let index = buffer.writerIndex
            buffer.writeInteger(UInt32(0))  // the payload length, filled in below
            buffer.writeInteger(UInt32(0))  // the checksum, filled in below
            return index
        }
        var checksum: UInt32
        switch self {
        case .accepted(let message), .relocated(let message):
            let type = if case .relocated = self { Self.relocatedType } else { Self.acceptedType }
            checksum = gather.writeFraming { buffer in
                buffer.writeInteger(type)
                message.writeFields(to: &buffer)
                buffer.writeStaticString("{")
                return Self.checksum(of: buffer, from: headerIndex + 8)
            }
            gather.appendMembers(message.body.members)
            checksum = message.body.members.withUnsafeReadableBytes { CRC32C.checksum($0, continuing: checksum) }
            gather.writeFraming { $0.writeStaticString("}") }
            checksum = CRC32C.checksum(Self.closingBrace, continuing: checksum)
        case .resolved(let sequence):
            checksum = gather.writeFraming { buffer in
                buffer.writeInteger(Self.resolvedType)
                buffer.writeInteger(sequence)
                return Self.checksum(of: buffer, from: headerIndex + 8)
            }
        case .learned(let learned):
            checksum = gather.writeFraming { buffer in
                buffer.writeInteger(Self.learnedType)
                buffer.writeInteger(learned.sequence)
                buffer.writeInteger(learned.id)
                buffer.writeInteger(learned.learnedAtMilliseconds)
                buffer.writeString(learned.ref)
                return Self.checksum(of: buffer, from: headerIndex + 8)
            }
        }
        gather.setFraming(UInt32(gather.byteCount - recordStart - Self.headerLength), at: headerIndex)
        gather.setFraming(checksum, at: headerIndex + 4)
    }

    private static let closingBrace: [UInt8] = [UInt8(ascii: "}")]

    /// The CRC-32C of `buffer`'s bytes from `index` to its end.
    private static func checksum(of buffer: ByteBuffer, from index: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { readable in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: readable[(index - buffer.readerIndex)...]))
        }
    }

    /// The CRC-32C of the type byte at `typeIndex` and the payload after it.
    private static func checksum(of buffer: ByteBuffer, typeAt typeIndex: Int, payloadLength: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { readable in
            let from = typeIndex - buffer.readerIndex
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: readable[from..<(from + 1 + payloadLength)]))
        }
    }

    /// What reading one record from the front of `buffer` found.
    enum ReadResult: Equatable {
        case record(SpoolRecord)
        /// Nothing left: a clean end.
        case end
        /// The bytes from here on are not a whole, intact record.
        case damaged(reason: String)
    }

    /// Reads one record, consuming it; on damage, consumes nothing.
    static func read(from buffer: inout ByteBuffer) -> ReadResult {
        guard buffer.readableBytes > 0 else {
            return .end
        }
        guard buffer.readableBytes >= Self.headerLength,
            let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
            let checksum = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self),
            let type = buffer.getInteger(at: buffer.readerIndex + 8, as: UInt8.self)
        else {
            return .damaged(reason: "a record header is cut off")
        }
        guard let payload = buffer.getSlice(at: buffer.readerIndex + Self.headerLength, length: Int(length)) else {
            return .damaged(reason: "a record of \(length) bytes is cut off")
        }
        guard Self.checksum(of: buffer, typeAt: buffer.readerIndex + 8, payloadLength: Int(length)) == checksum else {
            return .damaged(reason: "a record's checksum does not match")
        }
        var body = payload
        let record: SpoolRecord?
        switch type {
        case Self.acceptedType:
            record = SpooledMessage.read(from: &body).map { .accepted($0) }
        case Self.resolvedType:
            record = body.readInteger(as: UInt64.self).map { .resolved(sequence: $0) }
        case Self.relocatedType:
            record = SpooledMessage.read(from: &body).map { .relocated($0) }
        case Self.learnedType:
            if let sequence = body.readInteger(as: UInt64.self), let id = body.readInteger(as: Int64.self),
                let learnedAt = body.readInteger(as: Int64.self), let ref = body.readString(length: body.readableBytes)
            {
                record = .learned(LearnedRef(sequence: sequence, ref: ref, id: id, learnedAtMilliseconds: learnedAt))
            } else {
                record = nil
            }
        default:
            record = nil
        }
        guard let record else {
            return .damaged(reason: "a record of unknown type \(type) or malformed payload")
        }
        buffer.moveReaderIndex(forwardBy: Self.headerLength + Int(length))
        return .record(record)
    }
}

/// A tracking call as the spool keeps it.
struct SpooledMessage: Equatable {
    var sequence: UInt64
    var acceptedAtMilliseconds: Int64
    var kind: TrackKind
    var requestID: RequestID
    var body: TrackBody

    /// The bytes its `accepted` record takes in a segment, header included.
    var recordLength: Int {
        let requestID =
            switch self.requestID {
            case .integer: 8
            case .string(let value), .ref(let value): 4 + value.utf8.count
            }
        return SpoolRecord.headerLength + 8 + 8 + 4 + self.kind.rawValue.utf8.count + 1 + requestID + 4
            + self.body.byteCount
    }

    /// Writes everything but the body: the fields, then the body's length.
    func writeFields(to buffer: inout ByteBuffer) {
        buffer.writeInteger(self.sequence)
        buffer.writeInteger(self.acceptedAtMilliseconds)
        Self.writeString(self.kind.rawValue, to: &buffer)
        switch self.requestID {
        case .integer(let value):
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(value)
        case .string(let value):
            buffer.writeInteger(UInt8(1))
            Self.writeString(value, to: &buffer)
        case .ref(let value):
            buffer.writeInteger(UInt8(2))
            Self.writeString(value, to: &buffer)
        }
        buffer.writeInteger(UInt32(self.body.byteCount))
    }

    static func read(from buffer: inout ByteBuffer) -> SpooledMessage? {
        guard let sequence = buffer.readInteger(as: UInt64.self),
            let acceptedAt = buffer.readInteger(as: Int64.self),
            let kindName = Self.readString(from: &buffer), let kind = TrackKind(rawValue: kindName),
            let requestKind = buffer.readInteger(as: UInt8.self)
        else {
            return nil
        }
        let requestID: RequestID
        switch requestKind {
        case 0:
            guard let value = buffer.readInteger(as: Int64.self) else { return nil }
            requestID = .integer(value)
        case 1:
            guard let value = Self.readString(from: &buffer) else { return nil }
            requestID = .string(value)
        case 2:
            guard let value = Self.readString(from: &buffer) else { return nil }
            requestID = .ref(value)
        default:
            return nil
        }
        guard let length = buffer.readInteger(as: UInt32.self), let object = buffer.readSlice(length: Int(length)),
            buffer.readableBytes == 0, let body = TrackBody(object: object)
        else {
            return nil
        }
        return SpooledMessage(
            sequence: sequence, acceptedAtMilliseconds: acceptedAt, kind: kind, requestID: requestID, body: body)
    }

    private static func writeString(_ value: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(value.utf8.count))
        buffer.writeString(value)
    }

    private static func readString(from buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt32.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}
