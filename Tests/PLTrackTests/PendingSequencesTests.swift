import Testing

@testable import PLTrack

/// The spool's pending index: a bit per call number, and segments found from where they start.
struct PendingSequencesTests {
    @Test func keepsTheOldestAndForgetsWhatIsResolved() {
        var pending = PendingSequences()
        for sequence: UInt64 in [130, 5, 64, 63, 1000] {
            pending.insert(sequence)
        }
        pending.insert(64)
        #expect(pending.count == 5 && pending.first == 5)
        let (first, again) = (pending.remove(5), pending.remove(5))
        #expect(first && !again, "a call is resolved once")
        let unknown = [pending.remove(6), pending.remove(2000), pending.remove(1)]
        #expect(unknown == [false, false, false])
        #expect(pending.first == 63 && pending.contains(130) && !pending.contains(131))
        let resolved = [63, 64, 130].map { pending.remove($0) }
        #expect(resolved == [true, true, true])
        #expect(pending.first == 1000 && pending.count == 1)
        let last = pending.remove(1000)
        #expect(last && pending.first == nil && pending.count == 0)
    }

    @Test func theLedgerFindsEachCallsSegmentAndIgnoresOneNeverWritten() {
        var ledger = SegmentLedger(current: 1)
        for sequence: UInt64 in 1...100 {
            ledger.written(sequence: sequence)
        }
        _ = ledger.rolled(to: 2)
        // 101 was never written (its write failed); 102... went to segment 2.
        for sequence: UInt64 in 102...200 {
            ledger.written(sequence: sequence)
        }
        #expect(ledger.resolved(sequence: 101).isEmpty && ledger.pendingMessages == 199)
        let segmentTwo = (102...200 as ClosedRange<UInt64>).flatMap { ledger.resolved(sequence: $0) }
        #expect(segmentTwo.isEmpty, "segment 2 is being written")
        let mostOfOne = (1..<100 as Range<UInt64>).flatMap { ledger.resolved(sequence: $0) }
        #expect(mostOfOne.isEmpty && ledger.oldestPending == 100)
        let deleted = ledger.resolved(sequence: 100)
        #expect(deleted == [1], "segment 1 held 1 to 100")
        #expect(ledger.pendingMessages == 0 && ledger.oldestPending == nil)
    }
}
