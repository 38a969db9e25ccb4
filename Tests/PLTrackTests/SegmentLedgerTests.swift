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

/// Compaction: the oldest segment's pending messages copied into the current one.
struct SegmentLedgerCompactionTests {
    /// Segment 1 holds ten messages, one of them retried for ever; two more segments follow.
    static func pinnedLedger() -> SegmentLedger {
        var ledger = SegmentLedger(current: 1)
        for sequence in 1...10 as ClosedRange<UInt64> {
            ledger.written(sequence: sequence)
        }
        _ = ledger.rolled(to: 2)
        ledger.written(sequence: 11)
        _ = ledger.rolled(to: 3)
        for sequence in 2...11 as ClosedRange<UInt64> {
            _ = ledger.resolved(sequence: sequence)
        }
        return ledger
    }

    @Test func aPinnedOldestSegmentGoesOnceItsCallIsCopiedForward() {
        var ledger = Self.pinnedLedger()
        #expect(ledger.liveSegments == [1, 2, 3], "message 1 pins segment 1, and 2 behind it")
        #expect(ledger.oldest?.segment == 1)
        #expect(ledger.oldest?.occupancy == SegmentLedger.Occupancy(calls: 10, unresolved: 1))
        #expect(ledger.relocated([1], from: 1) == [1, 2])
        #expect(ledger.liveSegments == [3])
        #expect(ledger.segment(ofPending: 1) == 3)
        #expect(ledger.pendingMessages == 1)
        // Its outcome now counts against segment 3, which goes once writing moves on.
        #expect(ledger.resolved(sequence: 1).isEmpty)
        #expect(ledger.rolled(to: 4) == [3])
    }

    @Test func aCopyOfAMessageNotPendingInThatSegmentChangesNothing() {
        var ledger = Self.pinnedLedger()
        #expect(ledger.relocated([5, 11, 99], from: 1).isEmpty, "resolved, elsewhere, or unknown")
        #expect(ledger.liveSegments == [1, 2, 3])
        #expect(ledger.oldest?.occupancy.unresolved == 1)
    }

    @Test func aReplayedCopyIsWhereTheLastCopyIs() {
        // A kill between the copy and the deletion: segment 1 still holds message 1, segment 3
        // holds its copy. Replay names segment 3, so segment 1 holds nothing and goes at once.
        var ledger = SegmentLedger(current: 4)
        let deletable = ledger.seed(
            segments: [1, 2, 3], calls: [1: 10, 2: 1, 3: 1], pending: [(sequence: 1, segment: 3)])
        #expect(deletable == [1, 2])
        #expect(ledger.segment(ofPending: 1) == 3)
        #expect(ledger.resolved(sequence: 1) == [3])
    }
}
