/// The shape of an RFC 3339 `date-time` (section 5.6): `2024-01-15T10:30:00Z`,
/// `2024-01-15T10:30:00.123+02:00`; `T` and `Z` in either case, or a space for `T` as the RFC
/// allows. Checked by shape and range of each field, not against a calendar.
enum RFC3339 {
    static func isDateTime(_ text: String) -> Bool {
        var reader = Reader(bytes: Array(text.utf8))
        guard reader.number(4) != nil, reader.skip("-"), let month = reader.number(2), (1...12).contains(month),
            reader.skip("-"), let day = reader.number(2), (1...31).contains(day),
            reader.skip("T") || reader.skip("t") || reader.skip(" "),
            let hour = reader.number(2), hour < 24, reader.skip(":"),
            let minute = reader.number(2), minute < 60, reader.skip(":"),
            let second = reader.number(2), second <= 60
        else {
            return false
        }
        if reader.skip(".") {
            guard reader.digits() > 0 else {
                return false
            }
        }
        if reader.skip("Z") || reader.skip("z") {
            return reader.atEnd
        }
        guard reader.skip("+") || reader.skip("-"), let offsetHours = reader.number(2), offsetHours < 24,
            reader.skip(":"), let offsetMinutes = reader.number(2), offsetMinutes < 60
        else {
            return false
        }
        return reader.atEnd
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { self.index == self.bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: character) else {
                return false
            }
            self.index += 1
            return true
        }

        /// Exactly `count` digits, as a number.
        mutating func number(_ count: Int) -> Int? {
            guard self.index + count <= self.bytes.count else {
                return nil
            }
            var value = 0
            for byte in self.bytes[self.index..<(self.index + count)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                    return nil
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            self.index += count
            return value
        }

        /// Skips digits; returns how many.
        mutating func digits() -> Int {
            let start = self.index
            while self.index < self.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index])
            {
                self.index += 1
            }
            return self.index - start
        }
    }
}
