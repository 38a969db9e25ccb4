import NIOCore

/// Splits syslog-ng's control-socket replies: each is its text followed by a line holding one
/// `.` (`syslog-ng-ctl` reads the same way). Emits each reply without that line.
struct ControlReplyDecoder: WholeReplyDecoder {
    typealias InboundOut = ByteBuffer

    /// Why the stream cannot be split any more.
    struct OversizedReply: Error {
        var length: Int
    }

    /// A `QUERY GET_SUM` reply is one number; anything near this is a broken stream.
    static let maximumLength = 1 << 20

    private static let terminator: [UInt8] = Array(".\n".utf8)

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let end = Self.terminatorOffset(in: buffer) else {
            guard buffer.readableBytes <= Self.maximumLength else {
                throw OversizedReply(length: buffer.readableBytes)
            }
            return .needMoreData
        }
        if let reply = buffer.readSlice(length: end) {
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
        buffer.moveReaderIndex(forwardBy: Self.terminator.count)
        return .continue
    }

    /// Where the `.` line starts, relative to the reader index: at the start of the stream or
    /// after a newline.
    private static func terminatorOffset(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            while index + 1 < bytes.count {
                if bytes[index] == UInt8(ascii: "."), bytes[index + 1] == UInt8(ascii: "\n"),
                    index == 0 || bytes[index - 1] == UInt8(ascii: "\n")
                {
                    return index
                }
                index += 1
            }
            return nil
        }
    }
}
