/// The spool's part of the `stats` reply.
public struct SpoolStats: Sendable, Codable, Equatable {
    /// Bytes in the spool's segment files.
    public var bytes: Int
    /// Messages in the spool without a final outcome.
    public var records: Int
    /// How long ago the oldest undelivered message was accepted; absent when there is none.
    public var oldestUndeliveredAgeSeconds: Double?
    /// Messages found undelivered in the spool at start and sent again. After a crash, those
    /// that were in flight may reach PromptLayer twice.
    public var recovered: Int
    /// Of the recovered, those whose upstream attempt was under way when the daemon stopped,
    /// with the calls merged into them: the only ones that may reach PromptLayer twice (short
    /// of a power failure).
    public var recoveredInFlight: Int
    /// Segments found damaged at start (torn or corrupt); what followed the damage was skipped.
    public var damagedSegments: Int
    /// Bytes skipped after damage at start.
    public var damagedBytes: Int
    /// `always`, `interval` or `never`.
    public var fsync: String
    /// `fsync`s run by group commit since start; with `always`, acknowledgements per commit
    /// is `accepted` divided by this.
    public var fsyncs: Int
    /// Segments compacted since start: a segment whose few pending calls (long retried ones)
    /// would have kept it on disk had them copied forward and was deleted.
    public var compactions: Int
    /// Calls copied forward by those compactions.
    public var compactedCalls: Int
    /// Learned refs (a log's ref with PromptLayer's id) carried into the refs file when their
    /// segment was deleted before `--ref-ttl` ran out, so that they survive a restart.
    public var refsCarried: Int
    /// Learned refs that could not be carried (the refs file could not be written): after a
    /// restart, calls that name them wait for a log again and end as `unknown_ref`.
    public var refsNotCarried: Int

    init(_ journal: SpoolJournal) {
        let figures = journal.figures
        self.bytes = figures.bytes
        self.records = figures.records
        self.oldestUndeliveredAgeSeconds = figures.oldestAcceptedAtMilliseconds.map {
            Double(max(0, WallClock.milliseconds() - $0)) / 1000
        }
        self.recovered = journal.recovery.pending
        self.recoveredInFlight = journal.recovery.inFlight
        self.damagedSegments = journal.recovery.damage.count
        self.damagedBytes = journal.recovery.bytesSkipped
        self.fsync = journal.policy.rawValue
        self.fsyncs = figures.commits
        self.compactions = figures.compactions
        self.compactedCalls = figures.callsCopied
        self.refsCarried = figures.refsCarried
        self.refsNotCarried = figures.refsNotCarried
    }
}
