import NIOCore

/// Whether PromptLayer can be reached, as a state machine: after consecutive attempts that
/// got no HTTP answer the circuit opens, and then one probe at a time goes out, with a backoff
/// that doubles up to ``cap``; the first answer closes it and every worker sends again.
///
/// An HTTP answer of any status counts as reached: the circuit is about the network, and a
/// refusal is the retry policy's business. Time is passed in, so tests drive it by hand.
struct UpstreamCircuit: Equatable {
    enum State: Equatable {
        /// Sending; `failures` attempts in a row got no answer.
        case closed(failures: Int)
        /// Unreachable: the next probe may go at `probeAt`.
        case open(probeAt: NIODeadline, backoff: TimeAmount)
        /// One probe is on its way.
        case probing(backoff: TimeAmount)
    }

    /// What a worker may do with the call it holds.
    enum Permission: Equatable {
        case send
        /// Send it as the one probe.
        case probe
        /// Hold it and ask again at `until`.
        case wait(until: NIODeadline)
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

    mutating func permit(now: NIODeadline) -> Permission {
        switch self.state {
        case .closed:
            return .send
        case .open(let probeAt, let backoff):
            guard now >= probeAt else {
                return .wait(until: probeAt)
            }
            self.state = .probing(backoff: backoff)
            return .probe
        case .probing(let backoff):
            return .wait(until: now + backoff)
        }
    }

    /// An attempt got an HTTP answer.
    mutating func reached() {
        self.state = .closed(failures: 0)
    }

    /// An attempt got no answer (refused, reset, timed out).
    mutating func failed(now: NIODeadline) {
        switch self.state {
        case .closed(let failures) where failures + 1 >= Self.threshold:
            self.state = .open(probeAt: now + Self.base, backoff: Self.base)
            self.openings += 1
        case .closed(let failures):
            self.state = .closed(failures: failures + 1)
        case .probing(let backoff):
            let next = min(backoff * 2, Self.cap)
            self.state = .open(probeAt: now + next, backoff: next)
        case .open:
            break  // sent before the circuit opened
        }
    }
}
