/// The one line `systemctl status` shows for pltrackd, e.g.
/// `accepted 1204311 · delivered 1204290 · queued 21 · retrying 0 · dead-lettered 0 · 61 on their way (limit 64 of 512) · upstream p99 84ms`.
public enum StatusLine {
    public static func make(_ stats: StatsSnapshot) -> String {
        [
            "accepted \(stats.accepted)",
            "delivered \(stats.delivered)",
            "queued \(stats.queued)",
            "retrying \(stats.retrying)",
            "dead-lettered \(stats.deadLettered)",
            "\(stats.upstreamSending) on their way (limit \(stats.upstreamLimit) of \(stats.upstreamMaxInFlight))",
            "upstream p99 \(Self.milliseconds(stats.upstreamLatencyP99Ms))",
        ].joined(separator: " · ") + Self.spool(stats) + Self.circuit(stats) + Self.pause(stats)
    }

    /// ` · paused 12.0s (PromptLayer answered 429)` while PromptLayer's `Retry-After` holds
    /// every worker; nothing otherwise.
    private static func pause(_ stats: StatsSnapshot) -> String {
        guard stats.upstreamPausedSeconds > 0 else {
            return ""
        }
        let status = stats.upstreamPauseStatus.map { " (PromptLayer answered \($0))" } ?? ""
        return " · paused \((stats.upstreamPausedSeconds * 10).rounded() / 10)s\(status)"
    }

    /// ` · PromptLayer unreachable, probing` while the circuit is not closed; nothing otherwise.
    private static func circuit(_ stats: StatsSnapshot) -> String {
        stats.upstreamCircuit == "closed" ? "" : " · PromptLayer unreachable, probing"
    }

    /// ` · backlog 19000 · spool 2637792 bytes` while calls wait on disk; nothing otherwise.
    private static func spool(_ stats: StatsSnapshot) -> String {
        guard let spool = stats.spool, stats.backlog > 0 || stats.spoolFull > 0 else {
            return ""
        }
        return " · backlog \(stats.backlog) · spool \(spool.bytes) bytes"
    }

    private static func milliseconds(_ value: Double) -> String {
        value < 10 ? "\((value * 10).rounded() / 10)ms" : "\(Int(value.rounded()))ms"
    }
}
