import NIOConcurrencyHelpers
import NIOCore

/// When each worker started its current upstream attempt, for the watchdog.
public final class WorkerActivity: Sendable {
    private let started: NIOLockedValueBox<[WorkerID: NIODeadline]> = NIOLockedValueBox([:])

    public init() {}

    func begin(_ worker: WorkerID, at time: NIODeadline = .now()) {
        self.started.withLockedValue { $0[worker] = time }
    }

    func end(_ worker: WorkerID) {
        self.started.withLockedValue { $0[worker] = nil }
    }

    /// The start of the longest-running attempt, if any is running.
    var oldestStart: NIODeadline? {
        self.started.withLockedValue { $0.values.min() }
    }
}
