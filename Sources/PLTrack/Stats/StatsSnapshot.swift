import Foundation
import NIOCore

/// Everything the `stats` message answers, as one consistent reading.
public struct StatsSnapshot: Sendable, Codable, Equatable {
    public var uptimeSeconds: Double
    public var connectionsOpen: Int
    public var connectionsTotal: Int
    /// Connections refused because `--max-connections` were open.
    public var connectionsRefused: Int
    /// Connections refused because their peer's uid and gid are on neither allow-list.
    public var connectionsForbidden: Int
    /// Connections closed because their client stopped halfway through a frame (`--frame-timeout`).
    public var stalledFrames: Int
    /// Connections closed because their client sent nothing for `--idle-timeout`.
    public var idleConnectionsClosed: Int
    public var framesReceived: Int
    public var bytesReceived: Int
    /// Hand-offs of tracking calls from ingest to the pipeline: one per read, however many
    /// calls it held.
    public var ingestBatches: Int
    public var accepted: UInt64
    /// Frames answered with an error, by error code.
    public var rejected: [String: Int]
    public var coalesced: UInt64
    /// Upstream calls saved by coalescing, by message type.
    public var coalescedByType: [String: UInt64]
    /// Calls folded into the body of their ref's `log.request` (counted in `coalesced` too), by type.
    public var foldedByType: [String: UInt64] = [:]
    /// Calls waiting for a worker: coalescing, ready or waiting to retry.
    public var queued: Int
    public var retrying: Int
    public var inFlight: Int
    public var held: UInt64
    public var delivered: UInt64
    public var deadLettered: UInt64
    /// `accepted == delivered + dead_lettered + coalesced + held`; false would be a bug.
    public var ledgerBalances: Bool
    public var retries: Int
    public var upstreamRequests: Int
    /// Attempts that got no HTTP answer (refused, reset, timed out).
    public var upstreamFailures: Int
    /// Requests that met a kept connection the server had closed meanwhile and went again on a
    /// fresh one, not counted as failed attempts.
    public var upstreamStaleConnections = 0
    /// HTTP/2 streams the server refused (`REFUSED_STREAM`) or said with `GOAWAY` it would not
    /// process, sent again on a fresh connection, not counted as failed attempts.
    public var upstreamRefusedStreams = 0
    /// Connections to PromptLayer opened so far, speaking HTTP/2 and HTTP/1.1.
    public var upstreamConnectionsH2 = 0
    public var upstreamConnectionsHttp1 = 0
    /// `closed` while PromptLayer answers; `open` or `probing` while it does not, and one probe
    /// at a time goes out.
    public var upstreamCircuit = "closed"
    /// How many times PromptLayer was found unreachable.
    public var upstreamUnreachableEpisodes = 0
    /// How many requests may be on their way now: the delivery governor's adaptive limit,
    /// between 1 and ``upstreamMaxInFlight``.
    public var upstreamLimit = 0
    /// The ceiling of the limit (`--max-in-flight`).
    public var upstreamMaxInFlight = 0
    /// Requests on their way to PromptLayer now.
    public var upstreamSending = 0
    /// Seconds left of a pause PromptLayer asked for with `Retry-After`; 0 when not paused.
    public var upstreamPausedSeconds = 0.0
    /// The status (429 or 503) that asked for the pause, while paused.
    public var upstreamPauseStatus: Int?
    /// Attempts PromptLayer answered with 429 or 503.
    public var upstreamRefusals = 0
    public var upstreamLatencyP50Ms: Double
    public var upstreamLatencyP99Ms: Double
    /// Times a connection stopped being read because the queue was full.
    public var backpressurePauses: Int
    /// Times a connection stopped being read because its client was not reading its replies.
    public var slowReaderPauses: Int
    public var deadLetterWriteFailures: Int
    /// Calls that named a ref and went to the dead letters unsent, by reason: `unknown_ref`
    /// (no log with the ref came within `--ref-ttl`), `log_failed` (the log was refused or
    /// answered without an id).
    public var refused: [String: Int] = [:]
    /// `log.request`s PromptLayer answered with an id.
    public var logsAnswered = 0
    /// Calls that name a ref whose `log.request` has not come yet.
    public var waitingForLog = 0
    /// The bytes of their bodies (bounded by `--ref-wait-max-bytes`).
    public var waitingForLogBytes = 0
    /// Refs remembered with the id PromptLayer gave their log (or its failure), for `--ref-ttl`.
    public var knownRefs = 0
    /// Refs forgotten before `--ref-ttl` ran out, to stay within `--ref-max-known`.
    public var refsForgottenEarly = 0
    public var queueCapacity: Int
    public var workers: Int
    /// Calls accepted to the spool only, waiting for room in the memory queue.
    public var backlog: Int
    /// Tracking calls that found the spool full: answered `overloaded`, or their connection paused.
    public var spoolFull: Int
    /// The spool, when the daemon runs with one.
    public var spool: SpoolStats?

