import DequeModule

/// The workers waiting for a call, first come first served: the driver's, so that the
/// pipeline's machine keeps no workers of its own.
struct WaitingWorkers {
    typealias Continuation = CheckedContinuation<Envelope?, Never>

    private var order: Deque<WorkerID> = []
    private var continuations: [WorkerID: Continuation] = [:]

    var isEmpty: Bool { self.continuations.isEmpty }

    mutating func append(_ worker: WorkerID, _ continuation: Continuation) {
        self.order.append(worker)
        self.continuations[worker] = continuation
    }

    /// The worker waiting longest.
    mutating func popFirst() -> Continuation? {
        while let worker = self.order.popFirst() {
            if let continuation = self.continuations.removeValue(forKey: worker) {
                return continuation
            }
        }
        return nil
    }

    /// A worker stops waiting (it was cancelled).
    mutating func remove(_ worker: WorkerID) -> Continuation? {
        self.continuations.removeValue(forKey: worker)
    }

    /// Every waiting worker, at stop.
    mutating func removeAll() -> [Continuation] {
        defer {
            self.order = []
            self.continuations = [:]
        }
        return Array(self.continuations.values)
    }
}
