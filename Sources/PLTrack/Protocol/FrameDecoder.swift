import NIOCore

/// Splits a byte stream into length-prefixed frames: a 4-byte unsigned big-endian length N,
/// then N bytes of payload.
///
/// After a length prefix above ``maximumFrameLength`` the decoder emits
/// ``InboundFrame/tooLarge(announcedLength:)`` once and then ignores everything that follows,
/// because the stream can no longer be split reliably.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundFrame

    /// The largest payload accepted, in bytes.
    public let maximumFrameLength: Int
    private var framingLost = false
    /// Whether part of a frame is buffered, told to the handlers after it as ``FrameProgress``.
    private var holdsPartialFrame = false

    public init(maximumFrameLength: Int) {
        self.maximumFrameLength = maximumFrameLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard !self.framingLost else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            self.noteProgress(partial: buffer.readableBytes > 0, context: context)
            return .needMoreData
        }
        if Int(length) > self.maximumFrameLength {
            self.framingLost = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(Self.wrapInboundOut(.tooLarge(announcedLength: length)))
            return .needMoreData
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            self.noteProgress(partial: true, context: context)
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        // `readSlice` cannot fail here: the length was checked above.
        let payload = buffer.readSlice(length: Int(length)) ?? ByteBuffer()
        // That frame is whole; a partial one after it starts its own clock.
        self.noteProgress(partial: false, context: context)
        context.fireChannelRead(Self.wrapInboundOut(.payload(payload)))
        return .continue
    }

    /// Tells the handlers after this one when a frame starts arriving in pieces and when no
    /// partial frame is left, so that a client that stalls halfway can be timed out.
    private mutating func noteProgress(partial: Bool, context: ChannelHandlerContext) {
        guard partial != self.holdsPartialFrame else {
            return
        }
        self.holdsPartialFrame = partial
        context.fireUserInboundEventTriggered(partial ? FrameProgress.started : FrameProgress.finished)
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        // What remains is a frame the client stopped sending halfway: it was never a message,
        // so it is dropped without failing the connection, whose earlier frames still count.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// What ``FrameDecoder`` tells the handlers after it about frames arriving in pieces.
public enum FrameProgress: Sendable, Equatable {
    /// Part of a frame is buffered; the rest has not arrived yet.
    case started
    /// No partial frame is buffered any more.
    case finished
}

extension ByteBuffer {
    /// Appends `payload` as one frame: its length as a 4-byte big-endian integer, then the bytes.
    @discardableResult
    public mutating func writeFrame(_ payload: ByteBuffer) -> Int {
        self.writeInteger(UInt32(payload.readableBytes)) + self.writeImmutableBuffer(payload)
    }

    /// Appends `payload` as one frame.
    @discardableResult
    public mutating func writeFrame(bytes payload: some Collection<UInt8>) -> Int {
        self.writeInteger(UInt32(payload.count)) + self.writeBytes(payload)
    }
}
