import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

extension Daemon {
    /// The `STATUS=` line: the counters, preceded by any note (such as a failed reload).
    func statusLine() -> String {
        let line = StatusLine.make(self.statsSnapshot())
        let notes = [self.statusNote.withLock { $0 }, self.proxyRefusal.withLockedValue { $0 }].compactMap { $0 }
        return (notes + [line]).joined(separator: " · ")
    }

    /// A tunnel the proxy opened (`refusal` `nil`) or refused: a refusal is logged when it is
    /// new and said in `STATUS=` until a tunnel opens again.
    static func proxyTunnel(_ refusal: String?, remembered: NIOLockedValueBox<String?>, logger: Logger) {
        let previous = remembered.withLockedValue { value in
            defer { value = refusal }
            return value
        }
        guard previous != refusal else {
            return
        }
        if let refusal {
            logger.warning("\(refusal)")
        } else {
            logger.notice("the proxy opens tunnels to PromptLayer again")
        }
    }

    /// Refreshes `STATUS=` every second until cancelled.
    func reportStatus() async {
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            self.notifier.status(self.statusLine())
        }
    }

    /// Sends `WATCHDOG=1` every `interval` (half of `WATCHDOG_USEC`) while the daemon makes
    /// progress; when it does not, stays silent so that systemd restarts it.
    func keepWatchdogFed(every interval: Duration, activity: WorkerActivity) async {
        let heartbeat = EventLoopHeartbeat(group: self.group)
        let health = WatchdogHealth(
            overdueLimit: max(.seconds(5), TimeAmount(interval)),
            attemptLimit: TimeAmount(self.configuration.requestTimeout) + .seconds(30)
        )
        _ = heartbeat.beat()
        var lastVerdict = WatchdogHealth.Verdict.healthy
        while (try? await Task.sleep(for: interval)) != nil {
            let now = NIODeadline.now()
            let observation = WatchdogHealth.Observation(
                silentEventLoops: heartbeat.beat(),
                oldestOverdueDeadline: self.pipeline.oldestOverdueDeadline(now: now),
                oldestAttemptStart: activity.oldestStart
            )
            let verdict = health.assess(observation, now: now)
            if verdict == .healthy {
                self.notifier.watchdog()
            } else if verdict != lastVerdict, case .stalled(let reason) = verdict {
                self.logger.critical(
                    "no progress; withholding the watchdog keep-alive so systemd restarts pltrackd",
                    metadata: ["reason": "\(reason)"])
            }
            lastVerdict = verdict
        }
    }
}
