import HeapModule
import NIOCore

/// Calls waiting out a retry backoff, soonest first: delivery's, not the pipeline's, which only
/// counts them as held until they are due.
struct RetrySchedule {
    private var waiting = Heap<ScheduledRetry>()

    var count: Int { self.waiting.count }

    /// When the soonest backoff ends.
    var nextDue: NIODeadline? { self.waiting.min?.due }

    mutating func insert(_ retry: ScheduledRetry) {
        self.waiting.insert(retry)
    }

    /// Removes the calls whose backoff ends by `deadline`, soonest first.
    mutating func removeDue(by deadline: NIODeadline) -> [Envelope] {
        var due: [Envelope] = []
        while let first = self.waiting.min, first.due <= deadline {
            due.append(self.waiting.removeMin().envelope)
        }
        return due
    }
}
