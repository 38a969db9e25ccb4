import NIOConcurrencyHelpers

/// The sink's rate limit, as an API gateway applies one: at most `perSecond` tracking requests
/// are answered in each second of the sink's clock; the rest are refused with 429 and
/// `Retry-After: 1`. Shared by every connection.
final class RateLimit: Sendable {
    let perSecond: Int
    private let window = NIOLockedValueBox((second: UInt64(0), admitted: 0))

    init(perSecond: Int) {
        self.perSecond = perSecond
    }

    /// Whether a request arriving at `nanoseconds` (`CLOCK_MONOTONIC`) is within the limit.
    func admit(atNanoseconds nanoseconds: UInt64) -> Bool {
        let second = nanoseconds / 1_000_000_000
        return self.window.withLockedValue { window in
            if window.second != second {
                window = (second, 0)
            }
            guard window.admitted < self.perSecond else {
                return false
            }
            window.admitted += 1
            return true
        }
    }
}
