import DequeModule

/// Keeps one call per PromptLayer request on its way upstream at a time, whatever its kind,
/// so that calls for one request reach PromptLayer in the order taken, and a later call's
/// values win over an earlier one's even when the earlier one is retried or replayed.
///
/// A call whose request has another one ready, in flight or waiting to retry is parked until
/// that one ends, behind the others parked for the request. One with the same
/// ``CoalescingKey`` as a parked call combines with it (``CoalescingRules``), as coalescing does.
struct RequestOrder {
    /// The most bytes a call combined with a parked one may have (``CoalescingRules``).
    var maximumMergedBytes = CoalescingRules.maximumMergedBytes
    /// What to do with a call that is due for dispatch.
    enum Admission: Equatable {
        /// Nothing else for its request is on its way: dispatch it.
        case dispatch
        /// It waits for the one on its way. When it combined with a parked call, `ended` is
        /// the older of the two, which ends as coalesced (`absorbed` when its values live on).
        case parked(ended: Envelope?, absorbed: Bool)
    }

    private var active: Set<RequestID> = []
    private var parked: [RequestID: Deque<Envelope>] = [:]
    /// Calls parked behind another for the same request.
    private(set) var parkedCount = 0

    /// Whether a call for `request` is on its way (ready, in flight or waiting to retry).
    func isActive(_ request: RequestID) -> Bool {
        self.active.contains(request)
    }

    mutating func admit(_ envelope: Envelope) -> Admission {
        let request = envelope.message.coalescingKey.requestID
        guard self.active.contains(request) else {
            self.active.insert(request)
            return .dispatch
        }
        // With the last parked call of its key, so that none parked after that one is overtaken
        // by a newer value; mutated in place in the dictionary, so the queue is not copied.
        if let index = self.parked[request]?.lastIndex(where: {
            $0.message.coalescingKey == envelope.message.coalescingKey
        }), let waiting = self.parked[request]?[index],
            let combination = CoalescingRules.combine(
                waiting, envelope, maximumMergedBytes: self.maximumMergedBytes)
        {
            self.parked[request]?[index] = combination.kept
            return .parked(ended: combination.ended, absorbed: combination.endedIsAbsorbed)
        }
        self.parked[request, default: []].append(envelope)
        self.parkedCount += 1
        return .parked(ended: nil, absorbed: false)
    }

    /// The call on its way for `request` ended; returns the next one parked for it, if any.
    mutating func finished(_ request: RequestID) -> Envelope? {
        guard var waiting = self.parked.removeValue(forKey: request), let next = waiting.popFirst() else {
            self.active.remove(request)
            return nil
        }
        self.parkedCount -= 1
        if !waiting.isEmpty {
            self.parked[request] = waiting
        }
        return next
    }
}
