import NIOCore

/// The rules for a `track.metadata` message, after PromptLayer's `TrackMetadataRequest` and
/// the SDK, which sends only string values.
enum TrackMetadataRules {
    static func validate(
        _ fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> TrackMessage {
        let requestID = try fields.requestID(allowsString: true)
        try Self.checkMetadata(fields)
        return TrackMessage(
            kind: .metadata,
            replyID: replyID,
            coalescingKey: CoalescingKey(kind: .metadata, requestID: requestID),
            body: fields.upstreamBody(from: payload)
        )
    }

    /// `metadata`: an object whose values are all strings, each name given once.
    static func checkMetadata(_ fields: MessageFields) throws(ProtocolError) {
        guard let member = fields.member("metadata"), member.kind != .null else {
            throw .invalidMessage("field \"metadata\" is required")
        }
        guard member.kind == .object else {
            throw .invalidMessage("field \"metadata\" must be an object, not \(member.kind.article)")
        }
        let object = UnsafeRawBufferPointer(rebasing: fields.bytes[member.valueRange])
        // The frame scanned whole, so its part scans too; the guard only satisfies the types.
        guard case .object(let entries)? = try? JSONScanner.scan(object) else {
            throw .invalidMessage("field \"metadata\" must be an object")
        }
        var names = Set<String>()
        for entry in entries {
            let name = entry.key.text(in: object)
            guard case .string = entry.kind else {
                throw .invalidMessage(
                    "field \"metadata\" must hold only string values; \"\(name)\" is \(entry.kind.article)")
            }
            guard names.insert(name).inserted else {
                throw .invalidMessage("field \"metadata\" names \"\(name)\" more than once")
            }
        }
    }
}
