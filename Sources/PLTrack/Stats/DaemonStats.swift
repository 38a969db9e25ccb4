import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// The counters fed by ingest and dispatch, as swift-metrics handles backed by one
/// ``StatsRegistry``. The pipeline's ledger lives in ``Pipeline``; ``StatsSnapshot`` and the
/// Prometheus text join the two.
public final class DaemonStats: Sendable {
    let startedAt: NIODeadline
    let registry = StatsRegistry()
    private let connectionsOpen: Meter
    private let connectionsTotal: Counter
    private let connectionsRefused: Counter
    private let connectionsForbidden: Counter
    private let stalledFrames: Counter
    private let idleConnectionsClosed: Counter
    private let framesReceived: Counter
    private let bytesReceived: Counter
    private let ingestBatches: Counter
    private let backpressurePauses: Counter
    private let slowReaderPauses: Counter
    private let spoolFullRefusals: Counter
    private let upstreamRequests: Counter
    private let upstreamFailures: Counter
    private let retries: Counter
    private let staleConnections: Counter
    private let refusedStreams: Counter
    private let upstreamConnections: [Bool: Counter]
    private let logsAnswered: Counter
    private let deadLetterWriteFailures: Counter
    private let rejections: [ProtocolError.Code: Counter]
    private let refusals: [RefusedCall.Reason: Counter]
    private let latency: Timer
    /// Serialises the connection limit check, so the limit is exact under concurrent accepts.
    private let connectionLimit = NIOLock()

    public init(startedAt: NIODeadline = .now()) {
        self.startedAt = startedAt
        let registry = self.registry
        self.connectionsOpen = Meter(label: Names.connectionsOpen, factory: registry)
        self.connectionsTotal = Counter(label: Names.connectionsTotal, factory: registry)
        self.connectionsRefused = Counter(label: Names.connectionsRefused, factory: registry)
        self.connectionsForbidden = Counter(label: Names.connectionsForbidden, factory: registry)
        self.stalledFrames = Counter(label: Names.stalledFrames, factory: registry)
        self.idleConnectionsClosed = Counter(label: Names.idleConnectionsClosed, factory: registry)
        self.framesReceived = Counter(label: Names.framesReceived, factory: registry)
        self.bytesReceived = Counter(label: Names.bytesReceived, factory: registry)
        self.ingestBatches = Counter(label: Names.ingestBatches, factory: registry)
        self.backpressurePauses = Counter(label: Names.backpressurePauses, factory: registry)
        self.slowReaderPauses = Counter(label: Names.slowReaderPauses, factory: registry)
        self.spoolFullRefusals = Counter(label: Names.spoolFull, factory: registry)
        self.upstreamRequests = Counter(label: Names.upstreamRequests, factory: registry)
        self.upstreamFailures = Counter(label: Names.upstreamFailures, factory: registry)
        self.retries = Counter(label: Names.retries, factory: registry)
        self.staleConnections = Counter(label: Names.staleConnections, factory: registry)
        self.refusedStreams = Counter(label: Names.refusedStreams, factory: registry)
        self.upstreamConnections = [
            true: Counter(label: Names.upstreamConnections, dimensions: [("protocol", "h2")], factory: registry),
            false: Counter(label: Names.upstreamConnections, dimensions: [("protocol", "http/1.1")], factory: registry),
        ]
        self.logsAnswered = Counter(label: Names.logsAnswered, factory: registry)
        self.deadLetterWriteFailures = Counter(label: Names.deadLetterWriteFailures, factory: registry)
        self.rejections = Dictionary(
            uniqueKeysWithValues: ProtocolError.Code.allCases.map {
                ($0, Counter(label: Names.rejected, dimensions: [("code", $0.rawValue)], factory: registry))
            }
        )
        self.refusals = Dictionary(
            uniqueKeysWithValues: RefusedCall.Reason.allCases.map {
                ($0, Counter(label: Names.refused, dimensions: [("reason", $0.rawValue)], factory: registry))
            }
        )
        self.latency = Timer(label: Names.upstreamLatency, factory: registry)
    }

    /// The metric names, as Prometheus shows them.
    enum Names {
        static let connectionsOpen = "pltrackd_connections_open"
        static let connectionsTotal = "pltrackd_connections_total"
        static let connectionsRefused = "pltrackd_connections_refused_total"
        static let connectionsForbidden = "pltrackd_connections_forbidden_total"
        static let stalledFrames = "pltrackd_stalled_frames_total"
        static let idleConnectionsClosed = "pltrackd_idle_connections_closed_total"
        static let framesReceived = "pltrackd_frames_received_total"
        static let bytesReceived = "pltrackd_bytes_received_total"
        static let ingestBatches = "pltrackd_ingest_batches_total"
        static let backpressurePauses = "pltrackd_backpressure_pauses_total"
        static let slowReaderPauses = "pltrackd_slow_reader_pauses_total"
        static let spoolFull = "pltrackd_spool_full_total"
        static let upstreamRequests = "pltrackd_upstream_requests_total"
        static let upstreamFailures = "pltrackd_upstream_failures_total"
        static let staleConnections = "pltrackd_upstream_stale_connections_total"
        static let refusedStreams = "pltrackd_upstream_refused_streams_total"
        static let upstreamConnections = "pltrackd_upstream_connections_opened_total"
        static let retries = "pltrackd_retries_total"
        static let logsAnswered = "pltrackd_logs_answered_total"
        static let deadLetterWriteFailures = "pltrackd_dead_letter_write_failures_total"
        static let rejected = "pltrackd_rejected_total"
        static let refused = "pltrackd_refused_total"
        static let upstreamLatency = "pltrackd_upstream_latency_seconds"
    }

