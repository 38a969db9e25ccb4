import NIOCore

/// A tracking call inside the pipeline, with its place in the ledger.
public struct Envelope: Sendable, Equatable {
    /// The call itself.
    public var message: TrackMessage
    /// Its position in acceptance order, from 1; `flush` uses it to know what came before.
    public var sequence: UInt64
    /// When ingest accepted it.
    public var acceptedAt: NIODeadline
    /// Upstream attempts made so far.
    public var attempts: Int
    /// Earlier calls merged into this one (metadata): their spool records are resolved with
    /// this call's outcome, since their values travel in it.
    public var absorbed: [UInt64] = []

    public init(message: TrackMessage, sequence: UInt64, acceptedAt: NIODeadline, attempts: Int = 0) {
        self.message = message
        self.sequence = sequence
        self.acceptedAt = acceptedAt
        self.attempts = attempts
    }
}
