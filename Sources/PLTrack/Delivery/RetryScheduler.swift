import NIOConcurrencyHelpers
import NIOCore

/// Drives ``RetrySchedule``: holds calls whose attempt failed for their backoff, with one timer
/// for the soonest, and hands them back when due. Calls due within ``slack`` of a timer go with
/// it, so timers fire per batch.
final class RetryScheduler: Sendable {
    private struct State {
        var schedule = RetrySchedule()
        /// The earliest deadline a timer is armed for.
        var armed: NIODeadline?
    }

    private let state = NIOLockedValueBox(State())
    private let loop: any EventLoop
    static let slack = TimeAmount.milliseconds(1)

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Calls waiting out their backoff.
    var count: Int { self.state.withLockedValue { $0.schedule.count } }

    /// The soonest backoff that ended before `now` and was not handed back yet, for the watchdog.
    func oldestOverdue(now: NIODeadline) -> NIODeadline? {
        self.state.withLockedValue { $0.schedule.nextDue }.flatMap { $0 < now ? $0 : nil }
    }

    /// Holds `retries` until their backoff ends, then passes them to `whenDue`, soonest first.
    func schedule(_ retries: [ScheduledRetry], whenDue: @escaping @Sendable ([Envelope]) -> Void) {
        guard !retries.isEmpty else {
            return
        }
        let arm = self.state.withLockedValue { state in
            for retry in retries {
                state.schedule.insert(retry)
            }
            return Self.armIfSooner(&state)
        }
        self.arm(arm, whenDue)
    }

    private func fire(_ whenDue: @escaping @Sendable ([Envelope]) -> Void) {
        let now = NIODeadline.now()
        let (due, arm) = self.state.withLockedValue { state in
            if let armed = state.armed, armed <= now {
                state.armed = nil
            }
            let due = state.schedule.removeDue(by: now + Self.slack)
            return (due, Self.armIfSooner(&state))
        }
        if !due.isEmpty {
            whenDue(due)
        }
        self.arm(arm, whenDue)
    }

    /// The soonest deadline, when no timer is armed for it or sooner.
    private static func armIfSooner(_ state: inout State) -> NIODeadline? {
        guard let next = state.schedule.nextDue, state.armed.map({ next < $0 }) ?? true else {
            return nil
        }
        state.armed = next
        return next
    }

    private func arm(_ deadline: NIODeadline?, _ whenDue: @escaping @Sendable ([Envelope]) -> Void) {
        guard let deadline else {
            return
        }
        self.loop.scheduleTask(deadline: deadline) {
            self.fire(whenDue)
        }
    }
}
