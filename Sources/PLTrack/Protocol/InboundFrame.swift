import NIOCore

/// One unit read off a client connection by ``FrameDecoder``.
///
/// A frame whose announced length exceeds the limit is not read at all: framing is lost at
/// that point, so the connection answers `frame_too_large` and closes.
public enum InboundFrame: Sendable, Equatable {
    /// A complete frame: the payload, without its 4-byte length prefix.
    case payload(ByteBuffer)
    /// A length prefix larger than the maximum frame length.
    case tooLarge(announcedLength: UInt32)
}
