import NIOCore

/// The one place that decides when a call may go to PromptLayer, as a state machine: events in
/// (a worker asks, a request is answered, refused or gets no answer), actions out, the clock
/// passed in.
///
/// It decides three things:
/// - **how many requests are on their way**: a ``ConcurrencyLimit`` that grows while latency
///   holds and shrinks when it rises, when PromptLayer answers 429 or 503, or when a request
///   times out. Worker `n` may send only while `n` is below the limit, so the limit also
///   bounds the connections in use. A refused or reset connection does not change it: that is
///   the circuit's business, and a limit cut to 1 by an outage would take long to grow back;
/// - **when to pause**: a 429 or 503 with `Retry-After` (seconds or an HTTP date) pauses every
///   worker until then, capped by `--retry-cap`; the limit was cut by the refusal, so sending
///   resumes below the rate that was refused;
/// - **whether PromptLayer is reachable**: the ``UpstreamCircuit``, one probe at a time, each
///   result counted only in the generation it was sent in.
///
/// A worker asks twice: before it takes a call (``check(worker:now:)``), so that calls wait in
/// the ready queue rather than in a worker while sending is not allowed, and again with the
/// call in hand (``begin(worker:now:)``), which starts the attempt if sending is still allowed.
struct DeliveryGovernor {
    /// One attempt's permission: who sends, in which generation of the circuit, and when.
    struct Ticket: Equatable, Sendable {
        var worker: WorkerID
        var generation: Int
        var isProbe: Bool
        var sentAt: NIODeadline
    }

    /// What a worker may do.
    enum Permission: Equatable {
        /// Send (from ``begin(worker:now:)``: the attempt has started).
        case send(Ticket?)
        /// Ask again at `until` (a pause, or the next probe's time).
        case wait(until: NIODeadline)
        /// Ask again when woken (``Action/wake(_:)``): the limit or a probe on its way holds it.
        case park
    }

    /// How an attempt ended, as the governor needs to know it.
    enum Outcome: Equatable {
        /// An HTTP answer that is not a refusal.
        case answered
        /// 429 or 503: PromptLayer asks to slow down, for `retryAfter` if it said.
        case refused(status: Int, retryAfter: Duration?)
        /// No HTTP answer: refused or reset.
        case unreachable
        /// No HTTP answer within the request timeout: unreachable to the circuit, and a sign
        /// of overload to the limit.
        case timedOut
    }

    enum Action: Equatable {
        /// Parked workers that may be able to send now: ask again.
        case wake([WorkerID])
        case circuitOpened
        case circuitClosed
        case paused(until: NIODeadline, status: Int)
    }

    /// Why sending is paused, for stats.
    struct Pause: Equatable {
        var until: NIODeadline
        var status: Int
    }

    private(set) var limit: ConcurrencyLimit
    private(set) var circuit = UpstreamCircuit()
    private(set) var pause: Pause?
    /// The longest pause a `Retry-After` can ask for (`--retry-cap`).
    var pauseCap: Duration
    /// Attempts on their way.
    private(set) var inFlight = 0
    /// Attempts answered 429 or 503.
    private(set) var refusals = 0
    private var parked: Set<WorkerID> = []
    /// The worker told it may take a call to probe with, until when; the others wait
    /// meanwhile, so that a probe's time lets one call out of the ready queue, not one per
    /// worker. It lapses, so a candidate that found no call holds nobody up for long.
    private var probeCandidate: (worker: WorkerID, until: NIODeadline)?
    /// How long a worker stays the probe's candidate.
    static let probeCandidacy = UpstreamCircuit.cap

    init(initialLimit: Int, maximumInFlight: Int, pauseCap: Duration, now: NIODeadline) {
        self.limit = ConcurrencyLimit(initial: initialLimit, ceiling: maximumInFlight, now: now)
        self.pauseCap = pauseCap
    }

    /// Whether `worker` may take a call now; nothing starts.
    mutating func check(worker: WorkerID, now: NIODeadline) -> Permission {
        self.decide(worker: worker, now: now, begin: false)
    }

    /// Whether `worker`, holding a call, may send it now; `.send` starts the attempt.
    mutating func begin(worker: WorkerID, now: NIODeadline) -> Permission {
        self.decide(worker: worker, now: now, begin: true)
    }

    private mutating func decide(worker: WorkerID, now: NIODeadline, begin: Bool) -> Permission {
        if let pause = self.pause {
            guard now >= pause.until else {
                return .wait(until: pause.until)
            }
            self.pause = nil
        }
        guard worker < self.limit.current else {
            self.parked.insert(worker)
            return .park
        }
        if begin, self.probeCandidate?.worker == worker {
            self.probeCandidate = nil
        }
        let circuit = begin ? self.circuit.permit(now: now) : self.circuit.peek(now: now)
        switch circuit {
        case .wait(let until):
            return .wait(until: until)
        case .waitForProbe:
            self.parked.insert(worker)
            return .park
        case .probe where !begin:
            if let candidate = self.probeCandidate, candidate.worker != worker, now < candidate.until {
                return .wait(until: candidate.until)
            }
            self.probeCandidate = (worker, now + Self.probeCandidacy)
            self.parked.remove(worker)
            return .send(nil)
        case .send, .probe:
            self.parked.remove(worker)
            guard begin else {
                return .send(nil)
            }
            self.inFlight += 1
            self.limit.sent(inFlight: self.inFlight)
            return .send(
                Ticket(worker: worker, generation: self.circuit.generation, isProbe: circuit == .probe, sentAt: now))
        }
    }

    /// The attempt of `ticket` ended with `outcome`.
    mutating func finished(_ ticket: Ticket, _ outcome: Outcome, now: NIODeadline) -> [Action] {
        self.inFlight -= 1
        let limitBefore = self.limit.current
        var actions: [Action] = []
        switch outcome {
        case .answered:
            self.limit.answered(latency: now - ticket.sentAt, now: now)
            if self.circuit.reached(generation: ticket.generation) == .closed {
                actions.append(.circuitClosed)
            }
        case .refused(let status, let retryAfter):
            self.refusals += 1
            self.limit.backPressure(now: now)
            if self.circuit.reached(generation: ticket.generation) == .closed {
                actions.append(.circuitClosed)
            }
            if let retryAfter {
                // Capped before it becomes a TimeAmount: years of nanoseconds overflow one.
                let until = now + TimeAmount(min(retryAfter, self.pauseCap))
                if until > (self.pause?.until ?? now) {
                    self.pause = Pause(until: until, status: status)
                    actions.append(.paused(until: until, status: status))
                }
            }
        case .unreachable, .timedOut:
            if outcome == .timedOut {
                self.limit.backPressure(now: now)
            }
            switch self.circuit.failed(generation: ticket.generation, now: now) {
            case .opened: actions.append(.circuitOpened)
            case .probeFailed, .closed, nil: break
            }
        }
        // A probe back, or more room: parked workers ask again (those still held park again).
        if ticket.isProbe || self.limit.current > limitBefore || actions.contains(.circuitClosed) {
            let woken = self.parked.filter { $0 < self.limit.current }.sorted()
            self.parked.subtract(woken)
            if !woken.isEmpty {
                actions.append(.wake(woken))
            }
        }
        return actions
    }

    /// A worker stopped (cancelled) while parked: it will not ask again.
    mutating func withdraw(worker: WorkerID) {
        self.parked.remove(worker)
        if self.probeCandidate?.worker == worker {
            self.probeCandidate = nil
        }
    }
}
