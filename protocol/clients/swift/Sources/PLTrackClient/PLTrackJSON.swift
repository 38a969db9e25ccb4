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

/// A PromptLayer `request_id`: an integer or a string (`track.score` and `track.group` take
/// integers only, as the API does).
public enum PLTrackRequestID: Sendable, Hashable, Encodable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case integer(Int64)
    case string(String)

    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }
}
