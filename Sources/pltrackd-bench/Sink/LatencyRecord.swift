import Histogram
import NIOConcurrencyHelpers

/// What the sink has received: tracking requests counted, and the end-to-end latency of those
/// that carry a send time, in an HDR histogram of microseconds.
final class LatencyRecord: Sendable {
    /// The figures `GET /bench/stats` answers with.
    struct Report: Encodable {
        var requests: Int
        /// Requests answered 429 by the rate limit.
        var refused: Int
        /// Connections accepted since the start, and the most open at once.
        var connections: Int
        var peakConnections: Int
        var timestamped: Int
        var p50Ms: Double
        var p99Ms: Double
        var p999Ms: Double
        var maxMs: Double
        var meanMs: Double
    }

    private struct State {
        var requests = 0
        var refused = 0
        var connections = 0
        var openConnections = 0
        var peakConnections = 0
        /// Microseconds from the generator's write to the sink's read of the whole request; up to
        /// 10 minutes, at 3 significant digits.
        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    private let state = NIOLockedValueBox(State())

    /// Counts one tracking request, with the time it was sent when the body carried one; returns
    /// how many were counted, this one included (a log's id).
    @discardableResult
    func record(sentNanoseconds: UInt64?, receivedNanoseconds: UInt64) -> Int {
        self.state.withLockedValue { state in
            state.requests += 1
            if let sentNanoseconds, receivedNanoseconds >= sentNanoseconds {
                _ = state.latency.record((receivedNanoseconds - sentNanoseconds) / 1000)
            }
            return state.requests
        }
    }

    /// Counts a request refused by the rate limit.
    func refused() {
        self.state.withLockedValue { $0.refused += 1 }
    }

    /// A connection opened (`true`) or closed.
    func connection(opened: Bool) {
        self.state.withLockedValue { state in
            if opened {
                state.connections += 1
                state.openConnections += 1
                state.peakConnections = max(state.peakConnections, state.openConnections)
            } else {
                state.openConnections -= 1
            }
        }
    }

    /// Forgets everything recorded so far.
    func reset() {
        self.state.withLockedValue { state in
            let open = state.openConnections
            state = State()
            state.openConnections = open
            state.peakConnections = open
        }
    }

    var report: Report {
        self.state.withLockedValue { state in
            func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
            let empty = state.latency.totalCount == 0
            return Report(
                requests: state.requests,
                refused: state.refused,
                connections: state.connections,
                peakConnections: state.peakConnections,
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
