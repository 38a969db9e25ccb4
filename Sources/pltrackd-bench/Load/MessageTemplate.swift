import NIOCore

/// A realistic `track.prompt` message of a fixed size, written many times with a distinct
/// `request_id` each (and, for latency runs, the time it was sent).
///
/// The numbers have a fixed width, so each message is the template copied and a few digits
/// patched in place: the generator's own cost per message stays a small fraction of the
/// daemon's.
struct MessageTemplate: Sendable {
    /// Digits of `request_id` (and `id`): 100,000,000,000 and up, never with a leading zero.
    static let requestIDWidth = 12
    /// The default first request id; a run's ids are the first plus the message's index.
    static let defaultFirstRequestID: UInt64 = 100_000_000_000
    /// Digits of `sent_ns`, a string of `CLOCK_MONOTONIC` nanoseconds (zero-padded).
    static let sentWidth = 20

    /// One whole message as written on the socket, framing included.
    let bytes: [UInt8]
    /// Offsets in ``bytes`` of the request id's digits (twice when the message has an `id`).
    let requestIDOffsets: [Int]
    /// Offset in ``bytes`` of the `sent_ns` digits.
    let sentOffset: Int
    /// The request id of the message with index 0.
    let firstRequestID: UInt64

    /// - Parameters:
    ///   - payloadBytes: the JSON object's length to pad to (the frame adds 4, a line 1).
    ///   - acknowledged: adds an `id` equal to the request id, so pltrackd replies.
    ///   - firstRequestID: the request id of message 0; 12 digits.
    init(
        framing: Framing, payloadBytes: Int = 250, acknowledged: Bool = false,
        firstRequestID: UInt64 = Self.defaultFirstRequestID
    ) {
        let requestID = String(repeating: "9", count: Self.requestIDWidth)
        let sent = String(repeating: "0", count: Self.sentWidth)
        func json(padding: Int) -> String {
            let question = String(
                "How do I reset the password on my account and keep my saved conversations? ".repeated(
                    toLength: padding))
            let id = acknowledged ? #","id":\#(requestID)"# : ""
            return
                #"{"type":"track.prompt","prompt_name":"bench-welcome","request_id":\#(requestID),"prompt_input_variables":{"user":"Ada","question":"\#(question)","sent_ns":"\#(sent)"},"tags":["bench","welcome"]\#(id)}"#
        }
        let bare = json(padding: 0).utf8.count
        let payload = Array(json(padding: max(0, payloadBytes - bare)).utf8)
        var bytes: [UInt8] = []
        switch framing {
        case .frame:
            let length = UInt32(payload.count)
            bytes = [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            bytes += payload
        case .syslog:
            bytes = payload + [UInt8(ascii: "\n")]
        }
        self.bytes = bytes
        self.firstRequestID = firstRequestID
        self.requestIDOffsets = bytes.offsets(of: Array(requestID.utf8))
        self.sentOffset = bytes.offsets(of: Array(#""sent_ns":""#.utf8)).first.map { $0 + 11 } ?? 0
    }

    /// The size of one message on the socket.
    var size: Int { self.bytes.count }

    /// Appends `count` messages with request ids ``firstRequestID`` + `firstIndex ..< + count` to
    /// `buffer`, each stamped with `sentNanoseconds` when given.
    func write(count: Int, firstIndex: UInt64, sentNanoseconds: UInt64?, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.reserveCapacity(minimumWritableBytes: count * self.bytes.count)
        for _ in 0..<count {
            buffer.writeBytes(self.bytes)
        }
        buffer.withUnsafeMutableReadableBytes { raw in
            for message in 0..<count {
                let base = start + message * self.bytes.count
                let requestID = self.firstRequestID + firstIndex + UInt64(message)
                for offset in self.requestIDOffsets {
                    Self.put(requestID, width: Self.requestIDWidth, into: raw, at: base + offset)
                }
                if let sentNanoseconds {
                    Self.put(sentNanoseconds, width: Self.sentWidth, into: raw, at: base + self.sentOffset)
                }
            }
        }
    }

    /// Writes `value` as `width` decimal digits, zero-padded, at `offset`.
    private static func put(_ value: UInt64, width: Int, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        var rest = value
        var index = offset + width - 1
        while index >= offset {
            raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
    }
}

extension [UInt8] {
    /// Every offset at which `needle` starts.
    fileprivate func offsets(of needle: [UInt8]) -> [Int] {
        guard needle.count <= self.count else {
            return []
        }
        return (0...(self.count - needle.count)).filter { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

extension String {
    /// This text repeated and cut to exactly `length` characters (ASCII text only).
    fileprivate func repeated(toLength length: Int) -> Substring {
        guard !self.isEmpty, length > 0 else {
            return ""
        }
        return String(repeating: self, count: length / self.count + 1).prefix(length)
    }
}
