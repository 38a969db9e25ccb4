import Foundation

/// A JSON value decoded strictly: integers, other numbers and booleans stay distinct, which
/// the API contract checks need.
public enum JSONValue: Sendable, Hashable, Decodable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Converts what `JSONSerialization` returns.
    init(foundation value: Any) {
        switch value {
        case let object as [String: Any]: self = .object(object.mapValues { JSONValue(foundation: $0) })
        case let array as [Any]: self = .array(array.map { JSONValue(foundation: $0) })
        case let string as String: self = .string(string)
        case let number as NSNumber:
            let type = String(cString: number.objCType)
            if type == "c" {
                self = .bool(number.boolValue)
            } else if type == "q" || type == "l" || type == "i" || type == "s" {
                self = .integer(number.int64Value)
            } else if let integer = Int64(exactly: number.doubleValue), !String(describing: number).contains(".") {
                self = .integer(integer)
            } else {
                self = .number(number.doubleValue)
            }
        default: self = .null
        }
    }

    /// Parses `bytes` as one JSON document.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        JSONValue(foundation: try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    /// The OpenAPI type name of this value.
    /// The value of a number, integer or not.
    public var numberValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    public var openAPIType: String {
        switch self {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .integer: "integer"
        case .number: "number"
        case .bool: "boolean"
        case .null: "null"
        }
    }

    /// The value as JSON text, object members sorted by name.
    public var jsonText: String {
        switch self {
        case .object(let members):
            "{"
                + members.sorted { $0.key < $1.key }.map { JSONValue.string($0.key).jsonText + ":" + $0.value.jsonText }
                .joined(separator: ",") + "}"
        case .array(let elements): "[" + elements.map(\.jsonText).joined(separator: ",") + "]"
        case .string(let string): (try? String(decoding: JSONEncoder().encode(string), as: UTF8.self)) ?? "null"
        case .integer(let integer): String(integer)
        case .number(let number): String(number)
        case .bool(let bool): bool ? "true" : "false"
        case .null: "null"
        }
    }
}
