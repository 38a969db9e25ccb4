/// Where every accepted tracking call is: the bookkeeping behind pltrackd's promise that
/// nothing is dropped silently.
///
/// At every moment `accepted == delivered + deadLettered + coalesced + held`.
public struct Ledger: Sendable, Equatable, Codable {
    /// Calls taken from clients.
    public var accepted: UInt64 = 0
    /// Calls PromptLayer (or the outbox) answered with success.
    public var delivered: UInt64 = 0
    /// Calls refused upstream for good and written to the dead-letter file.
    public var deadLettered: UInt64 = 0
    /// Calls replaced by a newer one for the same request within the coalescing window.
    public var coalesced: UInt64 = 0
    /// ``coalesced`` by message type (`track.prompt`, …): the upstream calls saved.
    public var coalescedByType: [String: UInt64] = [:]
    /// Calls folded into a `log.request`'s body (counted in ``coalesced`` too), by type.
    public var foldedByType: [String: UInt64] = [:]
    /// Calls still in the pipeline: coalescing, queued, in flight or waiting to retry.
    public var held: UInt64 = 0

    public init() {}

    /// Whether the ledger balances; a `false` here is a bug in pltrackd.
    public var balances: Bool {
        self.accepted == self.delivered + self.deadLettered + self.coalesced + self.held
    }
}
