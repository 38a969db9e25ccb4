/// A validating JSON scanner that reads one document without building a tree.
///
/// It checks the whole document against RFC 8259 (including UTF-8 validity, escapes and
/// surrogate pairs) and records, for a top-level object, where each member's key and value
/// lie in the input. Validation reads only the members it needs; the body sent upstream is
/// assembled from the recorded ranges, so numbers and unknown fields pass through unchanged.
struct JSONScanner {
    /// Containers nested deeper than this are refused, so hostile input cannot exhaust the stack.
    static let maximumDepth = 128

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Scans `bytes` as exactly one JSON value surrounded by optional white space.
    static func scan(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> ScannedDocument {
        var scanner = JSONScanner(bytes: bytes)
        scanner.skipWhitespace()
        guard scanner.index < bytes.count else {
            throw JSONSyntaxError(offset: 0, reason: "the frame holds no JSON value")
        }
        let document: ScannedDocument
        if bytes[scanner.index] == UInt8(ascii: "{") {
            document = .object(try scanner.scanTopLevelObject())
        } else {
            document = .other(try scanner.scanValue(depth: 1))
        }
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else {
            throw JSONSyntaxError(offset: scanner.index, reason: "unexpected bytes after the JSON value")
        }
        return document
    }

    // MARK: Structure

    private mutating func scanTopLevelObject() throws(JSONSyntaxError) -> [JSONMember] {
        var members: [JSONMember] = []
        try self.scanObject(depth: 1, members: &members, recordsMembers: true)
        return members
    }

    private mutating func scanValue(depth: Int) throws(JSONSyntaxError) -> JSONValueKind {
        guard let byte = self.peek() else {
            throw self.error("unexpected end of input, expected a value")
        }
        switch byte {
        case UInt8(ascii: "{"):
            var nested: [JSONMember] = []
            try self.scanObject(depth: depth, members: &nested, recordsMembers: false)
            return .object
        case UInt8(ascii: "["):
            try self.scanArray(depth: depth)
            return .array
        case UInt8(ascii: "\""):
            return .string(try self.scanString())
        case UInt8(ascii: "t"):
            try self.expectLiteral("true")
            return .bool
        case UInt8(ascii: "f"):
            try self.expectLiteral("false")
            return .bool
        case UInt8(ascii: "n"):
            try self.expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try self.scanNumber()
        default:
            throw self.error("unexpected byte, expected a value")
        }
    }

    /// Scans an object; when `recordsMembers`, appends where each member lies to `members`
    /// (only the top level needs that).
    private mutating func scanObject(
        depth: Int,
        members: inout [JSONMember],
        recordsMembers: Bool
    ) throws(JSONSyntaxError) {
        guard depth <= Self.maximumDepth else {
            throw self.error("containers nested deeper than \(Self.maximumDepth) levels")
        }
        self.index += 1
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return
        }
        while true {
            let memberStart = self.index
            guard self.peek() == UInt8(ascii: "\"") else {
                throw self.error("expected a quoted member name")
            }
            let key = try self.scanString()
            self.skipWhitespace()
            try self.expect(UInt8(ascii: ":"), "expected ':' after a member name")
            self.skipWhitespace()
            let valueStart = self.index
            let kind = try self.scanValue(depth: depth + 1)
            if recordsMembers {
                members.append(
                    JSONMember(
                        key: key, kind: kind, memberRange: memberStart..<self.index, valueRange: valueStart..<self.index
                    )
                )
            }
            self.skipWhitespace()
            if try self.endOfContainer(closing: UInt8(ascii: "}")) {
                return
            }
        }
    }

