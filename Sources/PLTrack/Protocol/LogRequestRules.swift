import NIOCore

/// The rules for a `log.request` message, after PromptLayer's `LogRequest` (`POST /log-request`):
/// the request log itself, named by a `ref` the client chose, so that track calls sent before
/// PromptLayer answers can name it as `request_ref`.
enum LogRequestRules {
    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        guard let ref = try fields.optionalRef("ref") else {
            throw .invalidMessage(
                "field \"ref\" is required: a string of your choosing, unique per request (a UUID, say), that track calls name as \"request_ref\""
            )
        }
        if fields.member("request_id") != nil || fields.member("request_ref") != nil {
            throw .invalidMessage(
                "a log.request has no \"request_id\" or \"request_ref\": PromptLayer gives the id, and \"ref\" names it"
            )
        }
        _ = try fields.requiredString("provider")
        _ = try fields.requiredString("model")
        try Self.checkPrompt("input", fields)
        try Self.checkPrompt("output", fields)
        try Self.checkTime("request_start_time", fields)
        try Self.checkTime("request_end_time", fields)
        try Self.checkOptional(fields)
        return TrackMessage(
            kind: .log,
            replyID: replyID,
            coalescingKey: CoalescingKey(kind: .log, requestID: .ref(ref)),
            body: fields.upstreamBody(from: payload, omitting: ["ref"])
        )
    }

    /// The optional members PromptLayer gives a type.
    private static func checkOptional(_ fields: MessageFields) throws(ProtocolError) {
        for name in ["prompt_name", "function_name", "api_type", "error_message"] {
            _ = try Self.optionalString(name, fields)
        }
        for name in ["parameters", "prompt_input_variables"] {
            try Self.checkKind(name, fields, is: .object, "an object")
        }
        try Self.checkKind("tags", fields, is: .array, "an array of strings")
        if fields.member("metadata").map({ $0.kind != .null }) ?? false {
            try TrackMetadataRules.checkMetadata(fields)
        }
        _ = try fields.optionalInteger("score", in: 0...100)
        _ = try fields.optionalInteger("prompt_id", in: Int64.min...Int64.max)
        _ = try fields.optionalInteger("prompt_version_number", in: 1...Int64.max)
        _ = try fields.optionalInteger("input_tokens", in: 0...Int64.max)
        _ = try fields.optionalInteger("output_tokens", in: 0...Int64.max)
        try Self.checkPrice(fields)
        try Self.checkChoice("status", Self.statuses, fields)
        try Self.checkChoice("error_type", Self.errorTypes, fields)
    }

    static let statuses = ["SUCCESS", "WARNING", "ERROR"]
    static let errorTypes = [
        "PROVIDER_TIMEOUT", "PROVIDER_QUOTA_LIMIT", "PROVIDER_RATE_LIMIT", "PROVIDER_PARTIAL_RESPONSE",
        "PROVIDER_AUTH_ERROR", "PROVIDER_ERROR", "TEMPLATE_RENDER_ERROR", "VARIABLE_MISSING_OR_EMPTY", "UNKNOWN_ERROR",
    ]

    /// `input` or `output`: a chat prompt (`"type": "chat"` with a `messages` array) or a
    /// completion prompt (`"type": "completion"` with a `content` array).
    private static func checkPrompt(_ name: String, _ fields: MessageFields) throws(ProtocolError) {
        guard let member = fields.member(name), member.kind != .null else {
            throw .invalidMessage("field \"\(name)\" is required")
        }
        let rule =
            "field \"\(name)\" must be a prompt: {\"type\": \"chat\", \"messages\": [...]} or {\"type\": \"completion\", \"content\": [...]}"
        guard member.kind == .object else {
            throw .invalidMessage("\(rule), not \(member.kind.article)")
        }
        let object = UnsafeRawBufferPointer(rebasing: fields.bytes[member.valueRange])
        // The frame scanned whole, so its part scans too; the guard only satisfies the types.
        guard case .object(let members)? = try? JSONScanner.scan(object) else {
            throw .invalidMessage(rule)
        }
        let prompt = MessageFields(bytes: object, members: members)
        guard let type = prompt.member("type"), case .string(let value) = type.kind else {
            throw .invalidMessage("\(rule); its \"type\" is missing")
        }
        let required: String
        switch prompt.text(value) {
        case "chat": required = "messages"
        case "completion": required = "content"
        default: throw .invalidMessage("\(rule); its \"type\" is neither")
        }
        guard let list = prompt.member(required), list.kind == .array else {
            throw .invalidMessage("field \"\(name)\" is a \(prompt.text(value)) prompt without a \"\(required)\" array")
        }
    }

    /// A time: an RFC 3339 date-time string, as the API description says, or a number of
    /// seconds since the epoch, as the official SDK sends; forwarded as written.
    private static func checkTime(_ name: String, _ fields: MessageFields) throws(ProtocolError) {
        guard let member = fields.member(name), member.kind != .null else {
            throw .invalidMessage("field \"\(name)\" is required")
        }
        switch member.kind {
        case .integer, .fractionalNumber:
            return
        case .string(let value) where RFC3339.isDateTime(fields.text(value)):
            return
        default:
            throw .invalidMessage(
                "field \"\(name)\" must be an RFC 3339 date-time string (2024-01-15T10:30:00Z) or a number of seconds since 1970"
            )
        }
    }

    /// `price`: a number, not negative.
    private static func checkPrice(_ fields: MessageFields) throws(ProtocolError) {
        guard let member = fields.member("price"), member.kind != .null else {
            return
        }
        let isNumber: Bool
        switch member.kind {
        case .integer, .fractionalNumber: isNumber = true
        default: isNumber = false
        }
        guard isNumber, fields.bytes[member.valueRange.lowerBound] != UInt8(ascii: "-") else {
            throw .invalidMessage("field \"price\" must be a number, 0 or more")
        }
    }

    private static func optionalString(_ name: String, _ fields: MessageFields) throws(ProtocolError)
        -> JSONStringValue?
    {
        guard let member = fields.member(name), member.kind != .null else {
            return nil
        }
        guard case .string(let value) = member.kind else {
            throw .invalidMessage("field \"\(name)\" must be a string, not \(member.kind.article)")
        }
        return value
    }

    private static func checkKind(
        _ name: String, _ fields: MessageFields, is kind: JSONValueKind, _ description: String
    ) throws(ProtocolError) {
        guard let member = fields.member(name), member.kind != .null else {
            return
        }
        guard member.kind == kind else {
            throw .invalidMessage("field \"\(name)\" must be \(description), not \(member.kind.article)")
        }
    }

    private static func checkChoice(_ name: String, _ choices: [String], _ fields: MessageFields)
        throws(ProtocolError)
    {
        guard let value = try Self.optionalString(name, fields) else {
            return
        }
        guard choices.contains(fields.text(value)) else {
            throw .invalidMessage("field \"\(name)\" must be one of \(choices.joined(separator: ", "))")
        }
    }
}
