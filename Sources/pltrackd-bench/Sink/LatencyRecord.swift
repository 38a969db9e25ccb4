import Histogram
import NIOConcurrencyHelpers

/// What the sink has received: tracking requests counted, and the end-to-end latency of those
/// that carry a send time, in an HDR histogram of microseconds.
final class LatencyRecord: Sendable {
    /// The figures `GET /bench/stats` answers with.
    struct Report: Encodable {
        var requests: Int
        var timestamped: Int
        var p50Ms: Double
        var p99Ms: Double
        var p999Ms: Double
        var maxMs: Double
        var meanMs: Double
    }

    private struct State {
        var requests = 0
        /// Microseconds from the generator's write to the sink's read of the whole request; up to
        /// 10 minutes, at 3 significant digits.
        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    private let state = NIOLockedValueBox(State())

    /// Counts one tracking request, with the time it was sent when the body carried one.
    func record(sentNanoseconds: UInt64?, receivedNanoseconds: UInt64) {
        self.state.withLockedValue { state in
            state.requests += 1
            if let sentNanoseconds, receivedNanoseconds >= sentNanoseconds {
                _ = state.latency.record((receivedNanoseconds - sentNanoseconds) / 1000)
            }
        }
    }

    /// Forgets everything recorded so far.
    func reset() {
        self.state.withLockedValue { $0 = State() }
    }

    var report: Report {
        self.state.withLockedValue { state in
            func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
            let empty = state.latency.totalCount == 0
            return Report(
                requests: state.requests,
                timestamped: Int(state.latency.totalCount),
                p50Ms: empty ? 0 : milliseconds(state.latency.valueAtPercentile(50)),
                p99Ms: empty ? 0 : milliseconds(state.latency.valueAtPercentile(99)),
                p999Ms: empty ? 0 : milliseconds(state.latency.valueAtPercentile(99.9)),
                maxMs: empty ? 0 : milliseconds(state.latency.max),
                meanMs: empty ? 0 : state.latency.mean / 1000
            )
        }
    }
}
