import NIOCore

/// The rules for a `track.score` message, after PromptLayer's `POST /rest/track-score`.
enum TrackScoreRules {
    /// The name PromptLayer gives a score sent without one.
    static let defaultName = "default"

    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        let requestID = try fields.requestID(allowsString: false)
        _ = try fields.requiredInteger("score", in: 0...100)
        return TrackMessage(
            kind: .score,
            replyID: replyID,
            coalescingKey: CoalescingKey(
                kind: .score, requestID: requestID, detail: .scoreName(try Self.name(fields) ?? Self.defaultName)),
            body: fields.upstreamBody(from: payload)
        )
    }

    /// `name`: optional, a non-empty string.
    private static func name(_ fields: MessageFields) throws(ProtocolError) -> String? {
        guard let member = fields.member("name"), member.kind != .null else {
            return nil
        }
        guard case .string(let value) = member.kind, value.scalarCount > 0 else {
            throw .invalidMessage("field \"name\" must be a non-empty string")
        }
        return fields.text(value)
    }
}
