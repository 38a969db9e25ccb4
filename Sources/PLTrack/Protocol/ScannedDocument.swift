/// What ``JSONScanner`` learned about one well-formed JSON document.
enum ScannedDocument: Equatable {
    /// A top-level object and its members, in the order written.
    case object([JSONMember])
    /// Any other top-level value.
    case other(JSONValueKind)
}

/// One member of the top-level object.
struct JSONMember: Equatable {
    /// The member name.
    var key: JSONStringValue
    /// The shape of the value.
    var kind: JSONValueKind
    /// From the opening quote of the key to the end of the value: what is copied upstream.
    var memberRange: Range<Int>
    /// The value alone, as written.
    var valueRange: Range<Int>
}

/// The shape of a JSON value, with the detail validation needs.
enum JSONValueKind: Equatable {
    case object
    case array
    case string(JSONStringValue)
    /// A number written without fraction or exponent.
    case integer(JSONIntegerText)
    case fractionalNumber
    case bool
    case null

    /// The name used in error messages: "a string", "an object", …
    var article: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer, .fractionalNumber: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// A JSON string as it lies in the input, already checked: where its content is (between the
/// quotes), whether it holds escapes, and its length in Unicode scalars (what the protocol
/// calls characters). Its text is built only where a rule needs it.
struct JSONStringValue: Equatable {
    var range: Range<Int>
    var hasEscapes: Bool
    var scalarCount: Int
}

/// Where an integer literal lies in the input; its value is read only when a rule needs it.
struct JSONIntegerText: Equatable {
    var range: Range<Int>
}

/// Why bytes are not one well-formed JSON document.
struct JSONSyntaxError: Error, Equatable {
    /// Byte offset into the frame payload where the problem was found.
    var offset: Int
    var reason: String
}
