import NIOCore

/// A decoder of whole replies (pltrackd's frames, syslog-ng's control replies): at the end of
/// the stream it passes on every complete reply still buffered and drops a partial one.
protocol WholeReplyDecoder: ByteToMessageDecoder {}

extension WholeReplyDecoder {
    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
