import Logging
import NIOCore
import NIOPosix

/// The listening side: accepts client connections on a Unix stream socket and gives each its
/// own ``ConnectionHandler``.
struct IngestServer {
    let pipeline: Pipeline
    let stats: DaemonStats
    let settings: IngestSettings
    let logger: Logger

    /// A connection's share of its event loop's turn: one read of at most this many bytes
    /// (about 60 calls). Every connection on a loop gets its share before any gets another, so
    /// a client that floods delays the others on its loop by one such read per turn. NIO's
    /// default, four reads of up to 64 KiB, let 16 flooding connections hold another client's
    /// acknowledgement up to 270 ms (benchmark row `fairness`); see `scripts/bench/README.md`.
    static let readBytesPerTurn = 16 << 10

    /// Binds `path` (replacing a stale socket file) with permission bits `mode`.
    func bind(path: String, mode: UInt32, group: any EventLoopGroup) async throws -> any Channel {
        try SocketFile.prepare(path)
        let channel = try await self.bootstrap(group: group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false)
            .get()
        try SocketFile.setMode(path, mode)
        return channel
    }

    /// Serves a listening socket inherited from systemd; its file stays systemd's.
    func adopt(_ socket: InheritedSocket, group: any EventLoopGroup) async throws -> any Channel {
        try await self.bootstrap(group: group).withBoundSocket(socket.descriptor).get()
    }

    private func bootstrap(group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.readBytesPerTurn)
            )
            .childChannelInitializer { channel in
                PeerCredentials.of(channel).flatMapThrowing { peer in
                    try self.initialize(channel, peer: peer)
                }
            }
    }

    private func initialize(_ channel: any Channel, peer: PeerCredentials) throws {
        var logger = self.logger
        logger[metadataKey: "peer_uid"] = "\(peer.uid)"
        logger[metadataKey: "peer_pid"] = "\(peer.pid)"
        let access = self.settings.live.read { PeerAccess(allowedUIDs: $0.allowedUIDs, allowedGIDs: $0.allowedGIDs) }
        guard access.admits(peer) else {
            logger.notice("connection refused: its uid and gid are in neither --allow-uid nor --allow-gid")
            self.stats.forbidConnection()
            try self.refuse(
                channel,
                ProtocolError(
                    .forbidden,
                    "uid \(peer.uid) and gid \(peer.gid) may not use this socket (--allow-uid, --allow-gid)"))
            return
        }
        let limit = self.settings.live.read(\.maximumConnections)
        guard self.stats.openConnection(limit: limit) else {
            try self.refuse(
                channel, ProtocolError(.overloaded, "pltrackd already serves \(limit) connections (--max-connections)"))
            return
        }
        let stats = self.stats
        channel.closeFuture.whenComplete { _ in stats.closeConnection() }
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(FrameDecoder(maximumFrameLength: self.settings.maximumFrameLength)),
            StalledFrameGuard(live: self.settings.live, stats: self.stats, logger: logger),
            ConnectionHandler(pipeline: self.pipeline, stats: self.stats, settings: self.settings, logger: logger)
        )
    }

    /// Answers a connection that will not be served with `error`, counted, and closes it
    /// without losing the reply (``LingeringClose``).
    private func refuse(_ channel: any Channel, _ error: ProtocolError) throws {
        self.stats.rejected(error.code)
        try channel.pipeline.syncOperations.addHandler(DiscardingHandler())
        LingeringClose.close(channel, after: .error(id: nil, error))
    }
}
