import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// Clients that start a frame and stall are answered `timeout` and closed after
/// `--frame-timeout`, counted, and a thousand of them do not keep anyone else waiting.
struct StalledClientTests {
    @Test func aThousandClientsStalledHalfwayAreClosedAndOthersAreServedMeanwhile() async throws {
        let daemon = try await DaemonHarness { $0.frameTimeout = .milliseconds(300) }
        defer { daemon.tearDown() }
        let group = MultiThreadedEventLoopGroup.singleton
        var stalled: [any Channel] = []
        let replies = RepliesCollector()
        for _ in 0..<1000 {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(replies)
                    }
                }
                .connect(unixDomainSocketPath: daemon.socketPath).get()
            // A frame announced at 100 bytes, of which 10 arrive.
            var half = ByteBuffer()
            half.writeInteger(UInt32(100))
            half.writeString(#"{"type":"p"#)
            try await channel.writeAndFlush(half)
            stalled.append(channel)
        }
        // Meanwhile another client is answered as usual.
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        for channel in stalled {
            try await channel.closeFuture.get()  // the daemon closes each of them
        }
        #expect(daemon.daemon.statsSnapshot().stalledFrames == 1000)
        #expect(daemon.daemon.statsSnapshot().rejected["timeout"] == 1000)
        #expect(replies.codes == Array(repeating: "timeout", count: 1000))
        try await daemon.stop()
    }

    /// The guard on an `EmbeddedChannel`, its clock moved by hand.
    struct Guarded {
        let channel = EmbeddedChannel()
        let stats = DaemonStats()

        init() throws {
            var configuration = DaemonConfiguration(socketPath: "/unused")
            configuration.frameTimeout = .seconds(10)
            try self.channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(FrameDecoder(maximumFrameLength: 1 << 20)),
                StalledFrameGuard(live: LiveConfiguration(configuration), stats: self.stats, logger: Logger(label: "t"))
            )
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func write(_ text: String, from: Int, to: Int) throws {
            var frame = ByteBuffer()
            frame.writeFrame(bytes: Array(text.utf8))
            try self.channel.writeInbound(frame.getSlice(at: from, length: to - from) ?? ByteBuffer())
        }

        func advance(seconds: Int64) {
            self.channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
        }
    }

    static let ping = #"{"type":"ping","id":1}"#

    @Test func framesFinishedInPiecesWithinTheTimeoutGoOnEachWithItsOwnClock() throws {
        let guarded = try Guarded()
        try guarded.write(Self.ping, from: 0, to: 7)
        guarded.advance(seconds: 9)
        // The rest of the first frame and the start of a second, in one read.
        var rest = ByteBuffer()
        rest.writeFrame(bytes: Array(Self.ping.utf8))
        rest.moveReaderIndex(forwardBy: 7)
        rest.writeFrame(bytes: Array(Self.ping.utf8))
        try guarded.channel.writeInbound(
            rest.getSlice(at: rest.readerIndex, length: rest.readableBytes - 3) ?? ByteBuffer())
        guarded.advance(seconds: 9)  // 18 s since the first frame began, 9 since the second did
        #expect(guarded.channel.isActive)
        try guarded.channel.writeInbound(rest.getSlice(at: rest.writerIndex - 3, length: 3) ?? ByteBuffer())
        guarded.advance(seconds: 60)
        #expect(guarded.channel.isActive)
        #expect(try guarded.channel.readInbound(as: InboundFrame.self) != nil, "the frames reach the next handler")
        #expect(try guarded.channel.readInbound(as: InboundFrame.self) != nil)
        #expect(guarded.stats.count(DaemonStats.Names.stalledFrames) == 0)
        #expect(try guarded.channel.finish().isClean)
    }

    /// While the daemon does not read the connection, the client cannot send the rest of its
    /// frame; that time is not the client's. When reading resumes it gets the whole timeout again.
    @Test func timeTheDaemonSpentNotReadingIsNotCountedAgainstAHalfSentFrame() throws {
        let guarded = try Guarded()
        try guarded.write(Self.ping, from: 0, to: 7)
        guarded.advance(seconds: 9)
        guarded.channel.pipeline.triggerUserOutboundEvent(ReadingState.stopped, promise: nil)
        guarded.advance(seconds: 60)
        #expect(guarded.channel.isActive, "not timed out while the daemon read nothing")
        guarded.channel.pipeline.triggerUserOutboundEvent(ReadingState.resumed, promise: nil)
        guarded.advance(seconds: 9)
        #expect(guarded.channel.isActive, "the clock started again in full when reading resumed")
        guarded.advance(seconds: 1)
        #expect(!guarded.channel.isActive, "timed out 10 s after reading resumed")
        #expect(guarded.stats.count(DaemonStats.Names.stalledFrames) == 1)
        _ = try? guarded.channel.finish()
    }

    @Test func aFrameStalledPastTheTimeoutIsAnsweredTimeoutAndItsRestIsNeverTaken() throws {
        let guarded = try Guarded()
        try guarded.write(Self.ping, from: 0, to: 7)
        guarded.advance(seconds: 10)
        var reply = try #require(try guarded.channel.readOutbound(as: ByteBuffer.self))
        let length = reply.readInteger(as: UInt32.self) ?? 0
        let payload = reply.readBytes(length: Int(length)) ?? []
        let answer = try JSONValue.parse(payload)
        #expect(answer["error"]?["code"]?.string == "timeout")
        #expect(guarded.stats.count(DaemonStats.Names.stalledFrames) == 1)
        try guarded.write(Self.ping, from: 7, to: Self.ping.utf8.count + 4)
        #expect(try guarded.channel.readInbound(as: InboundFrame.self) == nil, "nothing after the timeout is taken")
        _ = try? guarded.channel.finish()
    }
}

/// The error codes of the replies read on the stalled connections.
final class RepliesCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let lock = NSLock()
    private var collected: [String] = []

    var codes: [String] { self.lock.withLock { self.collected } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        while let length = buffer.readInteger(as: UInt32.self), let payload = buffer.readBytes(length: Int(length)) {
            let code = (try? JSONValue.parse(payload))?["error"]?["code"]?.string ?? "?"
            self.lock.withLock { self.collected.append(code) }
        }
    }
}