    private mutating func scanArray(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maximumDepth else {
            throw self.error("containers nested deeper than \(Self.maximumDepth) levels")
        }
        self.index += 1
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "]") {
            self.index += 1
            return
        }
        while true {
            _ = try self.scanValue(depth: depth + 1)
            self.skipWhitespace()
            if try self.endOfContainer(closing: UInt8(ascii: "]")) {
                return
            }
        }
    }

    /// Consumes a `,` (returning `false`, more follows) or the closing bracket (returning `true`).
    private mutating func endOfContainer(closing: UInt8) throws(JSONSyntaxError) -> Bool {
        switch self.peek() {
        case UInt8(ascii: ","):
            self.index += 1
            self.skipWhitespace()
            return false
        case closing:
            self.index += 1
            return true
        default:
            throw self.error("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
        }
    }

    // MARK: Scalars

    private mutating func scanNumber() throws(JSONSyntaxError) -> JSONValueKind {
        let start = self.index
        var isInteger = true
        if self.peek() == UInt8(ascii: "-") {
            self.index += 1
        }
        switch self.peek() ?? 0 {
        case UInt8(ascii: "0"):
            self.index += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            self.skipDigits()
        default:
            throw self.error("a number needs a digit after '-'")
        }
        if self.peek() == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            guard self.skipDigits() > 0 else {
                throw self.error("a number needs digits after '.'")
            }
        }
        if self.peek() == UInt8(ascii: "e") || self.peek() == UInt8(ascii: "E") {
            isInteger = false
            self.index += 1
            if self.peek() == UInt8(ascii: "+") || self.peek() == UInt8(ascii: "-") {
                self.index += 1
            }
            guard self.skipDigits() > 0 else {
                throw self.error("a number needs digits in its exponent")
            }
        }
        return isInteger ? .integer(JSONIntegerText(range: start..<self.index)) : .fractionalNumber
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = self.index
        while let byte = self.peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            self.index += 1
        }
        return self.index - start
    }

    /// Scans a string, checking its escapes and UTF-8, and returns where it lies; it is decoded
    /// only if a rule asks for its text (``JSONStringValue/text(in:)``).
    private mutating func scanString() throws(JSONSyntaxError) -> JSONStringValue {
        self.index += 1
        let start = self.index
        var hasEscapes = false
        var scalarCount = 0
        while true {
            guard let byte = self.peek() else {
                throw self.error("unterminated string")
            }
            switch byte {
            case UInt8(ascii: "\""):
                let range = start..<self.index
                self.index += 1
                return JSONStringValue(range: range, hasEscapes: hasEscapes, scalarCount: scalarCount)
            case UInt8(ascii: "\\"):
                hasEscapes = true
                scalarCount += 1
                try self.skipEscape()
            case 0..<0x20:
                throw self.error("control character in a string must be escaped")
            case 0..<0x80:
                scalarCount += 1
                self.index += 1
            default:
                scalarCount += 1
                try self.skipUTF8Sequence()
            }
        }
    }

    /// Checks one escape sequence; a surrogate pair counts as one scalar and is consumed whole.
    private mutating func skipEscape() throws(JSONSyntaxError) {
        self.index += 1
        guard let byte = self.peek() else {
            throw self.error("unterminated escape")
        }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            self.index += 1
        case UInt8(ascii: "u"):
            self.index += 1
            let unit = try self.readHex4()
            switch unit {
            case 0xD800...0xDBFF:
                guard self.peek() == UInt8(ascii: "\\"), self.peek(at: 1) == UInt8(ascii: "u") else {
                    throw self.error("unpaired surrogate in a \\u escape")
                }
                self.index += 2
                guard (0xDC00...0xDFFF).contains(try self.readHex4()) else {
                    throw self.error("unpaired surrogate in a \\u escape")
                }
            case 0xDC00...0xDFFF:
                throw self.error("unpaired surrogate in a \\u escape")
            default:
                break
            }
        default:
            throw self.error("invalid escape '\\\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func readHex4() throws(JSONSyntaxError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = self.peek(), let digit = Self.hexValue(byte) else {
                throw self.error("a \\u escape needs four hexadecimal digits")
            }
            value = value << 4 | UInt16(digit)
            self.index += 1
        }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Validates one multi-byte UTF-8 sequence (no overlong forms, surrogates or values past U+10FFFF).
    private mutating func skipUTF8Sequence() throws(JSONSyntaxError) {
        let lead = self.bytes[self.index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw self.error("invalid UTF-8")
        }
        guard let second = self.peek(at: 1), secondRange.contains(second) else {
            throw self.error("invalid UTF-8")
        }
        for offset in 2..<length {
            guard let byte = self.peek(at: offset), (0x80...0xBF).contains(byte) else {
                throw self.error("invalid UTF-8")
            }
        }
        self.index += length
    }

    // MARK: Bytes

    private func peek(at offset: Int = 0) -> UInt8? {
        let position = self.index + offset
        return position < self.bytes.count ? self.bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = self.peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            self.index += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws(JSONSyntaxError) {
        guard self.peek() == byte else {
            throw self.error(reason)
        }
        self.index += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected in
            self.index + count <= self.bytes.count
                && (0..<count).allSatisfy { self.bytes[self.index + $0] == expected[$0] }
        }
        guard matches else {
            throw self.error("unexpected byte, expected a value")
        }
        self.index += count
    }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: self.index, reason: reason)
    }
}
