import NIOCore

/// A call waiting out its backoff before the next upstream attempt.
struct ScheduledRetry: Comparable {
    var due: NIODeadline
    var envelope: Envelope

    static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.due, lhs.envelope.sequence) < (rhs.due, rhs.envelope.sequence)
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.due == rhs.due && lhs.envelope.sequence == rhs.envelope.sequence
    }
}
