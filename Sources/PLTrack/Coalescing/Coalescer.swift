import DequeModule
import NIOCore

/// Holds each tracking call for at most the coalescing window; a newer call with the same
/// ``CoalescingKey`` combines with the one waiting (``CoalescingRules``: metadata merges, the
/// rest is replaced), and the older one counts as coalesced.
///
/// A replacement keeps the original deadline, so no call waits longer than the window however
/// often it is superseded. Time is passed in, never read, so tests drive it by hand.
struct Coalescer {
    /// What happened to a call handed to ``insert(_:now:)``.
    enum InsertOutcome: Equatable {
        /// It waits until `deadline`.
        case held(deadline: NIODeadline)
        /// It combined with `superseded`, which waited under the same key and ends as coalesced;
        /// `absorbed` when its values live on in the call that waits now (merged metadata).
        case replaced(superseded: Envelope, absorbed: Bool)
        /// It could not combine with `displaced`, which waited under the same key (their merged
        /// metadata might pass the bound): that one goes now, and this one waits in its place.
        case displaced(Envelope)
    }

    private(set) var window: TimeAmount
    /// The most bytes a merged call may have (``CoalescingRules``).
    var maximumMergedBytes = CoalescingRules.maximumMergedBytes
    private var entries: [CoalescingKey: Envelope] = [:]
    /// Keys in arrival order with their deadlines; deadlines grow along it, so the due ones are a prefix.
    private var schedule: Deque<(key: CoalescingKey, deadline: NIODeadline)> = []
    /// The keys waiting for each ref, so a log's calls are found without a search.
    private var keysByRef: [String: Set<CoalescingKey>] = [:]

    init(window: TimeAmount) {
        self.window = window
    }

    /// Applies a reloaded window at `now`. A shorter one also shortens the wait of the calls
    /// already held, so none waits past it and the deadlines stay in order: each becomes at most
    /// `now + window`, which no later call's deadline comes before.
    mutating func setWindow(_ window: TimeAmount, now: NIODeadline) {
        if window < self.window {
            let latest = now + window
            for index in self.schedule.indices where self.schedule[index].deadline > latest {
                self.schedule[index].deadline = latest
            }
        }
        self.window = window
    }

    /// How many calls are waiting.
    var count: Int { self.entries.count }

    /// When the oldest waiting call is due.
    var nextDeadline: NIODeadline? { self.schedule.first?.deadline }

    mutating func insert(_ envelope: Envelope, now: NIODeadline) -> InsertOutcome {
        let key = envelope.message.coalescingKey
        if let waiting = self.entries[key] {
            guard
                let combination = CoalescingRules.combine(
                    waiting, envelope, maximumMergedBytes: self.maximumMergedBytes)
            else {
                self.entries[key] = envelope
                return .displaced(waiting)
            }
            self.entries[key] = combination.kept
            return .replaced(superseded: combination.ended, absorbed: combination.endedIsAbsorbed)
        }
        self.entries[key] = envelope
        if let ref = key.requestID.ref {
            self.keysByRef[ref, default: []].insert(key)
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
                self.forget(first.key)
                due.append(envelope)
            }
        }
        return due
    }

    /// Removes and returns every call waiting for `ref`, oldest first: a log's calls, to fold
    /// into it. Their places in the schedule stay, and are skipped when due.
    mutating func removeAll(forRef ref: String) -> [Envelope] {
        guard let keys = self.keysByRef.removeValue(forKey: ref) else {
            return []
        }
        return keys.compactMap { self.entries.removeValue(forKey: $0) }.sorted { $0.sequence < $1.sequence }
    }

    private mutating func forget(_ key: CoalescingKey) {
        guard let ref = key.requestID.ref else {
            return
        }
        self.keysByRef[ref]?.remove(key)
        if self.keysByRef[ref]?.isEmpty == true {
            self.keysByRef[ref] = nil
        }
    }

    /// Removes and returns every waiting call, oldest first (for `flush` and shutdown).
    mutating func removeAll() -> [Envelope] {
        self.removeDue(now: .distantFuture)
    }
}
