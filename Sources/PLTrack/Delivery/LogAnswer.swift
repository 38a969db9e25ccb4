/// PromptLayer's answer to `POST /log-request` (`LogRequestResponse`): the top-level integer
/// `id` is the request id the track calls name.
///
/// The body may be cut short (a response keeps at most 64 KiB, and a log's `prompt_version`
/// can be large), so the id is looked for in the top-level object as far as it goes, without
/// needing the document whole.
enum LogAnswer {
    /// The top-level `id`, or `nil` when the answer has none (or not as an integer).
    static func requestID(in body: String) -> Int64? {
        var scanner = Scanner(bytes: Array(body.utf8))
        return scanner.topLevelID()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        mutating func topLevelID() -> Int64? {
            var depth = 0
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    self.index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    self.index += 1
                case UInt8(ascii: "\""):
                    let start = self.index + 1
                    self.skipString()
                    let isIDKey = depth == 1 && self.bytes[start..<max(start, self.index - 1)].elementsEqual("id".utf8)
                    if isIDKey, self.skipSpace(), self.next(is: ":"), self.skipSpace() {
                        return self.integer()
                    }
                default:
                    self.index += 1
                }
            }
            return nil
        }

        /// Moves past a string whose opening quote is at `index`.
        private mutating func skipString() {
            self.index += 1
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case UInt8(ascii: "\\"): self.index += 2
                case UInt8(ascii: "\""):
                    self.index += 1
                    return
                default: self.index += 1
                }
            }
        }

        /// Skips white space; always `true`, to chain in a condition.
        private mutating func skipSpace() -> Bool {
            while self.index < self.bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(self.bytes[self.index]) {
                self.index += 1
            }
            return true
        }

        private mutating func next(is character: Unicode.Scalar) -> Bool {
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: character) else {
                return false
            }
            self.index += 1
            return true
        }

        /// An integer literal that ends the value (not a fraction or exponent).
        private mutating func integer() -> Int64? {
            let start = self.index
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "-") {
                self.index += 1
            }
            while self.index < self.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index])
            {
                self.index += 1
            }
            let end = self.index
            _ = self.skipSpace()
            guard self.index < self.bytes.count,
                [UInt8(ascii: ","), UInt8(ascii: "}")].contains(self.bytes[self.index])
            else {
                return nil
            }
            return Int64(String(decoding: self.bytes[start..<end], as: UTF8.self))
        }
    }
}
