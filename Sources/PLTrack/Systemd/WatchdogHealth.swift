import NIOCore

/// Decides at each watchdog tick whether pltrackd still makes progress, so that `WATCHDOG=1`
/// is sent only while it does and a wedged daemon is restarted by systemd.
///
/// Progress means: every event loop ran a task since the previous tick, no timer of the
/// pipeline is long overdue, and no upstream attempt has outlived its request timeout by more
/// than a grace period (the HTTP client should have ended it).
struct WatchdogHealth: Equatable {
    /// What the probes saw.
    struct Observation: Equatable {
        /// Event loops that did not run the task submitted at the previous tick.
        var silentEventLoops: Int
        /// The earliest pipeline deadline that has passed without being handled, if any.
        var oldestOverdueDeadline: NIODeadline?
        /// When the longest-running upstream attempt started, if any is running.
        var oldestAttemptStart: NIODeadline?
    }

    enum Verdict: Equatable {
        case healthy
        case stalled(reason: String)
    }

    /// How late a pipeline timer may be before the dispatcher counts as wedged.
    var overdueLimit: TimeAmount
    /// How long one upstream attempt may run before the dispatcher counts as wedged.
    var attemptLimit: TimeAmount

    func assess(_ observation: Observation, now: NIODeadline) -> Verdict {
        if observation.silentEventLoops > 0 {
            return .stalled(
                reason: "\(observation.silentEventLoops) event loop(s) did not run a task within a watchdog interval")
        }
        if let overdue = observation.oldestOverdueDeadline, now - overdue > self.overdueLimit {
            return .stalled(reason: "the dispatcher's timers are \((now - overdue).nanoseconds / 1_000_000) ms overdue")
        }
        if let start = observation.oldestAttemptStart, now - start > self.attemptLimit {
            return .stalled(reason: "an upstream request has run for \((now - start).nanoseconds / 1_000_000_000) s")
        }
        return .healthy
    }
}
