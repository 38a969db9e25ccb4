import NIOCore

/// The JSON object sent upstream for a tracking call: the client's object without `type` and
/// `id`, every other member as the client wrote it.
///
/// It is held as the members between the braces. When the members kept lie together in the
/// frame, as they do when `type` and `id` come first or last, that is a slice of the bytes
/// read from the socket, not a copy; the braces are added where the body is written out.
public struct TrackBody: Sendable, Equatable, CustomStringConvertible {
    /// The members, without the braces around them.
    public let members: ByteBuffer

    public init(members: ByteBuffer) {
        self.members = members
    }

    /// The body of `object`, the text of a JSON object; `nil` when it is not wrapped in braces.
    public init?(object: ByteBuffer) {
        guard object.readableBytes >= 2, object.getInteger(at: object.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            object.getInteger(at: object.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "}"),
            let members = object.getSlice(at: object.readerIndex + 1, length: object.readableBytes - 2)
        else {
            return nil
        }
        self.members = members
    }

    /// The length of the JSON text, braces included.
    public var byteCount: Int { self.members.readableBytes + 2 }

    /// Appends the JSON text to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{")
        buffer.writeImmutableBuffer(self.members)
        buffer.writeStaticString("}")
    }

    /// The body in storage of its own when its slice keeps a much larger buffer alive (the read
    /// it came in with other calls), so that a call that waits long holds only its own bytes.
    public func compacted() -> TrackBody {
        guard self.members.storageCapacity > 2 * self.members.readableBytes + Self.slack else {
            return self
        }
        var own = ByteBufferAllocator().buffer(capacity: self.members.readableBytes)
        own.writeImmutableBuffer(self.members)
        return TrackBody(members: own)
    }

    /// The body with `"request_id": id` first: a call that named its request by `request_ref`,
    /// once PromptLayer has given the id (the ref itself is never in the body).
    public func naming(requestID id: Int64) -> TrackBody {
        var members = ByteBufferAllocator().buffer(capacity: self.members.readableBytes + 32)
        members.writeStaticString("\"request_id\":")
        members.writeString(String(id))
        if self.members.readableBytes > 0 {
            members.writeStaticString(",")
            members.writeImmutableBuffer(self.members)
        }
        return TrackBody(members: members)
    }

    /// Spare storage a body may keep before ``compacted()`` copies it out.
    private static let slack = 256

    /// The JSON text.
    public var description: String {
        "{" + String(buffer: self.members) + "}"
    }
}
