import DequeModule

/// Which spool segments still hold messages without a final outcome, so that segments are
/// deleted once every message in them is delivered, dead-lettered or coalesced.
///
/// Segments go oldest first only: a segment also holds the `resolved` records of messages
/// written to older segments, and deleting it while one of those is still on disk would bring
/// that message back on replay. The segment being written is never deleted.
///
/// A synchronous state machine: events in, segments to delete out.
///
/// It costs a fixed few bits per pending message: which messages are pending is a bit set
/// (``PendingSequences``), and which segment holds one is found from where each segment's
/// messages start, since messages are written in call-number order.
struct SegmentLedger: Equatable {
    /// The first call number written to a segment.
    private struct SegmentStart: Equatable {
        var segment: UInt64
        var firstSequence: UInt64
    }

    /// The segment new records go to.
    private(set) var current: UInt64
    /// Unresolved messages per segment that still has some, or is current.
    private var unresolved: [UInt64: Int]
    private var pending = PendingSequences()
    /// Where each kept segment's messages start, in call-number order.
    private var starts: Deque<SegmentStart> = []

    init(current: UInt64) {
        self.current = current
        self.unresolved = [current: 0]
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.pending.count }

    /// The oldest message not yet resolved.
    var oldestPending: UInt64? { self.pending.first }

    /// Segments still kept, oldest first.
    var liveSegments: [UInt64] { self.unresolved.keys.sorted() }

    /// Takes in what a replay found in older segments: every one of them, and the messages in
    /// them still pending. Returns the segments that can be deleted right away.
    mutating func seed(segments: [UInt64], pending: [(sequence: UInt64, segment: UInt64)]) -> [UInt64] {
        for segment in segments where segment < self.current {
            self.unresolved[segment] = 0
        }
        for message in pending.sorted(by: { $0.sequence < $1.sequence }) where message.segment < self.current {
            self.note(message.sequence, in: message.segment)
        }
        return self.collectResolvedPrefix()
    }

    /// Whether `sequence` was written and is not yet resolved.
    func isPending(_ sequence: UInt64) -> Bool {
        self.pending.contains(sequence)
    }

    /// A message was written to the current segment.
    mutating func written(sequence: UInt64) {
        self.note(sequence, in: self.current)
    }

    private mutating func note(_ sequence: UInt64, in segment: UInt64) {
        if self.starts.last?.segment != segment {
            self.starts.append(SegmentStart(segment: segment, firstSequence: sequence))
        }
        self.pending.insert(sequence)
        self.unresolved[segment, default: 0] += 1
    }

    /// A message reached its final outcome; returns the segments that can now be deleted.
    mutating func resolved(sequence: UInt64) -> [UInt64] {
        guard self.pending.remove(sequence), let segment = self.segment(of: sequence) else {
            return []
        }
        self.unresolved[segment, default: 1] -= 1
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
        self.unresolved[segment] = 0
        return self.collectResolvedPrefix()
    }

    /// Removes and returns the oldest segments, in order, while they hold nothing unresolved.
    private mutating func collectResolvedPrefix() -> [UInt64] {
        var deletable: [UInt64] = []
        for segment in self.unresolved.keys.sorted() {
            guard segment != self.current, self.unresolved[segment] == 0 else {
                break
            }
            self.unresolved[segment] = nil
            deletable.append(segment)
            self.starts.removeAll { $0.segment == segment }
        }
        return deletable
    }
}
