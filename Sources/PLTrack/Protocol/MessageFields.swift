import NIOCore

/// The top-level members of one scanned message, with typed accessors that enforce one rule
/// each and throw an error naming the field and the rule.
///
/// `null` counts as absent for optional fields, as the PromptLayer API treats it.
struct MessageFields {
    let bytes: UnsafeRawBufferPointer
    let members: [JSONMember]

    /// The member called `name`, if present, found by comparing bytes.
    func member(_ name: String) -> JSONMember? {
        self.members.first { $0.key.equals(name, in: self.bytes) }
    }

    /// The decoded text of a scanned string.
    func text(_ value: JSONStringValue) -> String {
        value.text(in: self.bytes)
    }

    /// Rejects an object that names a top-level member twice: which value wins is undefined.
    ///
    /// A message has a handful of members, compared pairwise as bytes; only an object with
    /// many members pays for a set of decoded names, so a hostile one is not quadratic.
    func rejectRepeatedKeys() throws(ProtocolError) {
        if self.members.count <= Self.pairwiseLimit {
            for (index, member) in self.members.enumerated().dropFirst()
            where self.members[..<index].contains(where: { $0.key.equals(member.key, in: self.bytes) }) {
                throw .invalidMessage("field \"\(self.text(member.key))\" appears more than once")
            }
            return
        }
        var seen = Set<String>()
        for member in self.members where !seen.insert(self.text(member.key)).inserted {
            throw .invalidMessage("field \"\(self.text(member.key))\" appears more than once")
        }
    }

    /// Up to this many members, repeated names are found by comparing every pair.
    private static let pairwiseLimit = 16

    /// The optional `id`: a string of at most 128 characters or a 64-bit integer.
    func replyID() throws(ProtocolError) -> ReplyID? {
        guard let member = self.member("id") else {
            return nil
        }
        let json = String(decoding: self.bytes[member.valueRange], as: UTF8.self)
        switch member.kind {
        case .string(let value) where value.scalarCount <= MessageValidator.maximumIDLength:
            return ReplyID(json: json)
        case .integer(let text) where self.int64(text) != nil:
            return ReplyID(json: json)
        default:
            throw .invalidMessage(
                "field \"id\" must be a string of at most \(MessageValidator.maximumIDLength) characters or an integer that fits in 64 bits"
            )
        }
    }

    func requiredString(_ name: String) throws(ProtocolError) -> JSONStringValue {
        guard let member = self.member(name), member.kind != .null else {
            throw .invalidMessage("field \"\(name)\" is required")
        }
        guard case .string(let value) = member.kind else {
            throw .invalidMessage("field \"\(name)\" must be a string, not \(member.kind.article)")
        }
        return value
    }

