import NIOCore
import Testing

@testable import PLTrack

/// The ready queue and its retry backoffs, driven with a manual clock.
struct ReadyQueueTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func envelope(_ sequence: UInt64) -> Envelope {
        Envelope(message: .prompt(Int64(sequence)), sequence: sequence, acceptedAt: self.start)
    }

    @Test func readyCallsGoInOrderAndRetriesWaitForTheirBackoff() {
        var queue = ReadyQueue()
        queue.append(self.envelope(1))
        queue.retry(self.envelope(2), at: self.start + .milliseconds(30))
        queue.retry(self.envelope(3), at: self.start + .milliseconds(10))
        queue.retry(self.envelope(4), at: self.start + .milliseconds(10))
        #expect(queue.readyCount == 1 && queue.retryingCount == 3)
        #expect(queue.nextRetryDue == self.start + .milliseconds(10))
        #expect(queue.popFirst()?.sequence == 1)
        #expect(queue.popFirst() == nil, "a call waiting out its backoff is not ready")
        queue.releaseRetries(dueBy: self.start + .milliseconds(20))
        #expect(queue.popFirst()?.sequence == 3, "soonest first; equal backoffs in call order")
        #expect(queue.popFirst()?.sequence == 4)
        #expect(queue.popFirst() == nil && queue.nextRetryDue == self.start + .milliseconds(30))
        queue.releaseRetries(dueBy: self.start + .milliseconds(30))
        #expect(queue.popFirst()?.sequence == 2 && queue.retryingCount == 0)
    }
}
