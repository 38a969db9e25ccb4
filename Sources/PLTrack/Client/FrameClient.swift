import NIOCore
import NIOPosix

/// A client connection to pltrackd: sends frames and reads the replies.
///
/// Used by `pltrackd send` and `pltrackd stats`, and by the end-to-end tests.
public struct FrameClient: Sendable {
    /// Why a connection or exchange failed, in words for the command line.
    public struct ClientError: Error, CustomStringConvertible {
        public var description: String
    }

    private let channel: NIOAsyncChannel<InboundFrame, ByteBuffer>

    private init(channel: NIOAsyncChannel<InboundFrame, ByteBuffer>) {
        self.channel = channel
    }

    /// Connects to the daemon at `path` and runs `body` with the connection, closing it afterwards.
    public static func withConnection<Result: Sendable>(
        to path: String,
        maximumReplyLength: Int = 64 << 20,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (_ outbound: Writer, _ replies: Replies) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<InboundFrame, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maximumFrameLength: maximumReplyLength))
                        )
                        return try NIOAsyncChannel<InboundFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ClientError(description: "cannot connect to pltrackd at \(path): \(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let replies = Replies(next: { try await iterator.next() })
            return try await body(Writer(outbound: outbound), replies)
        }
    }

    /// Writes frames.
    public struct Writer: Sendable {
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

        /// Sends `payload` as one frame.
        public func send(_ payload: some Collection<UInt8>) async throws {
            var buffer = ByteBuffer()
            buffer.writeFrame(bytes: payload)
            try await self.outbound.write(buffer)
        }

        /// Sends many frames in one write.
        public func send(contentsOf payloads: [[UInt8]]) async throws {
            var buffer = ByteBuffer()
            for payload in payloads {
                buffer.writeFrame(bytes: payload)
            }
            try await self.outbound.write(buffer)
        }

        /// Sends bytes exactly as given (for tests of malformed framing).
        public func sendRaw(_ bytes: [UInt8]) async throws {
            try await self.outbound.write(ByteBuffer(bytes: bytes))
        }

        /// Shuts down the sending side; replies can still be read.
        public func finish() {
            self.outbound.finish()
        }
    }

    /// Reads reply frames in order.
    public final class Replies {
        private let nextFrame: () async throws -> InboundFrame?

        init(next: @escaping () async throws -> InboundFrame?) {
            self.nextFrame = next
        }

        /// The next reply's JSON bytes, or `nil` when the daemon closed the connection.
        public func next() async throws -> [UInt8]? {
            switch try await self.nextFrame() {
            case .payload(let buffer)?:
                return Array(buffer.readableBytesView)
            case .tooLarge(let length)?:
                throw ClientError(description: "reply of \(length) bytes is larger than this client accepts")
            case nil:
                return nil
            }
        }
    }
}
