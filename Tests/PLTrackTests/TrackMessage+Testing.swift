import NIOCore

@testable import PLTrack

extension TrackMessage {
    /// A `track.prompt` for `requestID` whose body records `revision`, to tell versions apart.
    static func prompt(_ requestID: Int64, revision: Int = 0, id: String? = nil) -> TrackMessage {
        TrackMessage(
            kind: .prompt,
            replyID: id.map { ReplyID(json: "\"\($0)\"") },
            coalescingKey: CoalescingKey(kind: .prompt, requestID: .integer(requestID)),
            body: ByteBuffer(string: #"{"prompt_name":"p","request_id":\#(requestID),"revision":\#(revision)}"#)
        )
    }
}
