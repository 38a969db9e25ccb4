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
        var json = "{"
        if let id = self.id {
            json += "\"id\":\(id.json),"
        }
        switch self {
        case .ok:
            json += "\"ok\":true"
        case .okWith(_, let name, let member):
            json += "\"ok\":true,\(JSONText.quoted(name)):\(member)"
        case .error(_, let error):
            json +=
                "\"ok\":false,\"error\":{\"code\":\"\(error.code.rawValue)\",\"message\":\(JSONText.quoted(error.message))}"
        }
        json += "}"
        var buffer = allocator.buffer(capacity: json.utf8.count + 4)
        buffer.writeFrame(bytes: json.utf8)
        return buffer
    }

    var id: ReplyID? {
        switch self {
        case .ok(let id), .okWith(let id, _, _), .error(let id, _): id
        }
    }
}
