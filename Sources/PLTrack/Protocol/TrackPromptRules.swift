import NIOCore

/// The rules for a `track.prompt` message, after PromptLayer's `TrackPromptRequest`.
enum TrackPromptRules {
    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        let promptName = try fields.requiredString("prompt_name")
        guard promptName.scalarCount > 0 else {
            throw .invalidMessage("field \"prompt_name\" must be a non-empty string")
        }
        let requestID = try fields.requestID(allowsString: true)
        if let variables = fields.member("prompt_input_variables"), variables.kind != .object, variables.kind != .null {
            throw .invalidMessage("field \"prompt_input_variables\" must be an object, not \(variables.kind.article)")
        }
        let version = try fields.optionalInteger("version", in: 1...Int64.max)
        let label = try Self.label(fields)
        if version != nil && label != nil {
            throw .invalidMessage("fields \"version\" and \"label\" cannot both be given; choose one")
        }
        return TrackMessage(
            kind: .prompt,
            replyID: replyID,
            coalescingKey: CoalescingKey(kind: .prompt, requestID: requestID),
            body: fields.upstreamBody(from: payload)
        )
    }

    /// `label`: a string of 1 to 512 characters.
    private static func label(_ fields: MessageFields) throws(ProtocolError) -> JSONStringValue? {
        guard let member = fields.member("label"), member.kind != .null else {
            return nil
        }
        guard case .string(let value) = member.kind,
            (1...MessageValidator.maximumLabelLength).contains(value.scalarCount)
        else {
            throw .invalidMessage(
                "field \"label\" must be a string of 1 to \(MessageValidator.maximumLabelLength) characters"
            )
        }
        return value
    }
}
