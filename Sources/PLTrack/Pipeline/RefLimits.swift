/// The bounds on what the pipeline holds for refs (``RequestRefs``).
public struct RefLimits: Equatable, Sendable {
    /// Calls that may wait for a `log.request` not yet sent (`--ref-wait-max-calls`).
    public var waitingCalls = 100_000
    /// The bytes of their bodies (`--ref-wait-max-bytes`).
    public var waitingBytes = 64 << 20
    /// Refs remembered with their log's id or failure (`--ref-max-known`).
    public var knownRefs = 1_000_000

    public init() {}
}
