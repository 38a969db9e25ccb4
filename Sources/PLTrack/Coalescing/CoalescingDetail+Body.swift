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
            // The body passed these rules when it was taken; they give the same detail now.
            let fields = MessageFields(bytes: bytes, members: members)
            let detail = try? (kind == .score ? TrackScoreRules.detail(fields) : TrackGroupRules.detail(fields))
            return detail ?? .none
        }
    }
}
