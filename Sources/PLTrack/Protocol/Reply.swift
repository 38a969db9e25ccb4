import NIOCore

/// A reply to a client, in protocol v1's shape: `{"id": …, "ok": true, …}` or
/// `{"id": …, "ok": false, "error": {"code": …, "message": …}}`.
public enum Reply: Sendable, Equatable {
    case ok(id: ReplyID?)
    /// A success that carries one more member, already encoded as JSON (for example `stats`).
    case okWith(id: ReplyID?, name: String, json: String)
    case error(id: ReplyID?, ProtocolError)

    /// The reply as one frame: length prefix, then the JSON object.
    public func encodedFrame(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 32)
        self.writeFrame(to: &buffer)
        return buffer
    }

    /// Appends the reply as one frame to `buffer`, written in place: the length prefix is
    /// filled in after the object, and an `ok` builds no `String`.
    public func writeFrame(to buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))  // the length, filled in below
        buffer.writeStaticString("{")
        if let id = self.id {
            buffer.writeStaticString("\"id\":")
            buffer.writeString(id.json)
            buffer.writeStaticString(",")
        }
        switch self {
        case .ok:
            buffer.writeStaticString("\"ok\":true")
        case .okWith(_, let name, let member):
            buffer.writeStaticString("\"ok\":true,")
            buffer.writeString(JSONText.quoted(name))
            buffer.writeStaticString(":")
            buffer.writeString(member)
        case .error(_, let error):
            buffer.writeStaticString("\"ok\":false,\"error\":{\"code\":\"")
            buffer.writeString(error.code.rawValue)
            buffer.writeStaticString("\",\"message\":")
            buffer.writeString(JSONText.quoted(error.message))
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("}")
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
    }

    var id: ReplyID? {
        switch self {
        case .ok(let id), .okWith(let id, _, _), .error(let id, _): id
        }
    }
}

extension Reply {
    /// The reply to a `request_id` query: `"request_id": <id>`, or why there is none after `waited`.
    init(_ id: ReplyID, answering answer: RequestIDAnswer, waited: TimeAmount) {
        switch answer {
        case .id(let requestID):
            self = .okWith(id: id, name: "request_id", json: String(requestID))
        case .logFailed(let detail):
            self = .error(id: id, ProtocolError(.logFailed, detail))
        case .timedOut:
            self = .error(
                id: id,
                ProtocolError(
                    .timeout,
                    "PromptLayer had not answered the log.request with this ref within \(waited.nanoseconds / 1_000_000) ms"
                ))
        }
    }
}
