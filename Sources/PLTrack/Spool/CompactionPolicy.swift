/// When the spool's oldest segment is compacted: its pending calls copied forward, the segment
/// deleted, so that a few long-retried calls cannot keep every segment after it on disk.
///
/// Calls merely waiting their turn leave the oldest segment as delivery goes on; calls that
/// stay while more is written are pinned. So a segment is compacted when at most half of its
/// calls are pending and they stayed while two more segments were written, or, when the spool
/// is half full and nothing new may be written to move on, when at most an eighth are (copying
/// costs at most that, and a whole segment is freed).
///
/// A synchronous state machine: what the writer sees after each round in, a segment to compact
/// out.
struct CompactionPolicy: Equatable {
    /// What the writer sees after a round.
    struct Observation {
        /// The oldest segment kept, unless it is the one being written.
        var oldest: (segment: UInt64, occupancy: SegmentLedger.Occupancy)?
        /// The segment being written.
        var writing: UInt64
        var spoolBytes: Int
        var maximumBytes: Int
        /// Whether backlog calls in the oldest segment may still be unread: the reader would miss
        /// them once it is gone.
        var backlogUnreadInOldest: Bool
    }

    /// Segments written after a candidate is seen before it is compacted.
    static let segmentsToWait: UInt64 = 2

    /// The oldest segment once at most half of it was pending, and the segment written then.
    private var candidate: (segment: UInt64, seenWhileWriting: UInt64)?
    /// After a compaction failed: none is tried again until writing moves past this segment.
    private var heldWhileWriting: UInt64?

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.candidate?.segment == rhs.candidate?.segment
            && lhs.candidate?.seenWhileWriting == rhs.candidate?.seenWhileWriting
            && lhs.heldWhileWriting == rhs.heldWhileWriting
    }

    /// The segment to compact now, if any.
    mutating func segmentToCompact(_ seen: Observation) -> UInt64? {
        if let held = self.heldWhileWriting, held == seen.writing {
            return nil
        }
        self.heldWhileWriting = nil
        guard let (segment, occupancy) = seen.oldest, occupancy.unresolved > 0,
            occupancy.unresolved * 2 <= occupancy.calls
        else {
            self.candidate = nil
            return nil
        }
        if self.candidate?.segment != segment {
            self.candidate = (segment, seen.writing)
        }
        guard !seen.backlogUnreadInOldest, let candidate = self.candidate else {
            return nil
        }
        let stayed = seen.writing >= candidate.seenWhileWriting + Self.segmentsToWait
        let pressed = seen.spoolBytes * 2 >= seen.maximumBytes && occupancy.unresolved * 8 <= occupancy.calls
        return stayed || pressed ? segment : nil
    }

    /// Compacting failed while writing `segment`: wait for the next before trying again.
    mutating func failed(whileWriting segment: UInt64) {
        self.heldWhileWriting = segment
    }
}