    init(
        stats: DaemonStats, ledger: Ledger, occupancy: PipelineOccupancy, workers: Int, spool: SpoolStats? = nil,
        now: NIODeadline = .now()
    ) {
        self.uptimeSeconds = Double((now - stats.startedAt).nanoseconds / 1_000_000) / 1000
        self.connectionsOpen = stats.openConnections
        self.connectionsTotal = stats.count(DaemonStats.Names.connectionsTotal)
        self.connectionsRefused = stats.count(DaemonStats.Names.connectionsRefused)
        self.connectionsForbidden = stats.count(DaemonStats.Names.connectionsForbidden)
        self.stalledFrames = stats.count(DaemonStats.Names.stalledFrames)
        self.idleConnectionsClosed = stats.count(DaemonStats.Names.idleConnectionsClosed)
        self.framesReceived = stats.count(DaemonStats.Names.framesReceived)
        self.bytesReceived = stats.count(DaemonStats.Names.bytesReceived)
        self.ingestBatches = stats.count(DaemonStats.Names.ingestBatches)
        self.accepted = ledger.accepted
        self.rejected = stats.rejectionsByCode
        self.coalesced = ledger.coalesced
        self.coalescedByType = ledger.coalescedByType
        self.foldedByType = ledger.foldedByType
        self.queued = occupancy.queued
        self.retrying = occupancy.retrying
        self.inFlight = occupancy.inFlight
        self.held = ledger.held
        self.delivered = ledger.delivered
        self.deadLettered = ledger.deadLettered
        self.ledgerBalances = ledger.balances
        self.retries = stats.count(DaemonStats.Names.retries)
        self.upstreamRequests = stats.count(DaemonStats.Names.upstreamRequests)
        self.upstreamFailures = stats.count(DaemonStats.Names.upstreamFailures)
        self.upstreamStaleConnections = stats.count(DaemonStats.Names.staleConnections)
        self.upstreamRefusedStreams = stats.count(DaemonStats.Names.refusedStreams)
        self.upstreamConnectionsH2 = stats.upstreamConnectionsOpened(http2: true)
        self.upstreamConnectionsHttp1 = stats.upstreamConnectionsOpened(http2: false)
        self.upstreamLatencyP50Ms = stats.latencyMilliseconds(atPercentile: 50)
        self.upstreamLatencyP99Ms = stats.latencyMilliseconds(atPercentile: 99)
        self.backpressurePauses = stats.count(DaemonStats.Names.backpressurePauses)
        self.slowReaderPauses = stats.count(DaemonStats.Names.slowReaderPauses)
        self.deadLetterWriteFailures = stats.count(DaemonStats.Names.deadLetterWriteFailures)
        self.refused = stats.refusalsByReason
        self.logsAnswered = stats.count(DaemonStats.Names.logsAnswered)
        self.waitingForLog = occupancy.waitingForLog
        self.knownRefs = occupancy.knownRefs
        self.waitingForLogBytes = occupancy.waitingForLogBytes
        self.refsForgottenEarly = occupancy.refsForgottenEarly
        self.queueCapacity = occupancy.capacity
        self.workers = workers
        self.backlog = occupancy.backlog
        self.spoolFull = stats.count(DaemonStats.Names.spoolFull)
        self.spool = spool
    }

    /// Takes the delivery governor's figures.
    mutating func record(_ governor: DeliveryGate.Snapshot, now: NIODeadline = .now()) {
        self.upstreamCircuit = governor.circuit
        self.upstreamUnreachableEpisodes = governor.openings
        self.upstreamLimit = governor.limit
        self.upstreamMaxInFlight = governor.maximumInFlight
        self.upstreamSending = governor.inFlight
        self.upstreamPausedSeconds = governor.pausedUntil.map { Double(max(0, ($0 - now).nanoseconds)) / 1e9 } ?? 0
        self.upstreamPauseStatus = governor.pauseStatus
        self.upstreamRefusals = governor.refusals
    }

    /// The snapshot as a JSON object with snake_case keys, as the `stats` reply carries it.
    public func json() throws -> String {
        String(decoding: try Self.encoder.encode(self), as: UTF8.self)
    }

    /// Reads a snapshot from the `stats` member of a reply.
    public static func decode(_ json: Data) throws -> Self {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Self.self, from: json)
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
