import Logging
import NIOCore
import NIOEmbedded
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The ingest handler on an `EmbeddedChannel`: the tracking calls of one read reach the
/// pipeline in one hand-off, and the replies keep the order of the frames.
struct ConnectionHandlerTests {
    let channel = EmbeddedChannel()
    let pipeline: Pipeline
    let stats = DaemonStats()

    init(capacity: Int = 100, idleTimeout: Duration = .seconds(600)) throws {
        self.pipeline = Pipeline(
            capacity: capacity, coalescingWindow: .seconds(3600), timerLoop: self.channel.embeddedEventLoop)
        var configuration = DaemonConfiguration(socketPath: "/unused")
        configuration.idleTimeout = idleTimeout
        let settings = IngestSettings(
            maximumFrameLength: 1 << 20,
            role: .tracking,
            live: LiveConfiguration(configuration),
            statsReply: { id, _ in .ok(id: id) }
        )
        try self.channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(FrameDecoder(maximumFrameLength: 1 << 20)),
            ConnectionHandler(
                pipeline: self.pipeline, stats: self.stats, settings: settings, logger: Logger(label: "test"))
        )
    }

    static func frames(_ messages: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for message in messages {
            buffer.writeFrame(bytes: Array(message.utf8))
        }
        return buffer
    }

    static func track(_ requestID: Int, id: Int? = nil) -> String {
        let id = id.map { #""id":\#($0),"# } ?? ""
        return #"{\#(id)"type":"track.prompt","prompt_name":"batch","request_id":\#(requestID)}"#
    }

    /// The replies written so far, as JSON.
    func replies() throws -> [JSONValue] {
        var replies: [JSONValue] = []
        while var frame = try self.channel.readOutbound(as: ByteBuffer.self) {
            while let length = frame.readInteger(as: UInt32.self), let payload = frame.readBytes(length: Int(length)) {
                replies.append(try JSONValue.parse(payload))
            }
        }
        return replies
    }

    var handOffs: Int { self.stats.count(DaemonStats.Names.ingestBatches) }

    @Test func theCallsOfOneReadAreHandedOnOnce() throws {
        try self.channel.writeInbound(
            Self.frames([Self.track(1, id: 1), Self.track(2), Self.track(3, id: 3), Self.track(4)]))
        #expect(self.handOffs == 1)
        #expect(self.pipeline.snapshot.ledger.accepted == 4)
        #expect(self.stats.count(DaemonStats.Names.framesReceived) == 4)
        #expect(try self.replies().map { $0["id"] } == [.integer(1), .integer(3)])
        #expect(try self.channel.finish().isClean)
    }

    @Test func anotherMessageHandsOnTheCallsBeforeItSoRepliesKeepTheirOrder() throws {
        try self.channel.writeInbound(
            Self.frames([
                Self.track(1, id: 1), #"{"type":"ping","id":"p"}"#, Self.track(2, id: 2),
                #"{"type":"track.prompt","id":"bad","request_id":3}"#, Self.track(4, id: 4),
            ]))
        // Before the ping, before the invalid frame, and at the end of the read.
        #expect(self.handOffs == 3)
        #expect(self.pipeline.snapshot.ledger.accepted == 3)
        let replies = try self.replies()
        #expect(replies.map { $0["id"] } == [.integer(1), .string("p"), .integer(2), .string("bad"), .integer(4)])
        #expect(replies[3]["ok"] == .bool(false))
        #expect(try self.channel.finish().isClean)
    }

    @Test func eachReadIsItsOwnHandOff() throws {
        try self.channel.writeInbound(Self.frames([Self.track(1), Self.track(2)]))
        try self.channel.writeInbound(Self.frames([Self.track(3), Self.track(4), Self.track(5)]))
        #expect(self.handOffs == 2)
        #expect(self.pipeline.snapshot.ledger.accepted == 5)
        #expect(try self.channel.finish().isClean)
    }

    @Test func whenThePipelineIsFullTheRestWaitsAndSoDoesEveryReplyBehindIt() throws {
        let connection = try ConnectionHandlerTests(capacity: 2)
        try connection.channel.writeInbound(
            Self.frames([
                Self.track(1, id: 1), Self.track(2, id: 2), Self.track(3, id: 3), #"{"type":"ping","id":"p"}"#,
            ]))
        #expect(connection.pipeline.snapshot.ledger.accepted == 2)
        // The third call and the ping behind it wait for room; the ping is not answered first.
        #expect(try connection.replies().map { $0["id"] } == [.integer(1), .integer(2)])
        #expect(connection.stats.count(DaemonStats.Names.backpressurePauses) == 1)
        #expect(connection.stats.count(DaemonStats.Names.framesReceived) == 4)
        #expect(try connection.channel.finish().isClean)
    }

    /// A review found frames parked by backpressure validated and counted a second time when
    /// reading resumed.
    @MainActor
    @Test func framesParkedWhilePausedAreValidatedAndCountedOnceWhenReadingResumes() async throws {
        let connection = try ConnectionHandlerTests(capacity: 2)
        try connection.channel.writeInbound(
            Self.frames([Self.track(1, id: 1), Self.track(2, id: 2), Self.track(3, id: 3)]))
        // Read while paused: parked as read.
        try connection.channel.writeInbound(
            Self.frames([#"{"type":"track.prompt","id":"bad","request_id":5}"#, Self.track(4, id: 4)]))
        // Room again: release what coalesces and deliver it.
        _ = connection.pipeline.flush(timeout: .seconds(60), on: connection.channel.embeddedEventLoop)
        for worker in 0..<2 {
            let envelope = try #require(await connection.pipeline.nextEnvelope(for: worker))
            connection.pipeline.attemptFinished(envelope, .delivered)
        }
        connection.channel.embeddedEventLoop.run()
        #expect(
            try connection.replies().map { $0["id"] }
                == [.integer(1), .integer(2), .integer(3), .string("bad"), .integer(4)])
        #expect(connection.stats.count(DaemonStats.Names.framesReceived) == 5, "each frame counted once")
        #expect(connection.stats.rejectionsByCode["invalid_message"] == 1, "the invalid frame answered once")
        #expect(connection.pipeline.snapshot.ledger.accepted == 4)
        #expect(try connection.channel.finish().isClean)
    }

    @Test func noReplyPassesAPendingFlush() throws {
        try self.channel.writeInbound(
            Self.frames([
                Self.track(1, id: 1), #"{"type":"flush","id":"f","timeout_ms":1000}"#, Self.track(2, id: 2),
                #"{"type":"ping","id":"p"}"#,
            ]))
        // Nothing delivers the calls here, so the flush waits for its timeout.
        #expect(try self.replies().map { $0["id"] } == [.integer(1)])
        #expect(self.pipeline.snapshot.ledger.accepted == 2, "the call behind the flush is taken at once")
        self.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        let replies = try self.replies()
        #expect(replies.map { $0["id"] } == [.string("f"), .integer(2), .string("p")])
        #expect(replies.first?["error"]?["code"] == .string("timeout"))
        #expect(try self.channel.finish().isClean)
    }

    @Test func afterTheClientsHalfCloseTheFlushIsStillAnsweredThenTheConnectionCloses() throws {
        try self.channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
        try self.channel.writeInbound(Self.frames([Self.track(1), #"{"type":"flush","id":"f","timeout_ms":500}"#]))
        self.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(self.channel.isActive, "the flush's reply is still owed")
        self.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        #expect(try self.replies().map { $0["id"] } == [.string("f")])
        #expect(!self.channel.isActive)
        #expect(try self.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aConnectionSilentForTheIdleTimeoutIsClosedAndCounted() throws {
        let connection = try ConnectionHandlerTests(idleTimeout: .seconds(60))
        try connection.channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        try connection.channel.writeInbound(Self.frames([Self.track(1, id: 1)]))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(connection.channel.isActive, "the read moved the deadline")
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!connection.channel.isActive)
        #expect(connection.stats.count(DaemonStats.Names.idleConnectionsClosed) == 1)
        #expect(try connection.replies().map { $0["id"] } == [.integer(1)])
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aConnectionOwedAReplyIsNotIdle() throws {
        let connection = try ConnectionHandlerTests(idleTimeout: .seconds(60))
        try connection.channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
        // A call is held (nothing delivers it here), so the flush waits for its timeout.
        try connection.channel.writeInbound(
            Self.frames([Self.track(1), #"{"type":"flush","id":"f","timeout_ms":300000}"#]))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(200))
        #expect(connection.channel.isActive, "its client waits for the flush")
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(100))
        #expect(try connection.replies().map { $0["id"] } == [.string("f")])
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        #expect(!connection.channel.isActive)
        #expect(connection.stats.count(DaemonStats.Names.idleConnectionsClosed) == 1)
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    /// A client that sends and never reads its replies is not read either; it is owed replies,
    /// but it holds the connection without using it, so the idle timeout closes it too.
    @Test func aClientThatReadsNoneOfItsRepliesIsClosedAfterTheIdleTimeout() throws {
        let connection = try ConnectionHandlerTests(idleTimeout: .seconds(60))
        try connection.channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
        connection.channel.isWritable = false  // its replies fill the socket: the client reads none
        try connection.channel.writeInbound(Self.frames([Self.track(1, id: 1), #"{"type":"ping","id":2}"#]))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!connection.channel.isActive)
        #expect(connection.stats.count(DaemonStats.Names.idleConnectionsClosed) == 1)
        // What the daemon had written before it closed, unread by the client.
        #expect(try connection.replies().map { $0["id"] } == [.integer(1), .integer(2)])
        #expect(try connection.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test func aClientThatReadsItsRepliesAgainIsKeptOpen() throws {
        let connection = try ConnectionHandlerTests(idleTimeout: .seconds(60))
        try connection.channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
        connection.channel.isWritable = false
        try connection.channel.writeInbound(Self.frames([Self.track(1, id: 1)]))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        connection.channel.isWritable = true  // it reads: the daemon reads it again
        connection.channel.pipeline.fireChannelWritabilityChanged()
        try connection.channel.writeInbound(Self.frames([#"{"type":"ping","id":2}"#]))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        #expect(connection.channel.isActive, "100 s in, but it read 50 s ago")
        #expect(try connection.replies().map { $0["id"] } == [.integer(1), .integer(2)])
        #expect(connection.stats.count(DaemonStats.Names.idleConnectionsClosed) == 0)
        #expect(try connection.channel.finish().isClean)
    }

    /// The sanitizer run found each connection's handler kept alive by its own idle timer.
    @Test func aClosedConnectionLeavesNoHandlerBehind() throws {
        weak var released: ConnectionHandler?
        try {
            let channel = EmbeddedChannel()
            let handler = ConnectionHandler(
                pipeline: self.pipeline, stats: self.stats,
                settings: IngestSettings(
                    maximumFrameLength: 1 << 20, role: .tracking,
                    live: LiveConfiguration(DaemonConfiguration(socketPath: "/unused")),
                    statsReply: { id, _ in .ok(id: id) }),
                logger: Logger(label: "test"))
            released = handler
            try channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(FrameDecoder(maximumFrameLength: 1 << 20)), handler)
            try channel.connect(to: .init(unixDomainSocketPath: "/unused")).wait()
            try channel.writeInbound(Self.frames([Self.track(1, id: 1)]))
            #expect(try channel.readOutbound(as: ByteBuffer.self) != nil, "the call was answered")
            #expect(try channel.finish().isClean)
        }()
        #expect(released == nil, "the handler outlived its connection")
        #expect(try self.channel.finish().isClean)
    }
}
