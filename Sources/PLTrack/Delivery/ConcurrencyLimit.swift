import NIOCore

/// How many requests may be on their way to PromptLayer at once: additive increase,
/// multiplicative decrease, judged once per round trip, as Vector's adaptive request
/// concurrency does.
///
/// The answers of one window (about one round trip long) are averaged. If their mean latency
/// stayed within the usual spread of the long-run mean (an exponentially weighted average of
/// the windows' means and of their deviation), and the limit was reached in the window, the
/// limit grows: doubling at first (a slow start, so a distant PromptLayer is filled within a
/// few round trips), by one after the first decrease. If the mean rose beyond that spread, the
/// server is queueing: the limit shrinks by ``latencyDecrease``. PromptLayer saying "slow
/// down" (429, 503) shrinks it at once by ``backPressureDecrease``, at most once per window,
/// so one burst of refusals answering one flight counts once.
/// The limit stays between 1 and ``ceiling``. Time is passed in.
struct ConcurrencyLimit: Equatable {
    /// The largest limit: `--max-in-flight`.
    let ceiling: Int
    private(set) var value: Double
    /// Until the first decrease the limit doubles per window instead of growing by one.
    private(set) var slowStart = true
    /// The long-run mean latency of a window and its mean deviation, in nanoseconds.
    private(set) var baseline: Double?
    private var deviation: Double = 0
    private var window: Window
    private var lastDecrease: NIODeadline?

    /// The answers of the current window.
    private struct Window: Equatable {
        var start: NIODeadline
        var latencySum: Double = 0
        var answers = 0
        /// Whether the requests on their way reached the limit in this window: growing the
        /// limit is pointless while it is not used.
        var reachedLimit = false
    }

    /// The limit shrinks to this share when latency rises.
    static let latencyDecrease = 0.9
    /// The limit shrinks to this share when PromptLayer refuses (429, 503).
    static let backPressureDecrease = 0.5
    /// How much the mean latency may exceed its long-run mean: this many mean deviations, and
    /// never less than ``minimumTolerance`` of the mean (loopback latencies jitter by more than
    /// their deviation suggests).
    static let deviationScale = 2.5
    static let minimumTolerance = 0.1
    /// The weight of a new window's mean in the long-run mean.
    static let smoothing = 0.4
    /// The shortest window, so that a server microseconds away is not judged on one answer.
    static let minimumWindow = TimeAmount.milliseconds(10)

    init(initial: Int, ceiling: Int, now: NIODeadline) {
        self.ceiling = max(1, ceiling)
        self.value = Double(min(max(1, initial), max(1, ceiling)))
        self.window = Window(start: now)
    }

    /// The number of requests that may be on their way.
    var current: Int { max(1, min(self.ceiling, Int(self.value))) }

    /// The window's length: the long-run mean latency, or ``minimumWindow`` if longer.
    private var windowLength: TimeAmount {
        max(Self.minimumWindow, .nanoseconds(Int64(self.baseline ?? 0)))
    }

    /// A request was sent with `inFlight` on their way, itself included.
    mutating func sent(inFlight: Int) {
        if inFlight >= self.current {
            self.window.reachedLimit = true
        }
    }

    /// A request was answered after `latency`; returns whether the limit changed. An answer
    /// that comes once the window is over closes it first and opens the next.
    @discardableResult
    mutating func answered(latency: TimeAmount, now: NIODeadline) -> Bool {
        var changed = false
        if self.window.answers > 0, now - self.window.start >= self.windowLength {
            changed = self.closeWindow(now: now)
        }
        self.window.latencySum += Double(latency.nanoseconds)
        self.window.answers += 1
        return changed
    }

    /// Judges the window that ends at `now`; returns whether the limit changed.
    private mutating func closeWindow(now: NIODeadline) -> Bool {
        let before = self.current
        let mean = self.window.latencySum / Double(self.window.answers)
        if let baseline = self.baseline {
            let tolerance = max(Self.deviationScale * self.deviation, Self.minimumTolerance * baseline)
            if mean > baseline + tolerance {
                self.decrease(to: Self.latencyDecrease, now: now)
            } else if self.window.reachedLimit {
                self.value = min(Double(self.ceiling), self.slowStart ? self.value * 2 : self.value + 1)
            }
            self.deviation += Self.smoothing * (abs(mean - baseline) - self.deviation)
            self.baseline = baseline + Self.smoothing * (mean - baseline)
        } else {
            self.baseline = mean
            self.deviation = mean / 4
            if self.window.reachedLimit {
                self.value = min(Double(self.ceiling), self.value * 2)
            }
        }
        self.window = Window(start: now)
        return self.current != before
    }

    /// PromptLayer refused with 429 or 503; returns whether the limit changed (at most once
    /// per window).
    @discardableResult
    mutating func backPressure(now: NIODeadline) -> Bool {
        if let last = self.lastDecrease, now - last < self.windowLength {
            return false
        }
        let before = self.current
        self.decrease(to: Self.backPressureDecrease, now: now)
        return self.current != before
    }

    private mutating func decrease(to share: Double, now: NIODeadline) {
        self.value = max(1, self.value * share)
        self.slowStart = false
        self.lastDecrease = now
    }
}
