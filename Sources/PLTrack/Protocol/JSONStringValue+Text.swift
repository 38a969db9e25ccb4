import Glibc

/// Reading a scanned string: comparing it with a name byte for byte, and decoding it.
extension JSONStringValue {
    /// Whether the string is exactly `name`, compared as UTF-8 bytes without building a
    /// `String` (a string with escapes is decoded first).
    func equals(_ name: String, in bytes: UnsafeRawBufferPointer) -> Bool {
        if self.hasEscapes {
            return self.text(in: bytes) == name
        }
        var name = name
        return name.withUTF8 { expected in
            guard expected.count == self.range.count else {
                return false
            }
            guard let expectedStart = expected.baseAddress, let start = bytes.baseAddress else {
                return expected.isEmpty
            }
            return memcmp(expectedStart, start + self.range.lowerBound, expected.count) == 0
        }
    }

    /// Whether two scanned strings hold the same text.
    func equals(_ other: JSONStringValue, in bytes: UnsafeRawBufferPointer) -> Bool {
        if self.hasEscapes || other.hasEscapes {
            return self.text(in: bytes) == other.text(in: bytes)
        }
        return self.range.count == other.range.count
            && bytes[self.range].elementsEqual(bytes[other.range])
    }

    /// The decoded text: escapes resolved.
    func text(in bytes: UnsafeRawBufferPointer) -> String {
        guard self.hasEscapes else {
            return String(decoding: bytes[self.range], as: UTF8.self)
        }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var position = self.range.lowerBound
        func hex4(at offset: Int) -> UInt32 {
            var value: UInt32 = 0
            for index in offset..<offset + 4 {
                value = value << 4 | UInt32(JSONScanner.hexValue(bytes[index]) ?? 0)
            }
            return value
        }
        while position < self.range.upperBound {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                position += 1
                continue
            }
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
            let escaped = bytes[position + 1]
            position += 2
            let scalar: UInt32
            switch escaped {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                let unit = hex4(at: position)
                position += 4
                if (0xD800...0xDBFF).contains(unit) {
                    let low = hex4(at: position + 2)
                    position += 6
                    scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    scalar = unit
                }
            default: scalar = UInt32(escaped)
            }
            // The scanner accepted only paired surrogates, so every escape is a scalar.
            scalars.append(Unicode.Scalar(scalar) ?? "\u{FFFD}")
        }
        scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
        return String(scalars)
    }
}
