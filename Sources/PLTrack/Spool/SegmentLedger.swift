import DequeModule

/// Which spool segments still hold messages without a final outcome, so that segments are
/// deleted once every message in them is delivered, dead-lettered or coalesced, and which one
/// is worth compacting when a few long-retried messages would pin it.
///
/// Segments go oldest first only: a segment also holds the `resolved` records of messages
/// written to older segments, and deleting it while one of those is still on disk would bring
/// that message back on replay. The segment being written is never deleted. For the same
/// reason only the oldest segment is compacted: its pending messages are copied forward into
/// the segment being written (``relocated(_:from:)``), which leaves it with nothing pending.
///
/// A synchronous state machine: events in, segments to delete out.
///
/// It costs a fixed few bits per pending message: which messages are pending is a bit set
/// (``PendingSequences``), and which segment holds one is found from where each segment's
/// messages start, since messages are written in call-number order; the few copied forward
/// are looked up by number.
struct SegmentLedger: Equatable {
    /// The first call number written to a segment.
    private struct SegmentStart: Equatable {
        var segment: UInt64
        var firstSequence: UInt64
    }

    /// What a kept segment holds: calls written to it, and those of them not yet resolved.
    struct Occupancy: Equatable {
        var calls = 0
        var unresolved = 0
    }

    /// The segment new records go to.
    private(set) var current: UInt64
    /// Every segment kept: one that still has something unresolved, or is current.
    private var segments: [UInt64: Occupancy]
    private var pending = PendingSequences()
    /// Where each kept segment's messages start, in call-number order.
    private var starts: Deque<SegmentStart> = []
    /// Messages copied forward by compaction, and the segment that holds them now.
    private var moved: [UInt64: UInt64] = [:]

    init(current: UInt64) {
        self.current = current
        self.segments = [current: Occupancy()]
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.pending.count }

    /// The oldest message not yet resolved.
    var oldestPending: UInt64? { self.pending.first }

    /// Segments still kept, oldest first.
    var liveSegments: [UInt64] { self.segments.keys.sorted() }

    /// The oldest segment and what it holds, unless it is the one being written.
    var oldest: (segment: UInt64, occupancy: Occupancy)? {
        guard let segment = self.segments.keys.min(), segment != self.current, let occupancy = self.segments[segment]
        else {
            return nil
        }
        return (segment, occupancy)
    }

    /// Takes in what a replay found in older segments: every one of them with the calls it
    /// holds records of, and the messages in them still pending. Returns the segments that
    /// can be deleted right away.
    mutating func seed(
        segments: [UInt64], calls: [UInt64: Int] = [:], pending: [(sequence: UInt64, segment: UInt64)]
    ) -> [UInt64] {
        for segment in segments where segment < self.current {
            self.segments[segment] = Occupancy(calls: calls[segment] ?? 0)
        }
        for message in pending.sorted(by: { $0.sequence < $1.sequence }) where message.segment < self.current {
            self.note(message.sequence, in: message.segment, counted: false)
        }
        return self.collectResolvedPrefix()
    }

    /// Whether `sequence` was written and is not yet resolved.
    func isPending(_ sequence: UInt64) -> Bool {
        self.pending.contains(sequence)
    }

    /// The segment that holds pending message `sequence` now; `nil` when it is not pending.
    func segment(ofPending sequence: UInt64) -> UInt64? {
        guard self.pending.contains(sequence) else {
            return nil
        }
        return self.moved[sequence] ?? self.segment(of: sequence)
    }

    /// A message was written to the current segment.
    mutating func written(sequence: UInt64) {
        self.note(sequence, in: self.current, counted: true)
    }

    private mutating func note(_ sequence: UInt64, in segment: UInt64, counted: Bool) {
        if self.starts.last?.segment != segment {
            self.starts.append(SegmentStart(segment: segment, firstSequence: sequence))
        }
        self.pending.insert(sequence)
        self.segments[segment, default: Occupancy()].unresolved += 1
        if counted {
            self.segments[segment, default: Occupancy()].calls += 1
        }
    }

    /// A message reached its final outcome; returns the segments that can now be deleted.
    mutating func resolved(sequence: UInt64) -> [UInt64] {
        guard let segment = self.segment(ofPending: sequence) else {
            return []
        }
        _ = self.pending.remove(sequence)
        self.moved[sequence] = nil
        self.segments[segment]?.unresolved -= 1
        return self.collectResolvedPrefix()
    }

    /// Compaction copied `sequences`, pending in `segment`, into the current segment; returns
    /// the segments that can now be deleted (`segment` among them, when it is the oldest).
    mutating func relocated(_ sequences: [UInt64], from segment: UInt64) -> [UInt64] {
        for sequence in sequences where self.segment(ofPending: sequence) == segment {
            self.moved[sequence] = self.current
            self.segments[segment]?.unresolved -= 1
            self.segments[self.current, default: Occupancy()].unresolved += 1
            self.segments[self.current, default: Occupancy()].calls += 1
        }
        return self.collectResolvedPrefix()
    }

    /// The segment a pending message was written to: the last whose messages start at or
    /// before it.
    private func segment(of sequence: UInt64) -> UInt64? {
        var (low, high) = (0, self.starts.count)
        while low < high {
            let middle = (low + high) / 2
            if self.starts[middle].firstSequence <= sequence {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low > 0 ? self.starts[low - 1].segment : nil
    }

    /// Writing moved on to `segment`; returns the segments that can now be deleted.
    mutating func rolled(to segment: UInt64) -> [UInt64] {
        self.current = segment
        self.segments[segment] = Occupancy()
        return self.collectResolvedPrefix()
    }

    /// Removes and returns the oldest segments, in order, while they hold nothing unresolved.
    private mutating func collectResolvedPrefix() -> [UInt64] {
        var deletable: [UInt64] = []
        for segment in self.segments.keys.sorted() {
            guard segment != self.current, self.segments[segment]?.unresolved == 0 else {
                break
            }
            self.segments[segment] = nil
            deletable.append(segment)
            self.starts.removeAll { $0.segment == segment }
        }
        return deletable
    }
}
