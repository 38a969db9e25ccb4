import NIOCore

/// The rules for a `track.group` message, after PromptLayer's `POST /rest/track-group`.
enum TrackGroupRules {
    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        let requestID = try fields.requestID(allowsString: false)
        let group = try fields.requiredInteger("group_id", in: Int64.min...Int64.max)
        return TrackMessage(
            kind: .group,
            replyID: replyID,
            coalescingKey: CoalescingKey(kind: .group, requestID: requestID, detail: .groupID(group)),
            body: fields.upstreamBody(from: payload)
        )
    }
}
