/// Decides whether an upstream answer is final and how long to wait before trying again.
///
/// Backoff is exponential with full jitter: attempt n waits a uniformly random time between
/// zero and `min(cap, base · 2ⁿ⁻¹)`, and never less than the `Retry-After` the server gave, up
/// to `cap`: a huge `Retry-After` must not keep a call, and the calls behind it, for ever.
public struct RetryPolicy: Sendable, Equatable {
    /// What to do with a call after one attempt.
    public enum Verdict: Sendable, Equatable {
        case delivered
        /// Try again after at least `notBefore` (the server's `Retry-After`, when it gave one).
        case retry(notBefore: Duration?)
        /// A final refusal: the call goes to the dead letters.
        case deadLetter(status: Int, body: String)
    }

    /// The ceiling of the first backoff (`--retry-base`).
    public var base: Duration
    /// The largest backoff (`--retry-cap`).
    public var cap: Duration

    public init(base: Duration = .milliseconds(100), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// 2xx is delivered; 408, 429, 5xx and transport failures are retried; any other status is final.
    public func classify(_ response: UpstreamResponse) -> Verdict {
        switch response {
        case .failed, .timedOut:
            return .retry(notBefore: nil)
        case .answered(let status, let retryAfter, let body):
            switch status {
            case 200..<300: return .delivered
            case 408, 429, 500..<600: return .retry(notBefore: retryAfter)
            default: return .deadLetter(status: status, body: body)
            }
        }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed attempts (from 1).
    public func backoff(
        afterAttempt attempt: Int,
        notBefore: Duration?,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let ceiling = min(self.cap, self.base * (1 << exponent))
        let ceilingNanoseconds = max(ceiling.nanoseconds, 0)
        let jittered = Duration.nanoseconds(Int64.random(in: 0...ceilingNanoseconds, using: &generator))
        guard let notBefore else {
            return jittered
        }
        return max(jittered, min(notBefore, self.cap))
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else {
            return seconds < 0 ? Int64.min : Int64.max
        }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
