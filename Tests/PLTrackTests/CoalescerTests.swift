import NIOCore
import Testing

@testable import PLTrack

struct CoalescerTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func envelope(_ requestID: Int64, revision: Int, sequence: UInt64) -> Envelope {
        Envelope(message: .prompt(requestID, revision: revision), sequence: sequence, acceptedAt: self.start)
    }

    @Test func holdsACallForTheWindowAndNoLonger() {
        var coalescer = Coalescer(window: .milliseconds(50))
        #expect(
            coalescer.insert(self.envelope(1, revision: 0, sequence: 1), now: self.start)
                == .held(deadline: self.start + .milliseconds(50)))
        #expect(coalescer.removeDue(now: self.start + .milliseconds(49)).isEmpty)
        #expect(coalescer.removeDue(now: self.start + .milliseconds(50)).map(\.sequence) == [1])
        #expect(coalescer.count == 0)
    }

    @Test func theNewestCallForARequestWinsAndKeepsTheFirstDeadline() {
        var coalescer = Coalescer(window: .milliseconds(50))
        let first = self.envelope(7, revision: 1, sequence: 1)
        _ = coalescer.insert(first, now: self.start)
        _ = coalescer.insert(self.envelope(8, revision: 1, sequence: 2), now: self.start + .milliseconds(10))
        let outcome = coalescer.insert(self.envelope(7, revision: 2, sequence: 3), now: self.start + .milliseconds(40))
        #expect(outcome == .replaced(superseded: first, absorbed: false))
        let due = coalescer.removeDue(now: self.start + .milliseconds(50))
        #expect(due.map(\.sequence) == [3])
        #expect(coalescer.nextDeadline == self.start + .milliseconds(60))
        #expect(coalescer.removeAll().map(\.sequence) == [2])
    }

    @Test func differentRequestsNeverMerge() {
        var coalescer = Coalescer(window: .milliseconds(50))
        for sequence in 1...100 as ClosedRange<UInt64> {
            _ = coalescer.insert(self.envelope(Int64(sequence), revision: 0, sequence: sequence), now: self.start)
        }
        #expect(coalescer.count == 100)
        #expect(coalescer.removeAll().map(\.sequence) == Array(1...100))
    }

    @Test func aShorterWindowOnReloadHoldsNoCallPastItAndKeepsTheDeadlinesInOrder() {
        var coalescer = Coalescer(window: .milliseconds(500))
        _ = coalescer.insert(self.envelope(1, revision: 0, sequence: 1), now: self.start)
        coalescer.setWindow(.milliseconds(10), now: self.start + .milliseconds(5))
        _ = coalescer.insert(self.envelope(2, revision: 0, sequence: 2), now: self.start + .milliseconds(6))
        // The call taken under the old window is due by the new one too, and the later call
        // is not stuck behind it.
        #expect(coalescer.nextDeadline == self.start + .milliseconds(15))
        #expect(coalescer.removeDue(now: self.start + .milliseconds(16)).map(\.sequence) == [1, 2])
        #expect(coalescer.count == 0)
    }

    @Test func aLongerWindowOnReloadLeavesTheCallsAlreadyHeldAsTheyAre() {
        var coalescer = Coalescer(window: .milliseconds(10))
        _ = coalescer.insert(self.envelope(1, revision: 0, sequence: 1), now: self.start)
        coalescer.setWindow(.milliseconds(500), now: self.start + .milliseconds(5))
        _ = coalescer.insert(self.envelope(2, revision: 0, sequence: 2), now: self.start + .milliseconds(6))
        #expect(coalescer.removeDue(now: self.start + .milliseconds(10)).map(\.sequence) == [1])
        #expect(coalescer.nextDeadline == self.start + .milliseconds(506))
    }
}
