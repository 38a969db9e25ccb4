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
            coalescingKey: CoalescingKey(kind: .score, requestID: requestID, detail: try Self.detail(fields)),
            body: fields.upstreamBody(from: payload)
        )
    }

    /// Scores coalesce per `name`; none is PromptLayer's `default`.
    static func detail(_ fields: MessageFields) throws(ProtocolError) -> CoalescingDetail {
        .scoreName(try Self.name(fields) ?? Self.defaultName)
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
