import Testing

@testable import PLTrack

/// When the spool's oldest segment is compacted.
struct CompactionPolicyTests {
    static func seen(
        oldest segment: UInt64 = 1, calls: Int = 100, pending: Int, writing: UInt64, bytes: Int = 0,
        unread: Bool = false
    ) -> CompactionPolicy.Observation {
        CompactionPolicy.Observation(
            oldest: (segment, SegmentLedger.Occupancy(calls: calls, unresolved: pending)), writing: writing,
            spoolBytes: bytes, maximumBytes: 1000, backlogUnreadInOldest: unread)
    }

    @Test func callsThatStayWhileTwoMoreSegmentsAreWrittenArePinned() {
        var policy = CompactionPolicy()
        #expect(policy.segmentToCompact(Self.seen(pending: 3, writing: 4)) == nil, "seen first while writing 4")
        #expect(policy.segmentToCompact(Self.seen(pending: 3, writing: 5)) == nil)
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 6)) == 1)
    }

    @Test func callsWaitingTheirTurnAreNotCopied() {
        var policy = CompactionPolicy()
        // Delivery works through segment 1, then 2, as writing moves on: never one stays.
        #expect(policy.segmentToCompact(Self.seen(oldest: 1, pending: 40, writing: 4)) == nil)
        #expect(policy.segmentToCompact(Self.seen(oldest: 2, pending: 45, writing: 5)) == nil)
        #expect(policy.segmentToCompact(Self.seen(oldest: 3, pending: 50, writing: 6)) == nil)
        #expect(policy.segmentToCompact(Self.seen(oldest: 3, pending: 10, writing: 7)) == nil)
        #expect(policy.segmentToCompact(Self.seen(oldest: 4, pending: 10, writing: 8)) == nil)
    }

    @Test func aSegmentMostlyPendingIsNeverWorthCompacting() {
        var policy = CompactionPolicy()
        for writing in 2...10 as ClosedRange<UInt64> {
            #expect(policy.segmentToCompact(Self.seen(pending: 51, writing: writing, bytes: 900)) == nil)
        }
    }

    @Test func aHalfFullSpoolCompactsAtOnceWhenAnEighthIsPending() {
        // Refused calls write nothing, so writing may never move on: pressure decides.
        var policy = CompactionPolicy()
        #expect(policy.segmentToCompact(Self.seen(pending: 13, writing: 4, bytes: 500)) == nil, "more than 1/8")
        #expect(policy.segmentToCompact(Self.seen(pending: 12, writing: 4, bytes: 499)) == nil, "under half full")
        #expect(policy.segmentToCompact(Self.seen(pending: 12, writing: 4, bytes: 500)) == 1)
    }

    @Test func unreadBacklogInTheSegmentWaits() {
        var policy = CompactionPolicy()
        _ = policy.segmentToCompact(Self.seen(pending: 1, writing: 4))
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 6, unread: true)) == nil)
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 6)) == 1)
    }

    @Test func aFailureWaitsForTheNextSegment() {
        var policy = CompactionPolicy()
        _ = policy.segmentToCompact(Self.seen(pending: 1, writing: 4))
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 6)) == 1)
        policy.failed(whileWriting: 6)
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 6, bytes: 900)) == nil)
        #expect(policy.segmentToCompact(Self.seen(pending: 1, writing: 7)) == 1)
    }

    @Test func nothingPendingOrNoOldSegmentIsNothingToDo() {
        var policy = CompactionPolicy()
        #expect(policy.segmentToCompact(Self.seen(pending: 0, writing: 9, bytes: 900)) == nil)
        let none = CompactionPolicy.Observation(
            oldest: nil, writing: 9, spoolBytes: 900, maximumBytes: 1000, backlogUnreadInOldest: false)
        #expect(policy.segmentToCompact(none) == nil)
    }
}
