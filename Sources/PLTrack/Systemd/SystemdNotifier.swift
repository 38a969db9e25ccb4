import CSystemd
import Glibc

/// Tells the service manager about the daemon's state through `sd_notify(3)`: readiness,
/// a status line, watchdog keep-alives, reloading and stopping.
///
/// Without `NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// Whether a service manager is listening.
    public let isActive: Bool

    public init(environment: [String: String]) {
        self.isActive = !(environment["NOTIFY_SOCKET"] ?? "").isEmpty
    }

    /// Sends newline-separated `KEY=value` assignments.
    public func notify(_ assignments: String) {
        guard self.isActive else {
            return
        }
        _ = sd_notify(0, assignments)
    }

    public func ready() {
        self.notify("READY=1")
    }

    public func stopping() {
        self.notify("STOPPING=1")
    }

    public func status(_ line: String) {
        self.notify("STATUS=\(line.replacingNewlines())")
    }

    public func watchdog() {
        self.notify("WATCHDOG=1")
    }

    /// `RELOADING=1` with the monotonic timestamp systemd 253+ expects for `Type=notify-reload`.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        self.notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Half of `WATCHDOG_USEC` when the service manager expects keep-alives from this process.
    public static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else {
            return nil
        }
        return Self.keepAliveInterval(watchdogMicroseconds: microseconds)
    }

    /// How often to send `WATCHDOG=1` for a watchdog timeout of `microseconds`: half of it, as
    /// `sd_watchdog_enabled(3)` advises.
    static func keepAliveInterval(watchdogMicroseconds microseconds: UInt64) -> Duration {
        .microseconds(Int64(microseconds / 2))
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(self.map { $0 == "\n" ? " " : $0 })
    }
}
