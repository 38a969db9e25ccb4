import Histogram
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The counters fed by ingest and dispatch. The pipeline's own ledger lives in ``Pipeline``;
/// ``StatsSnapshot`` joins the two.
public final class DaemonStats: Sendable {
    let startedAt: NIODeadline
    let connectionsOpen = Atomic<Int>(0)
    let connectionsTotal = Atomic<Int>(0)
    let connectionsRefused = Atomic<Int>(0)
    let framesReceived = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    let backpressurePauses = Atomic<Int>(0)
    let slowReaderPauses = Atomic<Int>(0)
    let upstreamRequests = Atomic<Int>(0)
    let upstreamFailures = Atomic<Int>(0)
    let retries = Atomic<Int>(0)
    let deadLetterWriteFailures = Atomic<Int>(0)
    private let rejections = NIOLockedValueBox<[ProtocolError.Code: Int]>([:])
    /// Upstream latency in microseconds.
    private let latency = NIOLockedValueBox(Histogram<UInt64>(highestTrackableValue: 3_600_000_000))

    public init(startedAt: NIODeadline = .now()) {
        self.startedAt = startedAt
    }

    /// Counts a connection if it is within `limit`; returns `false` (and counts the refusal) if not.
    func openConnection(limit: Int) -> Bool {
        let open = self.connectionsOpen.add(1, ordering: .relaxed).newValue
        guard open <= limit else {
            self.connectionsOpen.subtract(1, ordering: .relaxed)
            self.connectionsRefused.add(1, ordering: .relaxed)
            return false
        }
        self.connectionsTotal.add(1, ordering: .relaxed)
        return true
    }

    func closeConnection() {
        self.connectionsOpen.subtract(1, ordering: .relaxed)
    }

    func frameReceived(bytes: Int) {
        self.framesReceived.add(1, ordering: .relaxed)
        self.bytesReceived.add(bytes + 4, ordering: .relaxed)
    }

    func backpressurePaused() {
        self.backpressurePauses.add(1, ordering: .relaxed)
    }

    func slowReaderPaused() {
        self.slowReaderPauses.add(1, ordering: .relaxed)
    }

    /// Counts one upstream attempt; `reachedServer` is false when no HTTP answer came.
    func upstreamAttempted(reachedServer: Bool) {
        self.upstreamRequests.add(1, ordering: .relaxed)
        if !reachedServer {
            self.upstreamFailures.add(1, ordering: .relaxed)
        }
    }

    func retryScheduled() {
        self.retries.add(1, ordering: .relaxed)
    }

    func deadLetterWriteFailed() {
        self.deadLetterWriteFailures.add(1, ordering: .relaxed)
    }

    func rejected(_ code: ProtocolError.Code) {
        self.rejections.withLockedValue { $0[code, default: 0] += 1 }
    }

    func recordLatency(_ elapsed: TimeAmount) {
        let microseconds = UInt64(max(elapsed.nanoseconds / 1000, 0))
        _ = self.latency.withLockedValue { $0.record(microseconds) }
    }

    /// The rejection counts by code, every code present.
    var rejectionsByCode: [String: Int] {
        let counts = self.rejections.withLockedValue { $0 }
        return Dictionary(
            uniqueKeysWithValues: ProtocolError.Code.allCases.map { ($0.rawValue, counts[$0, default: 0]) })
    }

    /// Upstream latency at `percentile` (0–100), in milliseconds; 0 before any request.
    func latencyMilliseconds(atPercentile percentile: Double) -> Double {
        self.latency.withLockedValue { histogram in
            histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
        }
    }
}
