import Foundation
import PLTrack

/// The stats as a two-column table for people.
struct StatsTable {
    let rows: [(String, String)]

    init(_ stats: StatsSnapshot) {
        let rejected = stats.rejected.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        self.rows = [
            ("uptime", String(format: "%.1f s", stats.uptimeSeconds)),
            (
                "connections",
                "\(stats.connectionsOpen) open, \(stats.connectionsTotal) total, \(stats.connectionsRefused) refused"
            ),
            ("frames received", "\(stats.framesReceived) (\(stats.bytesReceived) bytes)"),
            ("accepted", "\(stats.accepted)"),
            ("rejected", rejected.isEmpty ? "0" : rejected),
            ("coalesced", "\(stats.coalesced)"),
            ("queued", "\(stats.queued) of \(stats.queueCapacity) (\(stats.retrying) waiting to retry)"),
            ("in flight", "\(stats.inFlight) of \(stats.workers) workers"),
            ("delivered", "\(stats.delivered)"),
            ("dead-lettered", "\(stats.deadLettered)"),
            ("retries", "\(stats.retries)"),
            ("upstream requests", "\(stats.upstreamRequests) (\(stats.upstreamFailures) without an answer)"),
            (
                "upstream latency",
                String(format: "p50 %.1f ms, p99 %.1f ms", stats.upstreamLatencyP50Ms, stats.upstreamLatencyP99Ms)
            ),
            (
                "backpressure pauses",
                "\(stats.backpressurePauses) (queue full), \(stats.slowReaderPauses) (client not reading)"
            ),
            ("ledger", stats.ledgerBalances ? "balances" : "DOES NOT BALANCE"),
        ]
    }

    var text: String {
        let width = self.rows.map(\.0.count).max() ?? 0
        return self.rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n")
    }
}