    /// An optional integer within `range`, read exactly (never through a `Double`).
    func optionalInteger(_ name: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64? {
        guard let member = self.member(name), member.kind != .null else {
            return nil
        }
        guard case .integer(let text) = member.kind, let value = self.int64(text), range.contains(value) else {
            throw .invalidMessage(
                "field \"\(name)\" must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// `request_id`: an integer that fits in 64 bits, or, where `allowsString`, a non-empty string;
    /// or instead `request_ref`, the ref of a `log.request` whose id PromptLayer gives later.
    func requestID(allowsString: Bool) throws(ProtocolError) -> RequestID {
        let rule =
            allowsString
            ? "field \"request_id\" must be an integer that fits in 64 bits or a non-empty string"
            : "field \"request_id\" must be an integer that fits in 64 bits"
        let given = self.member("request_id").flatMap { $0.kind == .null ? nil : $0 }
        if let ref = try self.optionalRef("request_ref") {
            guard given == nil else {
                throw .invalidMessage(
                    "fields \"request_id\" and \"request_ref\" cannot both be given; name the request by one of them")
            }
            return .ref(ref)
        }
        guard let member = given else {
            throw .invalidMessage(
                "field \"request_id\" is required (or \"request_ref\", the ref of a log.request)")
        }
        switch member.kind {
        case .integer(let text):
            guard let value = self.int64(text) else {
                throw .invalidMessage(rule)
            }
            return .integer(value)
        case .string(let value) where allowsString && value.scalarCount > 0:
            return .string(self.text(value))
        default:
            throw .invalidMessage(rule)
        }
    }

    /// A ref: a non-empty string of at most ``MessageValidator/maximumRefBytes`` bytes of UTF-8,
    /// chosen by the client to name one `log.request`.
    func optionalRef(_ name: String) throws(ProtocolError) -> String? {
        guard let member = self.member(name), member.kind != .null else {
            return nil
        }
        let rule = "field \"\(name)\" must be a non-empty string of at most \(MessageValidator.maximumRefBytes) bytes"
        guard case .string(let value) = member.kind, value.scalarCount > 0 else {
            throw .invalidMessage(rule)
        }
        let text = self.text(value)
        guard text.utf8.count <= MessageValidator.maximumRefBytes else {
            throw .invalidMessage(rule)
        }
        return text
    }

    /// A required integer within `range`, read exactly (never through a `Double`).
    func requiredInteger(_ name: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        guard let value = try self.optionalInteger(name, in: range) else {
            throw .invalidMessage("field \"\(name)\" is required")
        }
        return value
    }

    /// The optional `format` of a `stats` message: `json` (the default) or `prometheus`.
    func statsFormat() throws(ProtocolError) -> StatsFormat {
        guard let member = self.member("format"), member.kind != .null else {
            return .json
        }
        guard case .string(let value) = member.kind, let format = StatsFormat(rawValue: self.text(value)) else {
            throw .invalidMessage("field \"format\" must be \"json\" or \"prometheus\"")
        }
        return format
    }

    /// The value of an integer literal, or `nil` when it does not fit in a signed 64-bit integer.
    func int64(_ text: JSONIntegerText) -> Int64? {
        Int64(String(decoding: self.bytes[text.range], as: UTF8.self))
    }

    /// The upstream body: every member but `type`, `id`, `request_ref`, those named in
    /// `omitting` and those set to `null`, byte for byte. When the members kept lie together
    /// (`type` and `id` first or last), it is a slice of `payload`; otherwise they are copied,
    /// joined by commas.
    func upstreamBody(from payload: ByteBuffer, omitting: [String] = []) -> TrackBody {
        let isForwarded = { (member: JSONMember) in
            self.isForwarded(member) && !omitting.contains { member.key.equals($0, in: self.bytes) }
        }
        var first: Int?
        var last = 0
        var keptCount = 0
        for index in self.members.indices where isForwarded(self.members[index]) {
            first = first ?? index
            last = index
            keptCount += 1
        }
        guard let first else {
            return TrackBody(members: ByteBuffer())
        }
        if last - first + 1 == keptCount {
            let start = self.members[first].memberRange.lowerBound
            let end = self.members[last].memberRange.upperBound
            if let slice = payload.getSlice(at: payload.readerIndex + start, length: end - start) {
                return TrackBody(members: slice)
            }
        }
        var members = ByteBuffer()
        members.reserveCapacity(payload.readableBytes)
        for index in first...last where isForwarded(self.members[index]) {
            if index != first {
                members.writeStaticString(",")
            }
            members.writeBytes(UnsafeRawBufferPointer(rebasing: self.bytes[self.members[index].memberRange]))
        }
        return TrackBody(members: members)
    }

    /// Whether `member` goes upstream: all but `type`, `id`, `request_ref` (replaced by the
    /// `request_id` PromptLayer gave), and members whose value is `null` (an optional field
    /// given as `null` is absent, and PromptLayer is sent it absent).
    private func isForwarded(_ member: JSONMember) -> Bool {
        member.kind != .null && !member.key.equals("type", in: self.bytes) && !member.key.equals("id", in: self.bytes)
            && !member.key.equals("request_ref", in: self.bytes)
    }
}
