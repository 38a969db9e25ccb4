/// Keeps one call per PromptLayer request on its way upstream at a time, so that a later call's
/// values win over an earlier one's even when the earlier one is retried or replayed.
///
/// A call whose request has another one ready, in flight or waiting to retry is parked until
/// that one ends; a newer call for the same request replaces the parked one, as coalescing does.
struct RequestOrder {
    /// What to do with a call that is due for dispatch.
    enum Admission: Equatable {
        /// Nothing else for its request is on its way: dispatch it.
        case dispatch
        /// It waits for the one on its way; `superseded` is the older call it replaced there.
        case parked(superseded: Envelope?)
    }

    private var active: Set<CoalescingKey> = []
    private var parked: [CoalescingKey: Envelope] = [:]

    /// Calls parked behind another for the same request.
    var parkedCount: Int { self.parked.count }

    mutating func admit(_ envelope: Envelope) -> Admission {
        let key = envelope.message.coalescingKey
        guard self.active.contains(key) else {
            self.active.insert(key)
            return .dispatch
        }
        if let waiting = self.parked[key], waiting.sequence > envelope.sequence {
            return .parked(superseded: envelope)
        }
        return .parked(superseded: self.parked.updateValue(envelope, forKey: key))
    }

    /// The call for `key` ended; returns the parked one to dispatch next, if any.
    mutating func finished(_ key: CoalescingKey) -> Envelope? {
        if let next = self.parked.removeValue(forKey: key) {
            return next
        }
        self.active.remove(key)
        return nil
    }
}
