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
    /// The last answer to a call being retried, for its dead letter if it expires while it
    /// waits; `nil` until an attempt failed (a reference, so a call that never failed pays
    /// one word for it).
    public var lastFailure: LastFailure?

    /// The status (0 for no answer) and body of a failed attempt.
    public final class LastFailure: Sendable, Equatable {
        public let status: Int
        public let response: String

        init(status: Int, response: String) {
            self.status = status
            self.response = response
        }

        public static func == (lhs: LastFailure, rhs: LastFailure) -> Bool {
            lhs.status == rhs.status && lhs.response == rhs.response
        }
    }

    public init(message: TrackMessage, sequence: UInt64, acceptedAt: NIODeadline, attempts: Int = 0) {
        self.message = message
        self.sequence = sequence
        self.acceptedAt = acceptedAt
        self.attempts = attempts
    }
}

extension Envelope {
    /// A call read back from the spool, aged by how long ago it was accepted.
    init(spooled: SpooledMessage) {
        let age = max(0, WallClock.milliseconds() - spooled.acceptedAtMilliseconds)
        self.init(
            message: TrackMessage(
                kind: spooled.kind,
                replyID: nil,
                coalescingKey: CoalescingKey(
                    kind: spooled.kind, requestID: spooled.requestID,
                    detail: CoalescingDetail(kind: spooled.kind, body: spooled.body)),
                body: spooled.body
            ),
            sequence: spooled.sequence,
            acceptedAt: .now() - .milliseconds(age)
        )
    }
}
