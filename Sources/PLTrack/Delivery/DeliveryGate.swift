import NIOConcurrencyHelpers
import NIOCore

/// The ``DeliveryGovernor`` the workers share: it decides under a lock, and the workers wait
/// (sleeping until a time, or parked until woken) outside it.
public final class DeliveryGate: Sendable {
    private struct State {
        var governor: DeliveryGovernor
        var parked: [WorkerID: CheckedContinuation<Void, Never>] = [:]
        /// Workers woken before they had parked: they ask again at once.
        var wokenEarly: Set<WorkerID> = []
    }

    private let state: NIOLockedValueBox<State>

    /// - Parameters:
    ///   - initialLimit: requests on their way at first, before latency is known.
    ///   - maximumInFlight: the ceiling (`--max-in-flight`).
    ///   - pauseCap: the longest pause a `Retry-After` can ask for (`--retry-cap`).
    public init(initialLimit: Int = 8, maximumInFlight: Int, pauseCap: Duration, now: NIODeadline = .now()) {
        self.state = NIOLockedValueBox(
            State(
                governor: DeliveryGovernor(
                    initialLimit: initialLimit, maximumInFlight: maximumInFlight, pauseCap: pauseCap,
                    now: now)))
    }

    /// Waits until `worker` may take a call. `false` when the worker is cancelled meanwhile.
    func waitForTurn(_ worker: WorkerID, isolation: isolated (any Actor)? = #isolation) async -> Bool {
        while !Task.isCancelled {
            switch self.state.withLockedValue({ $0.governor.check(worker: worker, now: .now()) }) {
            case .send:
                return true
            case .wait(let until):
                let delay = max(until - .now(), .milliseconds(1))
                guard (try? await Task.sleep(for: .nanoseconds(delay.nanoseconds))) != nil else {
                    return false
                }
            case .park:
                await self.park(worker, isolation: isolation)
            }
        }
        return false
    }

    /// Parks `worker` until a finished attempt wakes it or it is cancelled.
    private func park(_ worker: WorkerID, isolation: isolated (any Actor)?) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLockedValue { state in
                    guard state.wokenEarly.remove(worker) == nil, !Task.isCancelled else {
                        return true
                    }
                    state.parked[worker] = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                }
            }
        } onCancel: {
            let continuation = self.state.withLockedValue { state in
                state.governor.withdraw(worker: worker)
                return state.parked.removeValue(forKey: worker)
            }
            continuation?.resume()
        }
    }

    /// With a call in hand: the attempt's ticket if `worker` may send it now, or `nil` if
    /// sending stopped being allowed while it waited for the call (the call goes back).
    func begin(_ worker: WorkerID) -> DeliveryGovernor.Ticket? {
        let permission = self.state.withLockedValue { $0.governor.begin(worker: worker, now: .now()) }
        if case .send(let ticket) = permission {
            return ticket
        }
        return nil
    }

    /// The attempt of `ticket` ended with `outcome`; wakes the workers the governor names and
    /// returns the other actions, for the caller to log. `pauseCap` is `--retry-cap` as it is
    /// now (it is reloadable).
    func finished(
        _ ticket: DeliveryGovernor.Ticket, _ outcome: DeliveryGovernor.Outcome, pauseCap: Duration
    ) -> [DeliveryGovernor.Action] {
        var woken: [CheckedContinuation<Void, Never>] = []
        let actions = self.state.withLockedValue { state in
            state.governor.pauseCap = pauseCap
            let actions = state.governor.finished(ticket, outcome, now: .now())
            for case .wake(let workers) in actions {
                for worker in workers {
                    if let continuation = state.parked.removeValue(forKey: worker) {
                        woken.append(continuation)
                    } else {
                        state.wokenEarly.insert(worker)
                    }
                }
            }
            return actions
        }
        for continuation in woken {
            continuation.resume()
        }
        return actions.filter {
            if case .wake = $0 { false } else { true }
        }
    }

    /// Whether PromptLayer is taken to be reachable (the circuit is closed).
    var isCircuitClosed: Bool {
        self.state.withLockedValue { $0.governor.circuit.isClosed }
    }

    /// What stats and `STATUS=` show of the governor.
    public struct Snapshot: Sendable, Equatable {
        public var limit: Int
        public var maximumInFlight: Int
        public var inFlight: Int
        public var pausedUntil: NIODeadline?
        public var pauseStatus: Int?
        public var refusals: Int
        public var circuit: String
        public var openings: Int
    }

    public var snapshot: Snapshot {
        self.state.withLockedValue { state in
            let governor = state.governor
            let pause = governor.pause.flatMap { $0.until > .now() ? $0 : nil }
            return Snapshot(
                limit: governor.limit.current, maximumInFlight: governor.limit.ceiling, inFlight: governor.inFlight,
                pausedUntil: pause?.until, pauseStatus: pause?.status, refusals: governor.refusals,
                circuit: governor.circuit.name, openings: governor.circuit.openings)
        }
    }
}
