import NIOCore
import Testing

@testable import PLTrack

extension TrackMessage {
    /// A `track.prompt` for `requestID` whose body records `revision`, to tell versions apart.
    static func prompt(_ requestID: Int64, revision: Int = 0, id: String? = nil) -> TrackMessage {
        TrackMessage(
            kind: .prompt,
            replyID: id.map { ReplyID(json: "\"\($0)\"") },
            coalescingKey: CoalescingKey(kind: .prompt, requestID: .integer(requestID)),
            body: TrackBody(#"{"prompt_name":"p","request_id":\#(requestID),"revision":\#(revision)}"#)
        )
    }
}

extension TrackBody {
    /// The body whose JSON text is `json`, an object.
    init(_ json: String) {
        let members = json.dropFirst().dropLast()
        #expect(json.first == "{" && json.last == "}", "a body is a JSON object")
        self.init(members: ByteBuffer(string: String(members)))
    }
}
