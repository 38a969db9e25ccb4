import NIOCore

/// Folds the track calls for a ref that are at hand when its `log.request` goes out into the
/// log's body, where PromptLayer's `LogRequest` has a place for them, so that a request whose
/// log, prompt, metadata and score come together costs one upstream call:
///
/// - `track.prompt`: `prompt_name`, `version` as `prompt_version_number`,
///   `prompt_input_variables` (one with a `label` has no place, and goes after);
/// - `track.metadata`: merged into the log's `metadata`, a later value for a name winning;
/// - `track.score` without a name, or named `default`: `score`.
///
/// A group, a named score and a labelled prompt go after the log, with its id. A later call's
/// values win over the log's own, as they would upstream.
enum LogFolding {
    /// What folding gives.
    struct Result {
        /// The log, its body holding the folded calls' values and their sequence numbers in
        /// `absorbed`, so their spool records end with it.
        var log: Envelope
        /// The calls folded in, oldest first.
        var folded: [Envelope]
        /// The calls that have no place in the log, oldest first: they go after it.
        var after: [Envelope]
    }

    /// Folds what of `calls` (for the log's ref, oldest first) has a place into `log`, while
    /// the body might not pass `maximumBytes` (the sizes of the log and the calls folded, added
    /// up); the rest goes after it.
    static func fold(
        _ calls: [Envelope], into log: Envelope, maximumBytes: Int = CoalescingRules.maximumMergedBytes
    ) -> Result {
        guard !calls.isEmpty, var body = LogBody(log.message.body) else {
            return Result(log: log, folded: [], after: calls)
        }
        var result = Result(log: log, folded: [], after: [])
        var bytes = log.message.body.byteCount
        for call in calls {
            if bytes + call.message.body.byteCount <= maximumBytes, body.absorb(call.message) {
                bytes += call.message.body.byteCount
                result.folded.append(call)
                result.log.absorbed += [call.sequence] + call.absorbed
            } else {
                result.after.append(call)
            }
        }
        if !result.folded.isEmpty {
            result.log.message.body = body.trackBody
        }
        return result
    }
}

/// A log's body as members that folding may replace or add, in the order written.
struct LogBody {
    /// Each member's name and its value's JSON text.
    private var members: [(name: String, value: [UInt8])] = []
    private var index: [String: Int] = [:]
    /// The `metadata` object's entries, once a call's metadata was merged in.
    private var metadata: MetadataEntries?

    init?(_ body: TrackBody) {
        guard let members = Self.members(of: body) else {
            return nil
        }
        for member in members {
            self.set(member.name, member.value)
        }
    }

    /// Takes `call`'s values where the log has a place for them; returns whether it did.
    mutating func absorb(_ call: TrackMessage) -> Bool {
        guard let members = Self.members(of: call.body) else {
            return false
        }
        let byName = Dictionary(members.map { ($0.name, $0.value) }) { first, _ in first }
        switch call.kind {
        case .prompt:
            guard byName["label"] == nil, let name = byName["prompt_name"] else {
                return false
            }
            self.set("prompt_name", name)
            if let version = byName["version"] {
                self.set("prompt_version_number", version)
            }
            if let variables = byName["prompt_input_variables"] {
                self.set("prompt_input_variables", variables)
            }
            return true
        case .metadata:
            guard let object = byName["metadata"], let entries = MetadataEntries(object: object) else {
                return false
            }
            if self.metadata == nil {
                self.metadata =
                    self.index["metadata"].flatMap { MetadataEntries(object: self.members[$0].value) }
                    ?? MetadataEntries()
            }
            self.metadata?.merge(entries)
            return true
        case .score:
            let name = byName["name"].map { String(decoding: $0, as: UTF8.self) }
            guard name == nil || name == #""\#(TrackScoreRules.defaultName)""#, let score = byName["score"] else {
                return false
            }
            self.set("score", score)
            return true
        case .group, .log:
            return false
        }
    }

    /// The body, as sent to `/log-request`.
    var trackBody: TrackBody {
        var buffer = ByteBufferAllocator().buffer(
            capacity: self.members.reduce(0) { $0 + $1.name.utf8.count + $1.value.count + 4 })
        var first = true
        var wroteMetadata = false
        for member in self.members {
            if !first {
                buffer.writeStaticString(",")
            }
            first = false
            buffer.writeString(JSONText.quoted(member.name))
            buffer.writeStaticString(":")
            if member.name == "metadata", let metadata = self.metadata {
                metadata.write(to: &buffer)
                wroteMetadata = true
            } else {
                buffer.writeBytes(member.value)
            }
        }
        if !wroteMetadata, let metadata = self.metadata {
            buffer.writeString(first ? "\"metadata\":" : ",\"metadata\":")
            metadata.write(to: &buffer)
        }
        return TrackBody(members: buffer)
    }

    private mutating func set(_ name: String, _ value: [UInt8]) {
        if let position = self.index[name] {
            self.members[position].value = value
        } else {
            self.index[name] = self.members.count
            self.members.append((name, value))
        }
    }

    /// The top-level members of a body, their values as JSON text.
    private static func members(of body: TrackBody) -> [(name: String, value: [UInt8])]? {
        var text = ByteBuffer()
        body.write(to: &text)
        return text.withUnsafeReadableBytes { bytes in
            guard case .object(let members)? = try? JSONScanner.scan(bytes) else {
                return nil
            }
            return members.map { ($0.key.text(in: bytes), Array(bytes[$0.valueRange])) }
        }
    }
}

/// A metadata object's entries in the order first given, merged in time linear in their
/// number: a later value for a name replaces the earlier one in its place.
struct MetadataEntries {
    private var entries: [(name: String, member: [UInt8])] = []
    private var index: [String: Int] = [:]

    init() {}

    /// The entries of `object`, the JSON text of an object; `nil` when it is not one.
    init?(object: [UInt8]) {
        let scanned: [(String, [UInt8])]? = object.withUnsafeBytes { bytes in
            guard case .object(let members)? = try? JSONScanner.scan(bytes) else {
                return nil
            }
            return members.map { ($0.key.text(in: bytes), Array(bytes[$0.memberRange])) }
        }
        guard let scanned else {
            return nil
        }
        for (name, member) in scanned {
            self.set(name, member)
        }
    }

    /// Adds `other`'s entries, its values replacing these for the names both have.
    mutating func merge(_ other: MetadataEntries) {
        for entry in other.entries {
            self.set(entry.name, entry.member)
        }
    }

    /// Writes the object's JSON text.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{")
        for (position, entry) in self.entries.enumerated() {
            if position > 0 {
                buffer.writeStaticString(",")
            }
            buffer.writeBytes(entry.member)
        }
        buffer.writeStaticString("}")
    }

    private mutating func set(_ name: String, _ member: [UInt8]) {
        if let position = self.index[name] {
            self.entries[position].member = member
        } else {
            self.index[name] = self.entries.count
            self.entries.append((name, member))
        }
    }
}
