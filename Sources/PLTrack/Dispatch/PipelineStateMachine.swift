import DequeModule
import HeapModule
import NIOCore

/// The pipeline from acceptance to a final outcome, as a synchronous state machine.
///
/// Calls move from the ``Coalescer`` to the ready queue, to a worker, and end delivered,
/// dead-lettered or coalesced; a retryable failure parks the call until its backoff ends.
/// Each event returns ``PipelineEffects`` for the driver to perform. Time is an argument, so
/// tests step through windows and backoffs without sleeping.
struct PipelineStateMachine {
    /// Why ``submit(_:now:)`` did not take a call.
    enum SubmitOutcome: Equatable {
        case accepted(PipelineEffects)
        /// The queue holds `capacity` calls; the client should stop being read until there is room.
        case full
        /// The daemon is stopping and takes no new calls.
        case shuttingDown
    }

    /// What a worker asking for work gets.
    enum WorkRequestOutcome: Equatable {
        case assigned(Envelope)
        /// Nothing to do yet; the worker is resumed through an ``PipelineEffects/Assignment``.
        case wait
        /// The pipeline stopped; the worker ends.
        case stop
    }

    /// How one upstream attempt ended, as far as the pipeline cares.
    enum AttemptResult: Equatable {
        case delivered
        case deadLettered
        case retry(at: NIODeadline)
    }

    private enum Phase {
        case running
        /// Stopping: new calls are refused, the rest is still delivered.
        case draining
        /// Stopped: workers end, whatever is held stays undelivered.
        case stopped
    }

    private struct FlushWaiter {
        /// The last sequence number accepted before the flush.
        var upTo: UInt64
        /// Calls accepted up to then that have no final outcome yet.
        var outstanding: Int
    }

    /// The most calls held at once; at this point ingest stops reading.
    private(set) var capacity: Int
    /// Calls due within this much of a timer are released with it, so timers fire per batch.
    private(set) var timerSlack: TimeAmount

    private var phase = Phase.running
    private var coalescer: Coalescer
    private var ready: Deque<Envelope> = []
    private var retries = Heap<ScheduledRetry>()
    private var inFlight = 0
    private var ledger = Ledger()
    private var nextSequence: UInt64 = 1
    private var idleWorkers: Deque<WorkerID> = []
    private var flushWaiters: [FlushID: FlushWaiter] = [:]
    private var capacityWaiters: [CapacityWaiterID] = []
    private var armedTimer: NIODeadline?

    init(capacity: Int, coalescingWindow: TimeAmount) {
        self.capacity = capacity
        self.coalescer = Coalescer(window: coalescingWindow)
        self.timerSlack = Self.slack(for: coalescingWindow)
    }

    private static func slack(for window: TimeAmount) -> TimeAmount {
        min(.nanoseconds(window.nanoseconds / 10), .milliseconds(5))
    }

    // MARK: Reading

    /// Calls held anywhere in the pipeline.
    var held: Int { self.coalescer.count + self.ready.count + self.retries.count + self.inFlight }

    /// The ledger with `held` filled in.
    var currentLedger: Ledger {
        var ledger = self.ledger
        ledger.held = UInt64(self.held)
        return ledger
    }

    /// The pipeline's queues, for stats.
    var occupancy: PipelineOccupancy {
        PipelineOccupancy(
            coalescing: self.coalescer.count,
            ready: self.ready.count,
            retrying: self.retries.count,
            inFlight: self.inFlight,
            capacity: self.capacity
        )
    }

    /// The earliest coalescing or retry deadline at or before `now` that no timer has handled yet.
    func oldestOverdueDeadline(now: NIODeadline) -> NIODeadline? {
        [self.coalescer.nextDeadline, self.retries.min?.due].compactMap { $0 }.filter { $0 < now }.min()
    }

    // MARK: Events

    mutating func submit(_ message: TrackMessage, now: NIODeadline) -> SubmitOutcome {
        guard case .running = self.phase else {
            return .shuttingDown
        }
        guard self.held < self.capacity else {
            return .full
        }
        let envelope = Envelope(message: message, sequence: self.nextSequence, acceptedAt: now)
        self.nextSequence += 1
        self.ledger.accepted += 1
        var effects = PipelineEffects()
        if self.coalescer.window <= .zero {
            self.ready.append(envelope)
        } else {
            switch self.coalescer.insert(envelope, now: now) {
            case .held(let deadline):
                self.arm(deadline, &effects)
            case .replaced(let superseded):
                self.ledger.coalesced += 1
                self.resolve(superseded, &effects)
            }
        }
        self.assignWork(&effects)
        return .accepted(effects)
    }

    /// A timer armed through ``PipelineEffects/timer`` fired.
    mutating func timerFired(now: NIODeadline) -> PipelineEffects {
        var effects = PipelineEffects()
        if let armed = self.armedTimer, armed <= now {
            self.armedTimer = nil
        }
        self.ready.append(contentsOf: self.coalescer.removeDue(now: now + self.timerSlack))
        while let first = self.retries.min, first.due <= now + self.timerSlack {
            self.ready.append(self.retries.removeMin().envelope)
        }
        if let next = [self.coalescer.nextDeadline, self.retries.min?.due].compactMap({ $0 }).min() {
            self.arm(next, &effects)
        }
        self.assignWork(&effects)
        return effects
    }

