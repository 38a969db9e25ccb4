import Foundation
import PLTrack

/// The stats as a two-column table for people.
struct StatsTable {
    let rows: [(String, String)]

    init(_ stats: StatsSnapshot) {
        let rejected = stats.rejected.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        self.rows =
            [
                ("uptime", String(format: "%.1f s", stats.uptimeSeconds)),
                (
                    "connections",
                    "\(stats.connectionsOpen) open, \(stats.connectionsTotal) total, \(stats.connectionsRefused) refused, \(stats.connectionsForbidden) forbidden, \(stats.stalledFrames) closed mid-frame, \(stats.idleConnectionsClosed) closed idle"
                ),
                (
                    "frames received",
                    "\(stats.framesReceived) (\(stats.bytesReceived) bytes), handed on in \(stats.ingestBatches) batches"
                ),
                ("accepted", "\(stats.accepted)"),
                ("rejected", rejected.isEmpty ? "0" : rejected),
                ("coalesced", Self.coalesced(stats)),
                ("queued", "\(stats.queued) of \(stats.queueCapacity) (\(stats.retrying) waiting to retry)"),
                (
                    "in flight",
                    "\(stats.upstreamSending) on their way (limit \(stats.upstreamLimit), at most \(stats.upstreamMaxInFlight))"
                ),
                ("delivered", "\(stats.delivered)"),
                ("dead-lettered", "\(stats.deadLettered)"),
                (
                    "refs",
                    "\(stats.logsAnswered) logs answered, \(stats.foldedByType.values.reduce(0, +)) calls folded into them; \(stats.waitingForLog) calls (\(stats.waitingForLogBytes) bytes) waiting for their log, \(stats.knownRefs) refs known (\(stats.refsForgottenEarly) forgotten early); sent to the dead letters unsent: \(stats.refused["unknown_ref"] ?? 0) unknown_ref, \(stats.refused["log_failed"] ?? 0) log_failed, \(stats.refused["ref_wait_full"] ?? 0) ref_wait_full"
                ),
                ("retries", "\(stats.retries)"),
                (
                    "upstream requests",
                    "\(stats.upstreamRequests) (\(stats.upstreamFailures) without an answer, \(stats.upstreamRefusals) answered 429 or 503); circuit \(stats.upstreamCircuit), opened \(stats.upstreamUnreachableEpisodes) times"
                ),
                (
                    "paused",
                    stats.upstreamPausedSeconds > 0
                        ? String(
                            format: "%.1f s more (PromptLayer answered %d)", stats.upstreamPausedSeconds,
                            stats.upstreamPauseStatus ?? 0)
                        : "no"
                ),
                (
                    "upstream latency",
                    String(format: "p50 %.1f ms, p99 %.1f ms", stats.upstreamLatencyP50Ms, stats.upstreamLatencyP99Ms)
                ),
                (
                    "backpressure pauses",
                    "\(stats.backpressurePauses) (queue or spool full), \(stats.slowReaderPauses) (client not reading)"
                ),
                ("ledger", stats.ledgerBalances ? "balances" : "DOES NOT BALANCE"),
            ] + Self.spoolRows(stats)
    }

    private static func spoolRows(_ stats: StatsSnapshot) -> [(String, String)] {
        guard let spool = stats.spool else {
            return [("spool", "none: held calls are in memory only")]
        }
        let oldest = spool.oldestUndeliveredAgeSeconds.map { String(format: ", oldest %.1f s", $0) } ?? ""
        return [
            (
                "spool",
                "\(spool.records) undelivered in \(spool.bytes) bytes\(oldest); fsync \(spool.fsync), \(spool.fsyncs) so far"
            ),
            (
                "compacted",
                "\(spool.compactions) segments, \(spool.compactedCalls) pending calls copied forward"
            ),
            ("backlog", "\(stats.backlog) on disk waiting for room in memory; spool full \(stats.spoolFull) times"),
            (
                "at start",
                "\(spool.recovered) recovered (\(spool.recoveredInFlight) were in flight and may repeat), \(spool.damagedSegments) damaged segments (\(spool.damagedBytes) bytes skipped)"
            ),
        ]
    }

    var text: String {
        let width = self.rows.map(\.0.count).max() ?? 0
        return self.rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n")
    }

    /// The upstream calls saved, and by which types.
    private static func coalesced(_ stats: StatsSnapshot) -> String {
        let byType = stats.coalescedByType.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return byType.isEmpty ? "\(stats.coalesced)" : "\(stats.coalesced) (\(byType))"
    }
}
