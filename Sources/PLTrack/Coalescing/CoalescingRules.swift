import NIOCore

/// How two calls with one ``CoalescingKey`` become one, as `protocol/SPEC.md` says:
/// metadata merges, a later value for a name replacing an earlier one; for prompts, scores
/// and groups the newer call replaces the older.
enum CoalescingRules {
    /// What combining two calls gives.
    struct Combination {
        /// The call that goes on.
        var kept: Envelope
        /// The call that ends as coalesced.
        var ended: Envelope
        /// Whether `ended`'s values live on in `kept`, so its spool record must stay until
        /// `kept` ends.
        var endedIsAbsorbed: Bool
    }

    /// The most bytes a merged body may have by default: the longest frame a client may send.
    static let maximumMergedBytes = 1 << 20

    /// Combines two calls for one key; which is newer is told by their sequence numbers.
    /// `nil` when their metadata would merge into a body that might pass `maximumMergedBytes`
    /// (the two bodies' sizes together): then both go, in order.
    static func combine(
        _ first: Envelope, _ second: Envelope, maximumMergedBytes: Int = Self.maximumMergedBytes
    ) -> Combination? {
        let (older, newer) = first.sequence <= second.sequence ? (first, second) : (second, first)
        if newer.message.kind == .metadata,
            older.message.body.byteCount + newer.message.body.byteCount > maximumMergedBytes
        {
            return nil
        }
        guard newer.message.kind == .metadata, let merged = MetadataMerge.merge(older.message.body, newer.message.body)
        else {
            return Combination(kept: newer, ended: older, endedIsAbsorbed: false)
        }
        var kept = newer
        kept.message.body = merged
        kept.absorbed = older.absorbed + [older.sequence] + newer.absorbed
        return Combination(kept: kept, ended: older, endedIsAbsorbed: true)
    }
}
