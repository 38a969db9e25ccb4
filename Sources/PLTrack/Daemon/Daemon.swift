import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// pltrackd as a ``Service``: binds the socket, runs the workers, and on graceful shutdown
/// stops accepting, lets held calls finish within the drain timeout, and reports what is left.
public final class Daemon: Service, Sendable {
    public let configuration: DaemonConfiguration
    private let logger: Logger
    private let group: any EventLoopGroup
    private let stats = DaemonStats()
    private let pipeline: Pipeline
    private let readiness: EventLoopPromise<Void>

    public init(
        configuration: DaemonConfiguration,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        self.pipeline = Pipeline(
            capacity: configuration.queueCapacity,
            coalescingWindow: TimeAmount(configuration.coalescingWindow),
            timerLoop: group.next()
        )
        self.readiness = group.next().makePromise(of: Void.self)
    }

    /// Returns once the socket is served, or throws why the daemon could not start.
    public func waitUntilReady() async throws {
        try await self.readiness.futureResult.get()
    }

    /// The current counters and ledger.
    public func statsSnapshot() -> StatsSnapshot {
        let (ledger, occupancy) = self.pipeline.snapshot
        return StatsSnapshot(
            stats: self.stats, ledger: ledger, occupancy: occupancy, workers: self.configuration.workers)
    }

    public func run() async throws {
        let delivery: DeliveryResources
        let server: any Channel
        do {
            delivery = try DeliveryResources(configuration: self.configuration, group: self.group, logger: self.logger)
            server = try await self.makeServer().bind(
                path: self.configuration.socketPath,
                mode: self.configuration.socketMode,
                group: self.group
            )
        } catch {
            self.readiness.fail(error)
            throw error
        }
        self.logger.info(
            "pltrackd \(PLTrackVersion.current) listening",
            metadata: [
                "socket": "\(self.configuration.socketPath)",
                "workers": "\(self.configuration.workers)",
                "delivery": "\(delivery.summary)",
            ]
        )
        self.readiness.succeed()

        let pool = WorkerPool(
            pipeline: self.pipeline,
            upstream: delivery.upstream,
            deadLetters: delivery.deadLetters,
            retryPolicy: self.configuration.retryPolicy,
            stats: self.stats,
            workers: self.configuration.workers,
            logger: self.logger
        )
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await pool.run() }
            try? await gracefulShutdown()
            await self.drain(server: server)
            // Requests still in flight after the drain timeout are cancelled, not awaited.
            tasks.cancelAll()
        }
        await delivery.close()
        self.logger.info("pltrackd stopped")
    }

    private func makeServer() -> IngestServer {
        let pipeline = self.pipeline
        let stats = self.stats
        let workers = self.configuration.workers
        return IngestServer(
            pipeline: pipeline,
            stats: stats,
            settings: IngestSettings(
                maximumFrameLength: self.configuration.maximumFrameLength,
                flushTimeout: self.configuration.flushTimeout,
                statsReply: { id in
                    let (ledger, occupancy) = pipeline.snapshot
                    let snapshot = StatsSnapshot(stats: stats, ledger: ledger, occupancy: occupancy, workers: workers)
                    do {
                        return .okWith(id: id, name: "stats", json: try snapshot.json())
                    } catch {
                        return .error(id: id, ProtocolError(.invalidMessage, "stats could not be encoded: \(error)"))
                    }
                }
            ),
            maximumConnections: self.configuration.maximumConnections,
            logger: self.logger
        )
    }

    /// Stops accepting, delivers what it can within the drain timeout, then stops the workers.
    private func drain(server: any Channel) async {
        self.logger.info("stopping: no new connections; delivering held messages")
        try? await server.close()
        SocketFile.remove(self.configuration.socketPath)
        self.pipeline.beginDraining()
        let result = try? await self.pipeline.flush(
            timeout: TimeAmount(self.configuration.drainTimeout),
            on: self.group.next()
        ).get()
        self.pipeline.stop()
        let ledger = self.pipeline.snapshot.ledger
        if result != .flushed && ledger.held > 0 {
            self.logger.error(
                "stopped with messages undelivered; they are lost (run with a spool to keep them)",
                metadata: ["undelivered": "\(ledger.held)", "drain_timeout": "\(self.configuration.drainTimeout)"]
            )
        }
    }
}
