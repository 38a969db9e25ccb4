/// Which spool segments still hold messages without a final outcome, so that segments are
/// deleted once every message in them is delivered, dead-lettered or coalesced.
///
/// Segments go oldest first only: a segment also holds the `resolved` records of messages
/// written to older segments, and deleting it while one of those is still on disk would bring
/// that message back on replay. The segment being written is never deleted.
///
/// A synchronous state machine: events in, segments to delete out.
struct SegmentLedger: Equatable {
    /// The segment new records go to.
    private(set) var current: UInt64
    /// Unresolved messages per segment that still has some, or is current.
    private var unresolved: [UInt64: Int]
    /// The segment each unresolved message was written to.
    private var segmentOfMessage: [UInt64: UInt64] = [:]

    init(current: UInt64) {
        self.current = current
        self.unresolved = [current: 0]
    }

    /// Messages written and not yet resolved.
    var pendingMessages: Int { self.segmentOfMessage.count }

    /// Segments still kept, oldest first.
    var liveSegments: [UInt64] { self.unresolved.keys.sorted() }

    /// Takes in what a replay found in older segments: every one of them, and the messages in
    /// them still pending. Returns the segments that can be deleted right away.
    mutating func seed(segments: [UInt64], pending: [(sequence: UInt64, segment: UInt64)]) -> [UInt64] {
        for segment in segments where segment < self.current {
            self.unresolved[segment] = 0
        }
        for message in pending where message.segment < self.current {
            self.segmentOfMessage[message.sequence] = message.segment
            self.unresolved[message.segment, default: 0] += 1
        }
        return self.collectResolvedPrefix()
    }

    /// Whether `sequence` was written and is not yet resolved.
    func isPending(_ sequence: UInt64) -> Bool {
        self.segmentOfMessage[sequence] != nil
    }

    /// A message was written to the current segment.
    mutating func written(sequence: UInt64) {
        self.segmentOfMessage[sequence] = self.current
        self.unresolved[self.current, default: 0] += 1
    }

    /// A message reached its final outcome; returns the segments that can now be deleted.
    mutating func resolved(sequence: UInt64) -> [UInt64] {
        guard let segment = self.segmentOfMessage.removeValue(forKey: sequence) else {
            return []
        }
        self.unresolved[segment, default: 1] -= 1
        return self.collectResolvedPrefix()
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
        }
        return deletable
    }
}
