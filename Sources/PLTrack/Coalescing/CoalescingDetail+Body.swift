import NIOCore

extension CoalescingDetail {
    /// The detail of a call of `kind` whose body is `body`, as its validation found it: for a
    /// call read back from the spool, which keeps the kind, the request and the body.
    init(kind: TrackKind, body: TrackBody) {
        guard kind == .score || kind == .group else {
            self = .none
            return
        }
        var text = ByteBuffer()
        body.write(to: &text)
        self = text.withUnsafeReadableBytes { bytes in
            guard case .object(let members)? = try? JSONScanner.scan(bytes) else {
                return .none
            }
            let fields = MessageFields(bytes: bytes, members: members)
            switch kind {
            case .score:
                guard case .string(let name)? = fields.member("name")?.kind, name.scalarCount > 0 else {
                    return .scoreName(TrackScoreRules.defaultName)
                }
                return .scoreName(fields.text(name))
            default:
                guard case .integer(let text)? = fields.member("group_id")?.kind, let group = fields.int64(text) else {
                    return .none
                }
                return .groupID(group)
            }
        }
    }
}
