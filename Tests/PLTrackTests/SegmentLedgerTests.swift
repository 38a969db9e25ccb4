import Testing

@testable import PLTrack

/// When a spool segment may be deleted.
struct SegmentLedgerTests {
    @Test func aSegmentGoesOnceEveryMessageInItIsResolvedAndWritingMovedOn() {
        var ledger = SegmentLedger(current: 1)
        ledger.written(sequence: 1)
        ledger.written(sequence: 2)
        #expect(ledger.rolled(to: 2).isEmpty, "two messages still pending in segment 1")
        ledger.written(sequence: 3)
        #expect(ledger.resolved(sequence: 1).isEmpty)
        #expect(ledger.resolved(sequence: 2) == [1])
        #expect(ledger.liveSegments == [2])
        #expect(ledger.pendingMessages == 1)
    }

    @Test func theSegmentBeingWrittenIsKeptUntilItRollsOver() {
        var ledger = SegmentLedger(current: 5)
        ledger.written(sequence: 10)
        #expect(ledger.resolved(sequence: 10).isEmpty, "segment 5 is still being written")
        #expect(ledger.rolled(to: 6) == [5])
        #expect(ledger.liveSegments == [6])
    }

    @Test func resolvingAnUnknownOrRepeatedMessageChangesNothing() {
        var ledger = SegmentLedger(current: 1)
        ledger.written(sequence: 1)
        _ = ledger.rolled(to: 2)
        #expect(ledger.resolved(sequence: 99).isEmpty)
        #expect(ledger.resolved(sequence: 1) == [1])
        #expect(ledger.resolved(sequence: 1).isEmpty)
        #expect(ledger.liveSegments == [2])
    }

    @Test func segmentsGoOldestFirstEvenWhenNewerOnesResolveSooner() {
        // Segment 3 holds the resolved record of a message in segment 1; deleting 3 first would
        // bring that message back on replay.
        var ledger = SegmentLedger(current: 1)
        for segment in 1...3 as ClosedRange<UInt64> {
            ledger.written(sequence: segment * 10)
            _ = ledger.rolled(to: segment + 1)
        }
        #expect(ledger.resolved(sequence: 20).isEmpty)
        #expect(ledger.resolved(sequence: 30).isEmpty)
        #expect(ledger.liveSegments == [1, 2, 3, 4])
        #expect(ledger.resolved(sequence: 10) == [1, 2, 3])
        #expect(ledger.liveSegments == [4])
    }
}
