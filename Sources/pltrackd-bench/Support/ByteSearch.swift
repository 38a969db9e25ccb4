import NIOCore

extension ByteBuffer {
    /// The reader-relative offset just past the first occurrence of `needle` in the readable
    /// bytes, or `nil`. Bodies and replies here are a few hundred bytes, so a plain scan does.
    func offset(after needle: [UInt8]) -> Int? {
        self.withUnsafeReadableBytes { haystack in
            guard haystack.count >= needle.count, let first = needle.first else {
                return nil
            }
            var start = 0
            while start + needle.count <= haystack.count {
                if haystack[start] == first {
                    var matched = 1
                    while matched < needle.count && haystack[start + matched] == needle[matched] {
                        matched += 1
                    }
                    if matched == needle.count {
                        return start + needle.count
                    }
                }
                start += 1
            }
            return nil
        }
    }

    /// The unsigned decimal integer at reader-relative `offset`, up to the first non-digit.
    func decimal(at offset: Int) -> UInt64? {
        self.withUnsafeReadableBytes { bytes in
            var value: UInt64 = 0
            var index = offset
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value &* 10 &+ UInt64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            return index > offset ? value : nil
        }
    }
}
