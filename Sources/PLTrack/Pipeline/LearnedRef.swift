/// A `log.request` PromptLayer answered: its sequence number, the client's ref and the id.
///
/// The spool records it in place of the log's resolution, in one record, so that a restart
/// never finds the log resolved without the id its calls need. While the ref is remembered
/// (`--ref-ttl` from when it was learned) the record outlives its segment: it is carried into
/// the spool's refs file (``LearnedRefsFile``) when the segment is deleted.
struct LearnedRef: Equatable, Sendable {
    var sequence: UInt64
    var ref: String
    var id: Int64
    /// When it was learned, in milliseconds since the Unix epoch: stamped by the spool when it
    /// takes the record (``SpoolJournal/resolve(_:learned:)``), so it means the same after a
    /// restart.
    var learnedAtMilliseconds: Int64 = 0

    /// Whether it is still remembered at `now` (milliseconds since the epoch) when refs are
    /// remembered for `ttlMilliseconds`.
    func isRemembered(at now: Int64, ttlMilliseconds: Int64) -> Bool {
        now - self.learnedAtMilliseconds < ttlMilliseconds
    }
}
