/// How many calls sit in each part of the pipeline.
public struct PipelineOccupancy: Sendable, Equatable, Codable {
    /// Waiting out the coalescing window.
    public var coalescing: Int
    /// Ready for the next free worker.
    public var ready: Int
    /// Naming a ref whose `log.request` has not come yet (not counted against `capacity`).
    public var waitingForLog: Int = 0
    /// The bytes of their bodies.
    public var waitingForLogBytes: Int = 0
    /// Refs remembered with the id PromptLayer gave their log, or its failure.
    public var knownRefs: Int = 0
    /// Refs forgotten before `--ref-ttl` ran out, to stay within `--ref-max-known`.
    public var refsForgottenEarly: Int = 0
    /// Waiting out a retry backoff.
    public var retrying: Int
    /// Being sent upstream.
    public var inFlight: Int
    /// Accepted to the spool only, waiting for room in memory.
    public var backlog: Int = 0
    /// The most calls held in memory at once (`--queue-capacity`).
    public var capacity: Int

    /// Calls waiting for a worker, in any stage.
    public var queued: Int { self.coalescing + self.ready + self.retrying }
}
