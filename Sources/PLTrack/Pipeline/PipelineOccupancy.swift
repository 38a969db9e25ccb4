/// How many calls sit in each part of the pipeline.
public struct PipelineOccupancy: Sendable, Equatable, Codable {
    /// Waiting out the coalescing window.
    public var coalescing: Int
    /// Ready for the next free worker.
    public var ready: Int
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