    /// Counts a connection closed because its client stopped halfway through a frame.
    func stalledFrame() {
        self.stalledFrames.increment()
    }

    func idleConnectionClosed() {
        self.idleConnectionsClosed.increment()
    }

    /// Counts a connection refused because its peer is on neither allow-list.
    func forbidConnection() {
        self.connectionsForbidden.increment()
    }

    /// Counts a connection if it is within `limit`; returns `false` (and counts the refusal) if not.
    func openConnection(limit: Int) -> Bool {
        self.connectionLimit.withLock {
            guard self.registry.meter(Names.connectionsOpen) < Double(limit) else {
                self.connectionsRefused.increment()
                return false
            }
            self.connectionsOpen.increment()
            self.connectionsTotal.increment()
            return true
        }
    }

    func closeConnection() {
        self.connectionLimit.withLock { self.connectionsOpen.decrement() }
    }

    /// Counts `frames` frames of `bytes` bytes in all, length prefixes included.
    func framesReceived(_ frames: Int, bytes: Int) {
        self.framesReceived.increment(by: frames)
        self.bytesReceived.increment(by: bytes)
    }

    /// Counts one hand-off of a read's tracking calls to the pipeline.
    func ingestBatchSubmitted() {
        self.ingestBatches.increment()
    }

    func backpressurePaused() {
        self.backpressurePauses.increment()
    }

    func slowReaderPaused() {
        self.slowReaderPauses.increment()
    }

    /// A tracking call found the spool at `--spool-max-bytes`: refused, or its connection paused.
    func spoolWasFull() {
        self.spoolFullRefusals.increment()
    }

    /// Counts one upstream attempt; `reachedServer` is false when no HTTP answer came.
    func upstreamAttempted(reachedServer: Bool) {
        self.upstreamRequests.increment()
        if !reachedServer {
            self.upstreamFailures.increment()
        }
    }

    /// A request the server had not processed went again on a fresh connection: it met a kept
    /// HTTP/1.1 connection the server had closed (`staleConnection`), or the HTTP/2 server
    /// refused its stream or went away before it.
    func unprocessedRequestResent(staleConnection: Bool) {
        (staleConnection ? self.staleConnections : self.refusedStreams).increment()
    }

    /// A connection to PromptLayer opened, speaking HTTP/2 or HTTP/1.1.
    func upstreamConnectionOpened(http2: Bool) {
        self.upstreamConnections[http2]?.increment()
    }

    /// PromptLayer answered a `log.request` with its id.
    func logAnswered() {
        self.logsAnswered.increment()
    }

    func retryScheduled() {
        self.retries.increment()
    }

    func deadLetterWriteFailed() {
        self.deadLetterWriteFailures.increment()
    }

    /// A call that named a ref went to the dead letters unsent.
    func refused(_ reason: RefusedCall.Reason) {
        self.refusals[reason]?.increment()
    }

    /// Calls sent to the dead letters unsent, by reason (`unknown_ref`, `log_failed`).
    var refusalsByReason: [String: Int] {
        Dictionary(
            uniqueKeysWithValues: RefusedCall.Reason.allCases.map {
                ($0.rawValue, Int(self.registry.counter(Names.refused, [("reason", $0.rawValue)])))
            }
        )
    }

    func rejected(_ code: ProtocolError.Code) {
        self.rejections[code]?.increment()
    }

    func recordLatency(_ elapsed: TimeAmount) {
        self.latency.recordNanoseconds(elapsed.nanoseconds)
    }

    // MARK: Reading

    func count(_ name: String) -> Int {
        Int(self.registry.counter(name))
    }

    var openConnections: Int { Int(self.registry.meter(Names.connectionsOpen)) }

    /// Connections to PromptLayer opened so far that speak HTTP/2 (`true`) or HTTP/1.1.
    func upstreamConnectionsOpened(http2: Bool) -> Int {
        Int(self.registry.counter(Names.upstreamConnections, [("protocol", http2 ? "h2" : "http/1.1")]))
    }

    /// The rejection counts by code, every code present.
    var rejectionsByCode: [String: Int] {
        Dictionary(
            uniqueKeysWithValues: ProtocolError.Code.allCases.map {
                ($0.rawValue, Int(self.registry.counter(Names.rejected, [("code", $0.rawValue)])))
            }
        )
    }

    /// Upstream latency at `percentile` (0–100), in milliseconds; 0 before any request.
    func latencyMilliseconds(atPercentile percentile: Double) -> Double {
        self.registry.timer(Names.upstreamLatency)?.milliseconds(atPercentile: percentile) ?? 0
    }
}
