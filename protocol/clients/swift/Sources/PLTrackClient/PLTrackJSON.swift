/// A JSON value, for the free-form parts of a tracking call (`prompt_input_variables`).
public enum PLTrackJSON: Sendable, Hashable, Encodable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([PLTrackJSON])
    case object([String: PLTrackJSON])
    case null

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}

extension PLTrackJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: PLTrackJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, PLTrackJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

/// The request a tracking call is for: PromptLayer's `request_id` (an integer, or a string for
/// `track.prompt` and `track.metadata`, as the API takes), or the ref of a request logged
/// through pltrackd (``PLTrackClient/logRequest(_:)``), sent as `request_ref`: pltrackd sends
/// the call with the id PromptLayer gives the log.
public enum PLTrackRequestID: Sendable, Hashable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case integer(Int64)
    case string(String)
    case ref(String)

    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .string(value) }
}

extension KeyedEncodingContainer {
    /// Encodes `request` as `request_id` under `id`, or as `request_ref` under `ref`.
    mutating func encode(request: PLTrackRequestID, id: Key, ref: Key) throws {
        switch request {
        case .integer(let value): try self.encode(value, forKey: id)
        case .string(let value): try self.encode(value, forKey: id)
        case .ref(let value): try self.encode(value, forKey: ref)
        }
    }
}
