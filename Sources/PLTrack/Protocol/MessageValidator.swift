import NIOCore

/// Turns a frame payload into an ``InboundMessage``, or the ``ProtocolError`` that explains why not.
///
/// The payload is scanned once (``JSONScanner``); only the fields the rules name are decoded,
/// and the upstream body is assembled from the byte ranges of the other members.
public struct MessageValidator: Sendable {
    /// The result of validating one frame: the message, or the error and any id read before it.
    public enum Verdict: Sendable, Equatable {
        case message(InboundMessage)
        case rejected(ProtocolError, replyID: ReplyID?)
    }

    /// The longest `id` string, in characters.
    public static let maximumIDLength = 128
    /// The longest `label`, in characters.
    public static let maximumLabelLength = 512
    /// The longest `ref` or `request_ref`, in bytes of UTF-8: a UUID fits three times over.
    public static let maximumRefBytes = 128
    /// The longest `flush` timeout a client may ask for: one day.
    public static let maximumFlushTimeoutMilliseconds: Int64 = 86_400_000

    public init() {}

    public func validate(_ payload: ByteBuffer) -> Verdict {
        payload.withUnsafeReadableBytes { bytes in
            Self.validate(bytes, payload: payload)
        }
    }

    private static func validate(_ bytes: UnsafeRawBufferPointer, payload: ByteBuffer) -> Verdict {
        let members: [JSONMember]
        do throws(JSONSyntaxError) {
            switch try JSONScanner.scan(bytes) {
            case .object(let scanned):
                members = scanned
            case .other(let kind):
                return .rejected(
                    .invalidMessage("the frame must hold a JSON object, not \(kind.article)"), replyID: nil)
            }
        } catch {
            return .rejected(ProtocolError(.invalidJSON, "\(error.reason) at byte \(error.offset)"), replyID: nil)
        }
        let fields = MessageFields(bytes: bytes, members: members)
        var replyID: ReplyID?
        do throws(ProtocolError) {
            replyID = try fields.replyID()
            try fields.rejectRepeatedKeys()
            if fields.member("api_key") != nil {
                throw ProtocolError.invalidMessage(
                    "field \"api_key\" is not allowed: the API key belongs to the daemon (its key file), never to a message"
                )
            }
            return .message(try Self.message(of: fields, replyID: replyID, payload: payload))
        } catch {
            return .rejected(error, replyID: replyID)
        }
    }

    /// `{"type": "request_id", "ref": …, "id": …, "timeout_ms": …}`: the id of a logged request.
    private static func requestIDQuery(
        _ fields: MessageFields, replyID: ReplyID?
    ) throws(ProtocolError) -> InboundMessage {
        guard let replyID else {
            throw .invalidMessage("field \"id\" is required: a request_id query is answered with PromptLayer's id")
        }
        guard let ref = try fields.optionalRef("ref") else {
            throw .invalidMessage("field \"ref\" is required: the ref of the log.request whose id is wanted")
        }
        let timeout = try fields.optionalInteger("timeout_ms", in: 1...Self.maximumFlushTimeoutMilliseconds)
        return .requestID(id: replyID, ref: ref, timeout: timeout.map { .milliseconds($0) })
    }

    private static func message(
        of fields: MessageFields,
        replyID: ReplyID?,
        payload: ByteBuffer
    ) throws(ProtocolError) -> InboundMessage {
        let type = fields.text(try fields.requiredString("type"))
        switch type {
        case TrackKind.prompt.rawValue:
            return .track(try TrackPromptRules.validate(fields, replyID: replyID, payload: payload))
        case TrackKind.metadata.rawValue:
            return .track(try TrackMetadataRules.validate(fields, replyID: replyID, payload: payload))
        case TrackKind.score.rawValue:
            return .track(try TrackScoreRules.validate(fields, replyID: replyID, payload: payload))
        case TrackKind.group.rawValue:
            return .track(try TrackGroupRules.validate(fields, replyID: replyID, payload: payload))
        case TrackKind.log.rawValue:
            return .track(try LogRequestRules.validate(fields, replyID: replyID, payload: payload))
        case "stats":
            return .stats(id: replyID, format: try fields.statsFormat())
        case "ping":
            return .ping(id: replyID)
        case "flush":
            let timeout = try fields.optionalInteger("timeout_ms", in: 1...Self.maximumFlushTimeoutMilliseconds)
            return .flush(id: replyID, timeout: timeout.map { .milliseconds($0) })
        case "request_id":
            return try Self.requestIDQuery(fields, replyID: replyID)
        default:
            let known = TrackKind.allCases.map(\.rawValue) + ["stats", "ping", "flush", "request_id"]
            throw ProtocolError(
                .unknownType,
                "unknown type \"\(type)\"; expected one of \(known.joined(separator: ", "))"
            )
        }
    }
}
