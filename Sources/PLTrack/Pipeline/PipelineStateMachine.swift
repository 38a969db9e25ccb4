import DequeModule
import NIOCore

/// The pipeline from acceptance to a final outcome, as a synchronous state machine.
///
/// Calls move from the ``Coalescer`` to the ``ReadyQueue``, to a worker, and end delivered,
/// dead-lettered or coalesced. A retryable failure hands the call to delivery's
/// ``RetrySchedule`` until its backoff ends (``retriesDue(_:)``): the machine counts it as held
/// and keeps no retry timer; nor does it keep the workers waiting for work, which the driver
/// does (``takeWork()`` hands out a call or says wait).
/// Each event returns ``PipelineEffects`` for the driver to perform. Time is an argument, so
/// tests step through windows and backoffs without sleeping.
///
/// With a spool, every accepted call is on disk, and the memory queue holds at most `capacity`
/// of them: the rest are a backlog the driver reads back from the spool when there is room
/// (``backlogWanted``). Calls for one request go upstream one at a time (``RequestOrder``).
struct PipelineStateMachine {
    /// The most calls held at once; at this point ingest stops reading.
    private(set) var capacity: Int
    /// Calls due within this much of a timer are released with it, so timers fire per batch.
    private(set) var timerSlack: TimeAmount

    private(set) var phase = Phase.running
    // The parts below without `private` are the ones the extension for refs
    // (PipelineStateMachine+Refs.swift) works on too.
    var coalescer: Coalescer
    var queue = ReadyQueue()
    private var inFlight = 0
    /// Calls out with delivery's retry schedule, waiting out their backoff.
    private var retrying = 0
    var ledger = Ledger()
    private(set) var nextSequence: UInt64 = 1
    private var flushWaiters: [FlushID: FlushWaiter] = [:]
    private var capacityWaiters: [CapacityWaiterID] = []
    private var armedTimer: NIODeadline?
    var order = RequestOrder()
    /// Calls that name a `log.request`'s ref, and what is known of each ref.
    var refs: RequestRefs
    /// Refused calls the driver is writing to the dead letters (``refusalRecorded(_:)``).
    var refusing = 0
    /// Whether every accepted call is spooled, so that a full memory queue spills to disk.
    let isSpooled: Bool
    /// Calls accepted to the spool only, not yet read back.
    private(set) var backlog = 0
    /// Whether the driver found the spool full; calls are refused until it has room.
    private(set) var isSpoolFull = false
    /// Whether the spool's writer has as much queued as it may; calls wait until it catches up.
    private(set) var isSpoolBusy = false
    /// Whether the spool's writer is reading backlog calls for the memory queue.
    private(set) var isReadingBacklog = false
    /// The last read found nothing although the backlog is not empty: the next read waits for
    /// the next call or outcome rather than spinning.
    private(set) var backlogReadFoundNothing = false

    /// - Parameters:
    ///   - spooled: whether a spool keeps every call, so that the backlog may live on disk.
    ///   - recovered: calls a spool replay found undelivered; they start as the backlog.
    ///   - highestSequence: the last sequence number the spool used; numbering continues after.
    ///   - refTTL: how long a ref is remembered after its log is answered, and how long a call
    ///     waits for a log that does not come (`--ref-ttl`).
    ///   - maximumMergedBytes: the most bytes a call merged from others (metadata, a log with
    ///     its calls folded in) may have; past it they go as they are, in order.
    ///   - learned: refs whose log a spool replay found answered, with PromptLayer's ids; each
    ///     is remembered for what is left of `refTTL` at `wallMilliseconds`.
    init(
        capacity: Int, coalescingWindow: TimeAmount, spooled: Bool = false, recovered: Int = 0,
        highestSequence: UInt64 = 0, refTTL: TimeAmount = .hours(1), refLimits: RefLimits = RefLimits(),
        learned: [LearnedRef] = [], maximumMergedBytes: Int = CoalescingRules.maximumMergedBytes,
        now: NIODeadline = .now(), wallMilliseconds: Int64 = WallClock.milliseconds()
    ) {
        self.refs = RequestRefs(ttl: refTTL, limits: refLimits)
        for entry in learned {
            self.refs.recovered(entry, now: now, wallMilliseconds: wallMilliseconds)
        }
        self.capacity = capacity
        self.coalescer = Coalescer(window: coalescingWindow)
        self.coalescer.maximumMergedBytes = maximumMergedBytes
        self.order.maximumMergedBytes = maximumMergedBytes
        self.timerSlack = Self.slack(for: coalescingWindow)
        self.isSpooled = spooled
        self.backlog = recovered
        self.ledger.accepted = UInt64(recovered)
        self.nextSequence = highestSequence + 1
    }

