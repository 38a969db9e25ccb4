import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// pltrackd as a ``Service``: serves its sockets (bound, or inherited from systemd), runs the
/// workers, keeps systemd informed, reloads on SIGHUP, and on graceful shutdown (or when the
/// terminal it was started from is closed) stops
/// accepting, lets held calls finish within the drain timeout, and reports what is left: kept
/// in the spool for the next start, or lost without one.
public final class Daemon: Service, Sendable {
    public let configuration: DaemonConfiguration
    let live: LiveConfiguration
    let logger: Logger
    let group: any EventLoopGroup
    let stats = DaemonStats()
    /// How many requests may be on their way, pauses and the circuit, shared by the workers.
    let gate: DeliveryGate
    /// The attempts on their way and when each started, for the watchdog.
    let workerActivity = WorkerActivity()
    let pipeline: Pipeline
    let notifier: SystemdNotifier
    let logLevel: LogLevelControl
    let reloader: ConfigurationResolver?
    let environment: [String: String]
    private let readiness: EventLoopPromise<Void>
    /// Said in `STATUS=` until the next successful reload, e.g. why the last one failed.
    let statusNote = Mutex<String?>(nil)
    /// Why the proxy refused the last tunnel, said in `STATUS=` until it opens one again.
    let proxyRefusal = NIOLockedValueBox<String?>(nil)
    let terminal = ControllingTerminal()
    /// Where plain log lines go; its loss stops the daemon.
    let standardError: StandardErrorStream?
    /// Reasons of the daemon's own to stop as on SIGTERM (see ``requestStop(because:)``).
    let stopRequests = AsyncStream<String>.makeStream()

    /// - Parameters:
    ///   - logLevel: shared with the log handlers, so a reload can change it.
    ///   - reloader: how to read the configuration again on SIGHUP; `nil` ignores SIGHUP.
    ///   - standardError: the stream the log handlers write plain lines to, if any; when it
    ///     loses its reader the daemon stops as on SIGTERM.
    /// - Throws: when the spool directory cannot be read or written.
    public init(
        configuration: DaemonConfiguration,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logLevel: LogLevelControl? = nil,
        reloader: ConfigurationResolver? = nil,
        standardError: StandardErrorStream? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        self.configuration = configuration
        self.live = LiveConfiguration(configuration)
        self.logger = logger
        self.group = group
        self.logLevel = logLevel ?? LogLevelControl(configuration.logLevel)
        self.reloader = reloader
        self.standardError = standardError
        self.environment = environment
        self.notifier = SystemdNotifier(environment: environment)
        let journal = try configuration.spoolDirectory.map { directory in
            try SpoolJournal(
                directory: directory,
                maximumBytes: configuration.spoolMaximumBytes,
                policy: configuration.fsyncPolicy,
                workers: configuration.maximumInFlight,
                logger: logger,
                refTTL: TimeAmount(configuration.refTTL)
            )
        }
        self.pipeline = Pipeline(
            capacity: configuration.queueCapacity,
            coalescingWindow: TimeAmount(configuration.coalescingWindow),
            timerLoop: group.next(),
            journal: journal,
            refTTL: TimeAmount(configuration.refTTL),
            refLimits: configuration.refLimits,
            maximumMergedBytes: configuration.maximumFrameLength
        )
        self.readiness = group.next().makePromise(of: Void.self)
        self.gate = DeliveryGate(
            maximumInFlight: configuration.maximumInFlight, pauseCap: configuration.retryPolicy.cap)
    }

    /// Returns once every socket is served, or throws why the daemon could not start.
    public func waitUntilReady() async throws {
        try await self.readiness.futureResult.get()
    }

    /// The current counters and ledger.
    public func statsSnapshot() -> StatsSnapshot {
        let (ledger, occupancy) = self.pipeline.snapshot
        var snapshot = StatsSnapshot(
            stats: self.stats, ledger: ledger, occupancy: occupancy, workers: self.configuration.maximumInFlight,
            spool: self.pipeline.journal.map { SpoolStats($0) })
        snapshot.record(self.gate.snapshot)
        return snapshot
    }