    mutating func workerRequestsWork(_ worker: WorkerID) -> WorkRequestOutcome {
        if case .stopped = self.phase {
            return .stop
        }
        if let envelope = self.ready.popFirst() {
            self.inFlight += 1
            return .assigned(envelope)
        }
        self.idleWorkers.append(worker)
        return .wait
    }

    mutating func attemptFinished(_ envelope: Envelope, _ result: AttemptResult) -> PipelineEffects {
        var effects = PipelineEffects()
        self.inFlight -= 1
        switch result {
        case .delivered:
            self.ledger.delivered += 1
            self.resolve(envelope, &effects)
        case .deadLettered:
            self.ledger.deadLettered += 1
            self.resolve(envelope, &effects)
        case .retry(let due):
            self.retries.insert(ScheduledRetry(due: due, envelope: envelope))
            self.arm(due, &effects)
        }
        self.releaseIngest(&effects)
        return effects
    }

    /// Starts a `flush`: everything coalescing is released now, and the flush completes when
    /// every call accepted so far has a final outcome. When nothing is outstanding, the returned
    /// effects already list `id` as completed.
    mutating func flush(_ id: FlushID) -> PipelineEffects {
        var effects = PipelineEffects()
        self.ready.append(contentsOf: self.coalescer.removeAll())
        let outstanding = self.held
        if outstanding == 0 {
            effects.completedFlushes.append(id)
        } else {
            self.flushWaiters[id] = FlushWaiter(upTo: self.nextSequence - 1, outstanding: outstanding)
        }
        self.assignWork(&effects)
        return effects
    }

    /// A flush gave up waiting; returns whether it was still pending.
    mutating func flushTimedOut(_ id: FlushID) -> Bool {
        self.flushWaiters.removeValue(forKey: id) != nil
    }

    /// A connection asks to be told when there is room; returns `true` when there is room now.
    mutating func waitForCapacity(_ id: CapacityWaiterID) -> Bool {
        if self.held < self.capacity || !self.isRunning {
            return true
        }
        self.capacityWaiters.append(id)
        return false
    }

    /// Applies a reloaded capacity and window; calls already coalescing keep their deadlines.
    mutating func reconfigure(capacity: Int, coalescingWindow: TimeAmount) -> PipelineEffects {
        var effects = PipelineEffects()
        self.capacity = capacity
        self.coalescer.window = coalescingWindow
        self.timerSlack = Self.slack(for: coalescingWindow)
        self.releaseIngest(&effects)
        return effects
    }

    /// Stops taking calls; what is held is still dispatched. Paused connections are resumed so
    /// they can answer `shutting_down`.
    mutating func beginDraining() -> PipelineEffects {
        var effects = PipelineEffects()
        guard case .running = self.phase else {
            return effects
        }
        self.phase = .draining
        self.ready.append(contentsOf: self.coalescer.removeAll())
        effects.resumedIngest = self.capacityWaiters
        self.capacityWaiters = []
        self.assignWork(&effects)
        return effects
    }

    /// Stops for good: returns the idle workers, which must be resumed so they can end.
    mutating func stop() -> [WorkerID] {
        self.phase = .stopped
        defer { self.idleWorkers = [] }
        return Array(self.idleWorkers)
    }

    // MARK: Internals

    private var isRunning: Bool {
        if case .running = self.phase { true } else { false }
    }

    private mutating func assignWork(_ effects: inout PipelineEffects) {
        while !self.idleWorkers.isEmpty, let envelope = self.ready.popFirst() {
            self.inFlight += 1
            effects.assignments.append(.init(worker: self.idleWorkers.removeFirst(), envelope: envelope))
        }
    }

    private mutating func arm(_ deadline: NIODeadline, _ effects: inout PipelineEffects) {
        if let armed = self.armedTimer, armed <= deadline {
            return
        }
        self.armedTimer = deadline
        effects.timer = deadline
    }

    /// Records that `envelope` reached a final outcome, for the flushes waiting on it.
    private mutating func resolve(_ envelope: Envelope, _ effects: inout PipelineEffects) {
        guard !self.flushWaiters.isEmpty else {
            return
        }
        for (id, var waiter) in self.flushWaiters where waiter.upTo >= envelope.sequence {
            waiter.outstanding -= 1
            if waiter.outstanding == 0 {
                self.flushWaiters[id] = nil
                effects.completedFlushes.append(id)
            } else {
                self.flushWaiters[id] = waiter
            }
        }
    }

    private mutating func releaseIngest(_ effects: inout PipelineEffects) {
        guard !self.capacityWaiters.isEmpty, self.held < self.capacity else {
            return
        }
        effects.resumedIngest = self.capacityWaiters
        self.capacityWaiters = []
    }
}
