import DequeModule
import NIOCore

/// Holds each tracking call for at most the coalescing window; a newer call with the same
/// ``CoalescingKey`` replaces the one waiting, which then counts as coalesced.
///
/// A replacement keeps the original deadline, so no call waits longer than the window however
/// often it is superseded. Time is passed in, never read, so tests drive it by hand.
struct Coalescer {
    /// What happened to a call handed to ``insert(_:now:)``.
    enum InsertOutcome: Equatable {
        /// It waits until `deadline`.
        case held(deadline: NIODeadline)
        /// It replaced `superseded`, which waited under the same key.
        case replaced(superseded: Envelope)
    }

    var window: TimeAmount
    private var entries: [CoalescingKey: Envelope] = [:]
    /// Keys in arrival order with their deadlines; deadlines grow along it, so the due ones are a prefix.
    private var schedule: Deque<(key: CoalescingKey, deadline: NIODeadline)> = []

    init(window: TimeAmount) {
        self.window = window
    }

    /// How many calls are waiting.
    var count: Int { self.entries.count }

    /// When the oldest waiting call is due.
    var nextDeadline: NIODeadline? { self.schedule.first?.deadline }

    mutating func insert(_ envelope: Envelope, now: NIODeadline) -> InsertOutcome {
        let key = envelope.message.coalescingKey
        if let superseded = self.entries.updateValue(envelope, forKey: key) {
            return .replaced(superseded: superseded)
        }
        let deadline = now + self.window
        self.schedule.append((key, deadline))
        return .held(deadline: deadline)
    }

    /// Removes and returns, oldest first, every call whose deadline is at or before `now`.
    mutating func removeDue(now: NIODeadline) -> [Envelope] {
        var due: [Envelope] = []
        while let first = self.schedule.first, first.deadline <= now {
            self.schedule.removeFirst()
            if let envelope = self.entries.removeValue(forKey: first.key) {
                due.append(envelope)
            }
        }
        return due
    }

    /// Removes and returns every waiting call, oldest first (for `flush` and shutdown).
    mutating func removeAll() -> [Envelope] {
        self.removeDue(now: .distantFuture)
    }
}