    public func run() async throws {
        HeapTrimming.returnFreedMemory()
        let delivery: DeliveryResources
        let listeners: Listeners
        do {
            delivery = try DeliveryResources(
                configuration: self.configuration, group: self.group, stats: self.stats, logger: self.logger,
                onProxyTunnel: { [logger = self.logger, proxyRefusal = self.proxyRefusal] refusal in
                    Self.proxyTunnel(refusal, remembered: proxyRefusal, logger: logger)
                })
            listeners = try await Listeners.open(for: self)
        } catch {
            self.readiness.fail(error)
            throw error
        }
        self.reportRecovery()
        self.logger.info(
            "pltrackd \(PLTrackVersion.current) ready",
            metadata: [
                "sockets": "\(listeners.summary)",
                "workers": "\(self.configuration.maximumInFlight)",
                "delivery": "\(delivery.summary)",
            ]
        )
        self.pipeline.start()
        self.readiness.succeed()
        self.notifier.ready()
        self.notifier.status(self.statusLine())

        let pool = WorkerPool(
            pipeline: self.pipeline,
            upstream: delivery.upstream,
            deadLetters: delivery.deadLetters,
            live: self.live,
            stats: self.stats,
            workers: self.configuration.maximumInFlight,
            logger: self.logger,
            gate: self.gate,
            activity: self.workerActivity
        )
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await pool.run() }
            if self.notifier.isActive {
                tasks.addTask { await self.reportStatus() }
            }
            if let interval = SystemdNotifier.watchdogInterval() {
                tasks.addTask { await self.keepWatchdogFed(every: interval, activity: self.workerActivity) }
            }
            if self.reloader != nil {
                tasks.addTask { await self.answerHangups() }
            }
            if let standardError = self.standardError {
                tasks.addTask { await self.stopWhenStandardErrorIsLost(standardError) }
            }
            if let journal = self.pipeline.journal, journal.policy == .interval {
                tasks.addTask { await Self.flushSpool(journal, every: self.configuration.fsyncInterval) }
            }
            await self.untilStopRequested()
            self.notifier.stopping()
            await self.drain(listeners)
            // Requests still in flight after the drain timeout are cancelled, not awaited.
            tasks.cancelAll()
        }
        await delivery.close()
        self.logger.info("pltrackd stopped")
    }

    /// The `stats` reply.
    func statsReply(_ id: ReplyID?, format: StatsFormat) -> Reply {
        do {
            switch format {
            case .json:
                return .okWith(id: id, name: "stats", json: try self.statsSnapshot().json())
            case .prometheus:
                return .okWith(id: id, name: "prometheus", json: JSONText.quoted(self.prometheusText()))
            }
        } catch {
            return .error(id: id, ProtocolError(.invalidMessage, "stats could not be encoded: \(error)"))
        }
    }

    /// The counters in the Prometheus text format: the swift-metrics handles of ``DaemonStats``,
    /// and the ledger and queues read from the pipeline at this moment.
    public func prometheusText() -> String {
        let snapshot = self.statsSnapshot()
        let ledger: [(String, String, Double)] = [
            ("pltrackd_accepted_total", "counter", Double(snapshot.accepted)),
            ("pltrackd_delivered_total", "counter", Double(snapshot.delivered)),
            ("pltrackd_dead_lettered_total", "counter", Double(snapshot.deadLettered)),
            ("pltrackd_coalesced_total", "counter", Double(snapshot.coalesced)),
            ("pltrackd_held", "gauge", Double(snapshot.held)),
            ("pltrackd_backlog", "gauge", Double(snapshot.backlog)),
            ("pltrackd_queued", "gauge", Double(snapshot.queued)),
            ("pltrackd_retrying", "gauge", Double(snapshot.retrying)),
            ("pltrackd_in_flight", "gauge", Double(snapshot.inFlight)),
            ("pltrackd_waiting_for_log", "gauge", Double(snapshot.waitingForLog)),
            ("pltrackd_waiting_for_log_bytes", "gauge", Double(snapshot.waitingForLogBytes)),
            ("pltrackd_known_refs", "gauge", Double(snapshot.knownRefs)),
            ("pltrackd_refs_forgotten_early_total", "counter", Double(snapshot.refsForgottenEarly)),
            ("pltrackd_queue_capacity", "gauge", Double(snapshot.queueCapacity)),
            ("pltrackd_workers", "gauge", Double(snapshot.workers)),
            ("pltrackd_upstream_limit", "gauge", Double(snapshot.upstreamLimit)),
            ("pltrackd_upstream_max_in_flight", "gauge", Double(snapshot.upstreamMaxInFlight)),
            ("pltrackd_upstream_sending", "gauge", Double(snapshot.upstreamSending)),
            ("pltrackd_upstream_paused_seconds", "gauge", snapshot.upstreamPausedSeconds),
            ("pltrackd_upstream_refusals_total", "counter", Double(snapshot.upstreamRefusals)),
            ("pltrackd_uptime_seconds", "gauge", snapshot.uptimeSeconds),
        ]
        let spool: [(String, String, Double)] =
            snapshot.spool.map { spool in
                [
                    ("pltrackd_spool_bytes", "gauge", Double(spool.bytes)),
                    ("pltrackd_spool_records", "gauge", Double(spool.records)),
                    ("pltrackd_spool_oldest_undelivered_age_seconds", "gauge", spool.oldestUndeliveredAgeSeconds ?? 0),
                    ("pltrackd_spool_recovered", "gauge", Double(spool.recovered)),
                    ("pltrackd_spool_recovered_in_flight", "gauge", Double(spool.recoveredInFlight)),
                    ("pltrackd_spool_damaged_segments", "gauge", Double(spool.damagedSegments)),
                    ("pltrackd_spool_fsyncs_total", "counter", Double(spool.fsyncs)),
                    ("pltrackd_spool_compactions_total", "counter", Double(spool.compactions)),
                    ("pltrackd_spool_compacted_calls_total", "counter", Double(spool.compactedCalls)),
                    ("pltrackd_spool_refs_carried_total", "counter", Double(spool.refsCarried)),
                    ("pltrackd_spool_refs_not_carried_total", "counter", Double(spool.refsNotCarried)),
                ]
            } ?? []
        return self.stats.registry.prometheusText(
            extra: (ledger + spool).map { PrometheusSample(name: $0.0, type: $0.1, labels: [], value: $0.2) }
        )
    }

    /// Stops accepting, delivers what it can within the drain timeout, then stops the workers.
    private func drain(_ listeners: Listeners) async {
        self.logger.info("stopping: no new connections; delivering held messages")
        await listeners.close()
        self.pipeline.beginDraining()
        let drainTimeout = self.live.current.drainTimeout
        let result = try? await self.pipeline.flush(timeout: TimeAmount(drainTimeout), on: self.group.next()).get()
        self.pipeline.stop()
        let ledger = self.pipeline.snapshot.ledger
        if let journal = self.pipeline.journal {
            try? await journal.finish(on: self.group.next()).get()
            if ledger.held > 0 {
                self.logger.notice(
                    "stopped with messages undelivered; they stay in the spool and are sent after the next start",
                    metadata: [
                        "undelivered": "\(ledger.held)", "spool": "\(journal.directory)",
                        "drain_timeout": "\(HumanDuration.format(drainTimeout))",
                    ]
                )
            }
        } else if result != .flushed && ledger.held > 0 {
            self.logger.error(
                "stopped with messages undelivered; they are lost (run with a spool to keep them)",
                metadata: ["undelivered": "\(ledger.held)", "drain_timeout": "\(HumanDuration.format(drainTimeout))"]
            )
        }
    }
}
