import CoreMetrics
import Histogram
import NIOConcurrencyHelpers
import Synchronization

/// The swift-metrics backend of the daemon's own counters: every handle ``DaemonStats``
/// creates lives here, and both the `stats` reply and the Prometheus text read them back, so
/// there is one set of numbers with two views.
///
/// It is passed to the handles explicitly (`factory:`), never bootstrapped globally, so tests
/// and several daemons in one process each have their own.
final class StatsRegistry: MetricsFactory, Sendable {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.map { "\($0.0)=\($0.1)" }
        }
    }

    private let counters = NIOLockedValueBox<[Key: RegistryCounter]>([:])
    private let meters = NIOLockedValueBox<[Key: RegistryMeter]>([:])
    private let timers = NIOLockedValueBox<[Key: RegistryTimer]>([:])

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Self.handler(in: self.counters, for: Key(label, dimensions), make: RegistryCounter.init)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        Self.handler(in: self.meters, for: Key(label, dimensions), make: RegistryMeter.init)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Self.handler(in: self.meters, for: Key(label, dimensions), make: RegistryMeter.init)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Self.handler(in: self.timers, for: Key(label, dimensions), make: RegistryTimer.init)
    }

    /// The handler registered under `key`, created on first use: handles with the same label
    /// and dimensions share one value.
    private static func handler<Handler>(
        in handlers: NIOLockedValueBox<[Key: Handler]>,
        for key: Key,
        make: () -> Handler
    ) -> Handler {
        handlers.withLockedValue { handlers in
            if let existing = handlers[key] {
                return existing
            }
            let created = make()
            handlers[key] = created
            return created
        }
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    // MARK: Reading back

    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        self.counters.withLockedValue { $0[Key(label, dimensions)]?.value } ?? 0
    }

    func meter(_ label: String) -> Double {
        self.meters.withLockedValue { $0[Key(label, [])]?.value } ?? 0
    }

    func timer(_ label: String) -> RegistryTimer? {
        self.timers.withLockedValue { $0[Key(label, [])] }
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4), plus `extra`
    /// samples computed at reading time.
    func prometheusText(extra: [PrometheusSample]) -> String {
        var samples = extra
        for (key, counter) in self.counters.withLockedValue({ $0 }) {
            samples.append(
                PrometheusSample(name: key.label, type: "counter", labels: key.dimensions, value: Double(counter.value))
            )
        }
        for (key, meter) in self.meters.withLockedValue({ $0 }) {
            samples.append(PrometheusSample(name: key.label, type: "gauge", labels: key.dimensions, value: meter.value))
        }
        for (key, timer) in self.timers.withLockedValue({ $0 }) {
            samples += timer.summarySamples(name: key.label)
        }
        return PrometheusSample.render(samples)
    }
}

/// A counter whose value can be read back.
final class RegistryCounter: CounterHandler, Sendable {
    private let count = Atomic<Int64>(0)

    func increment(by amount: Int64) {
        self.count.add(amount, ordering: .relaxed)
    }

    func reset() {
        self.count.store(0, ordering: .relaxed)
    }

    var value: Int64 { self.count.load(ordering: .relaxed) }
}

/// A gauge (meter or recorder) whose value can be read back.
final class RegistryMeter: MeterHandler, RecorderHandler, Sendable {
    private let current = Mutex<Double>(0)

    func set(_ value: Int64) { self.set(Double(value)) }
    func set(_ value: Double) { self.current.withLock { $0 = value } }
    func increment(by amount: Double) { self.current.withLock { $0 += amount } }
    func decrement(by amount: Double) { self.current.withLock { $0 -= amount } }
    func record(_ value: Int64) { self.set(value) }
    func record(_ value: Double) { self.set(value) }

    var value: Double { self.current.withLock { $0 } }
}

/// A timer kept as an HDR histogram, for percentiles.
final class RegistryTimer: TimerHandler, Sendable {
    private let histogram = NIOLockedValueBox(
        (histogram: Histogram<UInt64>(highestTrackableValue: 3_600_000_000_000), sum: 0.0)
    )

    func recordNanoseconds(_ duration: Int64) {
        self.histogram.withLockedValue { state in
            _ = state.histogram.record(UInt64(max(duration, 0)))
            state.sum += Double(max(duration, 0)) / 1e9
        }
    }

    /// The value at `percentile` (0–100) in milliseconds; 0 before anything was recorded.
    func milliseconds(atPercentile percentile: Double) -> Double {
        self.histogram.withLockedValue { state in
            state.histogram.totalCount == 0 ? 0 : Double(state.histogram.valueAtPercentile(percentile)) / 1e6
        }
    }

    func summarySamples(name: String) -> [PrometheusSample] {
        self.histogram.withLockedValue { state in
            let quantiles = [0.5, 0.9, 0.99].map { quantile in
                PrometheusSample(
                    name: name,
                    type: "summary",
                    labels: ["quantile=\(quantile)"],
                    value: state.histogram.totalCount == 0
                        ? 0 : Double(state.histogram.valueAtPercentile(quantile * 100)) / 1e9
                )
            }
            return quantiles + [
                PrometheusSample(name: name + "_sum", type: nil, labels: [], value: state.sum),
                PrometheusSample(
                    name: name + "_count", type: nil, labels: [], value: Double(state.histogram.totalCount)),
            ]
        }
    }
}
