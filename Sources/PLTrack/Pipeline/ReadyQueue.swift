import DequeModule
import HeapModule
import NIOCore

/// Calls due for upstream, in the order they became due, and calls waiting out a retry
/// backoff, soonest first; a machine of its own within ``PipelineStateMachine``.
struct ReadyQueue {
    private var ready: Deque<Envelope> = []
    private var retries = Heap<ScheduledRetry>()

    /// Calls ready for a worker.
    var readyCount: Int { self.ready.count }
    /// Calls waiting for their backoff to end.
    var retryingCount: Int { self.retries.count }
    /// When the soonest backoff ends.
    var nextRetryDue: NIODeadline? { self.retries.min?.due }

    /// A call is due now.
    mutating func append(_ envelope: Envelope) {
        self.ready.append(envelope)
    }

    /// The call a worker takes next.
    mutating func popFirst() -> Envelope? {
        self.ready.popFirst()
    }

    /// A retryable failure: the call waits until `due`.
    mutating func retry(_ envelope: Envelope, at due: NIODeadline) {
        self.retries.insert(ScheduledRetry(due: due, envelope: envelope))
    }

    /// Calls whose backoff ends by `deadline` become ready, soonest first.
    mutating func releaseRetries(dueBy deadline: NIODeadline) {
        while let first = self.retries.min, first.due <= deadline {
            self.ready.append(self.retries.removeMin().envelope)
        }
    }
}
