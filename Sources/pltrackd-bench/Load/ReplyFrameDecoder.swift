import NIOCore

/// Splits pltrackd's reply stream into frames (4-byte big-endian length, then the payload),
/// as `protocol/SPEC.md` describes them.
struct ReplyFrameDecoder: WholeReplyDecoder {
    typealias InboundOut = ByteBuffer

    /// Why the stream cannot be split any more.
    struct OversizedReply: Error {
        var length: Int
    }

    /// A `stats` reply is a few kilobytes; anything near this is a broken stream.
    static let maximumLength = 16 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            return .needMoreData
        }
        guard length <= Self.maximumLength else {
            throw OversizedReply(length: Int(length))
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        if let payload = buffer.readSlice(length: Int(length)) {
            context.fireChannelRead(Self.wrapInboundOut(payload))
        }
        return .continue
    }
}
