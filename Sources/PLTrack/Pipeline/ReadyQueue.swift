import DequeModule

/// Calls due for upstream, in the order they became due; a part of ``PipelineStateMachine``.
struct ReadyQueue {
    private var ready: Deque<Envelope> = []

    /// Calls ready for a worker.
    var readyCount: Int { self.ready.count }

    /// A call is due now.
    mutating func append(_ envelope: Envelope) {
        self.ready.append(envelope)
    }

    /// The call a worker takes next.
    mutating func popFirst() -> Envelope? {
        self.ready.popFirst()
    }
}