    private static func slack(for window: TimeAmount) -> TimeAmount {
        min(.nanoseconds(window.nanoseconds / 10), .milliseconds(5))
    }

    // MARK: Reading

    /// Calls held in memory.
    var inMemory: Int {
        self.coalescer.count + self.queue.readyCount + self.retrying + self.inFlight + self.order.parkedCount
    }

    /// Calls without a final outcome: in memory, in the backlog, waiting for their ref's log
    /// or on their way to the dead letters.
    ///
    /// Calls waiting for a log do not count against `capacity` (``inMemory``): the log they wait
    /// for may be behind them in the backlog, and must be read.
    var held: Int { self.inMemory + self.backlog + self.refs.waitingCount + self.refusing }

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
            ready: self.queue.readyCount + self.order.parkedCount,
            waitingForLog: self.refs.waitingCount,
            waitingForLogBytes: self.refs.waitingBytes,
            knownRefs: self.refs.knownCount,
            refsForgottenEarly: self.refs.forgottenEarly,
            retrying: self.retrying,
            inFlight: self.inFlight,
            backlog: self.backlog,
            capacity: self.capacity
        )
    }

    /// The earliest coalescing deadline before `now` that no timer has handled yet.
    func oldestOverdueDeadline(now: NIODeadline) -> NIODeadline? {
        self.coalescer.nextDeadline.flatMap { $0 < now ? $0 : nil }
    }

    /// Whether a call is ready for a worker.
    var hasReadyWork: Bool { self.queue.readyCount > 0 }

    // MARK: Events

    /// Takes a call where ``admission`` says, or where `planned` (from
    /// ``admissions(forNext:)``) says.
    mutating func submit(_ message: TrackMessage, now: NIODeadline, as planned: Admission? = nil) -> SubmitOutcome {
        var effects = PipelineEffects()
        switch planned ?? self.admission {
        case .shuttingDown:
            return .shuttingDown
        case .full:
            return .full
        case .spoolFull:
            return .spoolFull
        case .backlog:
            self.backlog += 1
        case .memory:
            self.take(Envelope(message: message, sequence: self.nextSequence, acceptedAt: now), now: now, &effects)
        }
        self.nextSequence += 1
        self.ledger.accepted += 1
        self.backlogReadFoundNothing = false
        return .accepted(effects)
    }

    /// The driver asked the spool for ``backlogWanted`` calls.
    mutating func readingBacklog() {
        self.isReadingBacklog = true
    }

    /// Backlog calls from the spool, oldest first: the answer to ``readingBacklog()``
    /// (`answersRead`), or calls whose record could not be written, held in memory instead.
    mutating func loaded(_ envelopes: [Envelope], now: NIODeadline, answersRead: Bool = true) -> PipelineEffects {
        var effects = PipelineEffects()
        if answersRead {
            self.isReadingBacklog = false
            self.backlogReadFoundNothing = envelopes.isEmpty
        }
        self.backlog -= min(self.backlog, envelopes.count)
        for envelope in envelopes {
            self.take(envelope, now: now, &effects)
        }
        return effects
    }

    /// The spool reached `--spool-max-bytes`: calls are refused until it has room.
    mutating func spoolFilled() {
        self.isSpoolFull = true
    }

    /// The spool's writer has as much queued as it may: calls wait, as for a full queue.
    mutating func spoolBusy() {
        self.isSpoolBusy = true
    }

    /// The spool has room again: paused connections may read.
    mutating func spoolFreed() -> PipelineEffects {
        var effects = PipelineEffects()
        self.isSpoolFull = false
        self.isSpoolBusy = false
        self.releaseIngest(&effects)
        return effects
    }

    /// A timer armed through ``PipelineEffects/timer`` fired.
    mutating func timerFired(now: NIODeadline) -> PipelineEffects {
        var effects = PipelineEffects()
        if let armed = self.armedTimer, armed <= now {
            self.armedTimer = nil
        }
        self.dispatch(self.coalescer.removeDue(now: now + self.timerSlack), now: now, &effects)
        for refused in self.refs.expire(now: now + self.timerSlack) {
            self.refuse(refused, &effects)
        }
        if let next = self.nextDeadline {
            self.arm(next, &effects)
        }
        return effects
    }

    /// When the timer must fire next: the coalescing window's or a ref's deadline.
    private var nextDeadline: NIODeadline? {
        [self.coalescer.nextDeadline, self.refs.nextDeadline].compactMap { $0 }.min()
    }

    /// Calls whose backoff ended come back from delivery's retry schedule, soonest first.
    mutating func retriesDue(_ envelopes: [Envelope]) {
        self.retrying -= envelopes.count
        for envelope in envelopes {
            self.queue.append(envelope)
        }
    }

    /// A worker asks for the next call: it gets one, or waits (the driver keeps it until
    /// ``hasReadyWork``), or ends once the pipeline has stopped.
    mutating func takeWork() -> WorkRequestOutcome {
        if case .stopped = self.phase {
            return .stop
        }
        guard let envelope = self.queue.popFirst() else {
            return .wait
        }
        self.inFlight += 1
        return .assigned(envelope)
    }

    mutating func attemptFinished(
        _ envelope: Envelope, _ result: AttemptResult, now: NIODeadline = .now()
    ) -> PipelineEffects {
        var effects = PipelineEffects()
        self.inFlight -= 1
        self.backlogReadFoundNothing = false
        switch result {
        case .delivered:
            self.ledger.delivered += 1
            self.resolve(envelope, &effects)
            self.requestEnded(envelope, now: now, &effects)
        case .logged(let id):
            self.ledger.delivered += 1
            self.logAnswered(envelope, id: id, now: now, &effects)
            self.requestEnded(envelope, now: now, &effects)
        case .deadLettered:
            self.ledger.deadLettered += 1
            self.resolve(envelope, &effects)
            if let ref = envelope.message.coalescingKey.requestID.ref, envelope.message.kind == .log {
                self.refs.failed(
                    ref, .logFailed, detail: "the log.request with this ref was dead-lettered", now: now)
                effects.answeredRefs.append(ref)
            }
            self.requestEnded(envelope, now: now, &effects)
        case .retry(let due):
            self.retrying += 1
            effects.retries.append(ScheduledRetry(due: due, envelope: envelope))
        }
        self.releaseIngest(&effects)
        return effects
    }

    /// Starts a `flush`: everything coalescing is released now, and the flush completes when
    /// every call accepted so far has a final outcome. When nothing is outstanding, the returned
    /// effects already list `id` as completed.
    mutating func flush(_ id: FlushID, now: NIODeadline = .now()) -> PipelineEffects {
        var effects = PipelineEffects()
        self.dispatch(self.coalescer.removeAll(), now: now, &effects)
        let outstanding = self.held
        if outstanding == 0 {
            effects.completedFlushes.append(id)
        } else {
            self.flushWaiters[id] = FlushWaiter(upTo: self.nextSequence - 1, outstanding: outstanding)
        }
        return effects
    }

    /// A flush gave up waiting; returns whether it was still pending.
    mutating func flushTimedOut(_ id: FlushID) -> Bool {
        self.flushWaiters.removeValue(forKey: id) != nil
    }

    /// A connection asks to be told when there is room; returns `true` when there is room now.
    mutating func waitForCapacity(_ id: CapacityWaiterID) -> Bool {
        if self.hasRoom || !self.isRunning {
            return true
        }
        self.capacityWaiters.append(id)
        return false
    }

    /// Applies a reloaded capacity and window; a shorter window shortens the wait of the calls
    /// already coalescing too.
    mutating func reconfigure(capacity: Int, coalescingWindow: TimeAmount, now: NIODeadline) -> PipelineEffects {
        var effects = PipelineEffects()
        self.capacity = capacity
        self.coalescer.setWindow(coalescingWindow, now: now)
        if let next = self.coalescer.nextDeadline {
            self.arm(next, &effects)
        }
        self.timerSlack = Self.slack(for: coalescingWindow)
        self.releaseIngest(&effects)
        return effects
    }

    /// Stops taking calls; what is held is still dispatched. Paused connections are resumed so
    /// they can answer `shutting_down`.
    mutating func beginDraining(now: NIODeadline = .now()) -> PipelineEffects {
        var effects = PipelineEffects()
        guard case .running = self.phase else {
            return effects
        }
        self.phase = .draining
        self.dispatch(self.coalescer.removeAll(), now: now, &effects)
        effects.resumedIngest = self.capacityWaiters
        self.capacityWaiters = []
        return effects
    }

    /// Stops for good: workers get no more calls.
    mutating func stop() {
        self.phase = .stopped
    }

    // MARK: Internals

    private var isRunning: Bool {
        if case .running = self.phase { true } else { false }
    }

    /// Whether a paused connection may read again: with a spool, once it has room; without,
    /// once the queue has room for a ``run`` of calls, so that paused connections wake per
    /// batch rather than per call delivered.
    private var hasRoom: Bool {
        if self.isSpooled {
            return !self.isSpoolFull && !self.isSpoolBusy
        }
        return self.inMemory <= self.capacity - self.run
    }

    /// How many calls move into the memory queue at once, from the backlog or from paused
    /// connections: an eighth of the capacity, at most 512, so they move in runs.
    var run: Int {
        max(1, min(self.capacity / 8, 512))
    }

    /// Takes a call into memory: to the coalescer, or straight on when coalescing is off.
    private mutating func take(_ envelope: Envelope, now: NIODeadline, _ effects: inout PipelineEffects) {
        if self.coalescer.window <= .zero {
            self.dispatch([envelope], now: now, &effects)
            return
        }
        switch self.coalescer.insert(envelope, now: now) {
        case .held(let deadline):
            self.arm(deadline, &effects)
        case .replaced(let superseded, let absorbed):
            self.coalesced(superseded, absorbed: absorbed, &effects)
        case .displaced(let older):
            self.dispatch([older], now: now, &effects)
        }
    }

    /// Calls due for upstream go to the ready queue, unless another for their request is on
    /// its way; then they wait behind it. A call that names a ref goes with its id, waits for
    /// its log, or is refused (``RequestRefs``); a log takes the calls that waited for it
    /// behind it.
    private mutating func dispatch(_ envelopes: [Envelope], now: NIODeadline, _ effects: inout PipelineEffects) {
        // Calls due with their ref's log, before or after it, go with the log.
        var withTheirLog = Self.callsWithTheirLog(in: envelopes)
        for envelope in envelopes {
            guard let ref = envelope.message.coalescingKey.requestID.ref else {
                self.admit(envelope, &effects)
                continue
            }
            if envelope.message.kind == .log {
                // Taken once; the key stays, so the calls after the log in the batch are skipped.
                let batch = withTheirLog[ref] ?? []
                withTheirLog[ref] = batch.isEmpty ? nil : []
                self.logTaken(envelope, ref: ref, with: batch, &effects)
                continue
            }
            if withTheirLog[ref] != nil {
                continue
            }
            let isOrdered = self.order.isActive(envelope.message.coalescingKey.requestID)
            switch self.refs.route(envelope, ref: ref, isOrdered: isOrdered, now: now) {
            case .ready(let ready):
                self.admit(ready, &effects)
            case .waiting:
                self.armRefs(&effects)
            case .refused(let refused):
                self.refuse(refused, &effects)
            }
        }
    }

    mutating func admit(_ envelope: Envelope, _ effects: inout PipelineEffects) {
        switch self.order.admit(envelope) {
        case .dispatch:
            self.queue.append(envelope)
        case .parked(let ended, let absorbed):
            if let ended {
                self.coalesced(ended, absorbed: absorbed, &effects)
            }
        }
    }

    mutating func arm(_ deadline: NIODeadline, _ effects: inout PipelineEffects) {
        if let armed = self.armedTimer, armed <= deadline {
            return
        }
        self.armedTimer = deadline
        effects.timer = deadline
    }

    /// `envelope` ended as coalesced: one upstream call saved. When it was `absorbed` (merged
    /// metadata), its spool record stays until the call that carries its values ends.
    private mutating func coalesced(_ envelope: Envelope, absorbed: Bool, _ effects: inout PipelineEffects) {
        self.ledger.coalesced += 1
        self.ledger.coalescedByType[envelope.message.kind.rawValue, default: 0] += 1
        self.resolve(envelope, onDisk: !absorbed, &effects)
    }

    /// Records that `envelope` reached a final outcome, for the flushes waiting on it, and,
    /// `onDisk`, for the spool: its record and those of the calls merged into it.
    mutating func resolve(_ envelope: Envelope, onDisk: Bool = true, _ effects: inout PipelineEffects) {
        if self.isSpooled && onDisk {
            effects.resolved.append(envelope.sequence)
            effects.resolved += envelope.absorbed
        }
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

    mutating func releaseIngest(_ effects: inout PipelineEffects) {
        guard !self.capacityWaiters.isEmpty, self.hasRoom else {
            return
        }
        effects.resumedIngest = self.capacityWaiters
        self.capacityWaiters = []
    }
}
