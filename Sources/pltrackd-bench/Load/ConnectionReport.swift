/// What one generator connection did.
struct ConnectionReport: Sendable {
    /// Messages written.
    var sent = 0
    /// Messages answered `"ok": true`.
    var acknowledged = 0
    /// Error replies.
    var errors = 0
    /// The first error reply's text, if any.
    var firstError: String?
    /// Nanoseconds from each acknowledged message's write to its reply (acknowledged runs).
    var latencies: [UInt64] = []

    mutating func count(_ reply: Reply) {
        switch reply {
        case .ok:
            self.acknowledged += 1
        case .error(let text):
            self.errors += 1
            if self.firstError == nil {
                self.firstError = text
            }
        case .endOfRun:
            break
        }
    }
}

/// A connection that ended before its run did.
struct ConnectionClosedEarly: Error, CustomStringConvertible {
    var report: ConnectionReport

    var description: String {
        "the connection closed after \(self.report.sent) messages sent, \(self.report.acknowledged) acknowledged, \(self.report.errors) errors"
            + (self.report.firstError.map { " (first error: \($0))" } ?? "")
    }
}
