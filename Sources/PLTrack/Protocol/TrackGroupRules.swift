import NIOCore

/// The rules for a `track.group` message, after PromptLayer's `POST /rest/track-group`.
enum TrackGroupRules {
    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        let requestID = try fields.requestID(allowsString: false)
        return TrackMessage(
            kind: .group,
            replyID: replyID,
            coalescingKey: CoalescingKey(kind: .group, requestID: requestID, detail: try Self.detail(fields)),
            body: fields.upstreamBody(from: payload)
        )
    }

    /// Groups coalesce per `group_id`: different groups for one request stay separate calls.
    static func detail(_ fields: MessageFields) throws(ProtocolError) -> CoalescingDetail {
        .groupID(try fields.requiredInteger("group_id", in: Int64.min...Int64.max))
    }
}
