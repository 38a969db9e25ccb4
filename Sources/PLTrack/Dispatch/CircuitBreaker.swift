import NIOConcurrencyHelpers
import NIOCore

/// The ``UpstreamCircuit`` the workers share, behind a lock.
public final class CircuitBreaker: Sendable {
    private let circuit = NIOLockedValueBox(UpstreamCircuit())

    public init() {}

    /// `closed`, `open` or `probing`.
    public var state: String { self.circuit.withLockedValue { $0.name } }
    /// How many times PromptLayer was found unreachable.
    public var openings: Int { self.circuit.withLockedValue { $0.openings } }

    func permit(now: NIODeadline) -> UpstreamCircuit.Permission {
        self.circuit.withLockedValue { $0.permit(now: now) }
    }

    /// What recording an attempt changed.
    enum Change {
        case none
        /// PromptLayer was found unreachable.
        case opened
        /// PromptLayer answers again.
        case closed
    }

    /// Records how an attempt went; returns what changed and whether the circuit is closed.
    func record(reached: Bool, now: NIODeadline) -> (change: Change, isClosed: Bool) {
        self.circuit.withLockedValue { circuit in
            let wasClosed = circuit.isClosed
            if reached {
                circuit.reached()
            } else {
                circuit.failed(now: now)
            }
            let isClosed = circuit.isClosed
            let change: Change = wasClosed == isClosed ? .none : (isClosed ? .closed : .opened)
            return (change, isClosed)
        }
    }
}
