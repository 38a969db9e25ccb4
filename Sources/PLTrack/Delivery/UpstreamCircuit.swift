import NIOCore

/// Whether PromptLayer can be reached, as a state machine: after consecutive attempts that
/// got no HTTP answer the circuit opens, and then one probe at a time goes out, with a backoff
/// that doubles up to ``cap``; the probe's answer closes it and every worker sends again.
///
/// Every attempt carries the ``generation`` it was sent in, which changes whenever the circuit
/// opens or closes: the result of a request sent before the circuit opened never counts as the
/// probe's, and cannot let a second probe out while the first is on its way.
///
/// An HTTP answer of any status counts as reached: the circuit is about the network; a 429 or
/// a 503 is the ``DeliveryGovernor``'s business. Time is passed in, so tests drive it by hand.
struct UpstreamCircuit: Equatable {
    enum State: Equatable {
        /// Sending; `failures` attempts in a row got no answer.
        case closed(failures: Int)
        /// Unreachable: the next probe may go at `probeAt`.
        case open(probeAt: NIODeadline, backoff: TimeAmount)
        /// One probe is on its way.
        case probing(backoff: TimeAmount)
    }

    /// What a worker may do.
    enum Permission: Equatable {
        case send
        /// Send as the one probe.
        case probe
        /// Ask again at `until`, when the next probe may go.
        case wait(until: NIODeadline)
        /// A probe is on its way: ask again when it is back.
        case waitForProbe
    }

    /// What a result changed.
    enum Change: Equatable {
        /// PromptLayer was found unreachable.
        case opened
        /// PromptLayer answers again.
        case closed
        /// The probe got no answer; the next goes after a longer wait.
        case probeFailed
    }

    /// Attempts in a row without an answer that open the circuit.
    static let threshold = 5
    /// The first wait before a probe, doubled after each failed probe up to ``cap``.
    static let base = TimeAmount.milliseconds(100)
    /// The longest wait between probes: PromptLayer's return is noticed within it.
    static let cap = TimeAmount.seconds(1)

    private(set) var state = State.closed(failures: 0)
    /// How many times the circuit opened.
    private(set) var openings = 0
    /// Changes at every opening and closing; an attempt's result counts only in its own.
    private(set) var generation = 0

    /// Whether every worker may send.
    var isClosed: Bool {
        if case .closed = self.state { true } else { false }
    }

    /// `closed`, `open` or `probing`, for stats and `STATUS=`.
    var name: String {
        switch self.state {
        case .closed: "closed"
        case .open: "open"
        case .probing: "probing"
        }
    }

    /// What a worker may do now, without taking the probe.
    func peek(now: NIODeadline) -> Permission {
        switch self.state {
        case .closed: .send
        case .open(let probeAt, _): now >= probeAt ? .probe : .wait(until: probeAt)
        case .probing: .waitForProbe
        }
    }

    /// What a worker may do now; `.probe` means it is the probe from now on.
    mutating func permit(now: NIODeadline) -> Permission {
        let permission = self.peek(now: now)
        if permission == .probe, case .open(_, let backoff) = self.state {
            self.state = .probing(backoff: backoff)
        }
        return permission
    }

    /// An attempt sent in `generation` got an HTTP answer.
    mutating func reached(generation: Int) -> Change? {
        guard generation == self.generation else {
            return nil  // sent before the circuit opened: it proves nothing about now
        }
        switch self.state {
        case .closed:
            self.state = .closed(failures: 0)
            return nil
        case .probing, .open:
            self.state = .closed(failures: 0)
            self.generation += 1
            return .closed
        }
    }

    /// An attempt sent in `generation` got no answer (refused, reset, timed out).
    mutating func failed(generation: Int, now: NIODeadline) -> Change? {
        guard generation == self.generation else {
            return nil
        }
        switch self.state {
        case .closed(let failures) where failures + 1 >= Self.threshold:
            self.state = .open(probeAt: now + Self.base, backoff: Self.base)
            self.openings += 1
            self.generation += 1
            return .opened
        case .closed(let failures):
            self.state = .closed(failures: failures + 1)
            return nil
        case .probing(let backoff):
            let next = min(backoff * 2, Self.cap)
            self.state = .open(probeAt: now + next, backoff: next)
            return .probeFailed
        case .open:
            return nil
        }
    }
}
