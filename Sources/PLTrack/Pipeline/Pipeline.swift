import NIOConcurrencyHelpers
import NIOCore

/// Drives ``PipelineStateMachine``: decides under a lock, then performs the effects outside it
/// (resuming workers, arming timers, completing flushes, letting paused connections read).
/// The workers waiting for a call are kept here (``WaitingWorkers``), and calls waiting out a
/// retry backoff with delivery's ``RetryScheduler``, so the machine keeps neither.
///
/// Ingest handlers, the worker pool and the stats reader all meet here; it is the only shared
/// mutable state of the pipeline.
///
/// With a ``SpoolJournal``, every accepted call is queued for the spool's writer under the
/// lock, so the spool's order is the acceptance order; outcomes are queued the same way, and
/// the backlog the memory queue has no room for is read back by the writer and arrives as an
/// event. Nothing done under the lock waits for the disk.
public final class Pipeline: Sendable {
    private struct Locked {
        var machine: PipelineStateMachine
        var waitingWorkers = WaitingWorkers()
        var flushes: [FlushID: EventLoopPromise<FlushResult>] = [:]
        var capacityWaiters: [CapacityWaiterID: EventLoopPromise<Void>] = [:]
        /// `request_id` queries waiting for their ref's log to be answered, by ref.
        var queries: [String: [UInt64: EventLoopPromise<RequestIDAnswer>]] = [:]
        var nextID: UInt64 = 1

        mutating func makeID() -> UInt64 {
            defer { self.nextID += 1 }
            return self.nextID
        }
    }

    /// What to do once the lock is released.
    private struct Work {
        var effects: PipelineEffects
        var workers: [(CheckedContinuation<Envelope?, Never>, Envelope?)] = []
        var flushes: [(EventLoopPromise<FlushResult>, FlushResult)] = []
        var ingest: [EventLoopPromise<Void>] = []
        var answers: [(EventLoopPromise<RequestIDAnswer>, RequestIDAnswer)] = []
    }

    private let locked: NIOLockedValueBox<Locked>
    private let timerLoop: any EventLoop
    /// Calls waiting out a retry backoff, outside the machine until they are due.
    private let retries: RetryScheduler
    /// Where every accepted call is kept until its outcome, when the daemon runs with a spool.
    public let journal: SpoolJournal?
    /// Calls the pipeline will not send (their ref's log failed or never came), for the
    /// workers to write to the dead letters and report with ``refusalRecorded(_:)``.
    let refusals: AsyncStream<[RefusedCall]>
    private let refusalsInput: AsyncStream<[RefusedCall]>.Continuation

    /// - Parameters:
    ///   - capacity: the most calls held in memory at once (`--queue-capacity`).
    ///   - coalescingWindow: how long a call may wait for a newer one (`--coalesce-window`).
    ///   - timerLoop: the event loop that runs the coalescing and retry timers.
    ///   - journal: the spool; what it recovered is dispatched again.
    ///   - refTTL: how long a ref is remembered after its log is answered, and how long a call
    ///     waits for a log that does not come (`--ref-ttl`).
    ///   - refLimits: the bounds on calls waiting for a log and on refs remembered.
    ///   - maximumMergedBytes: the most bytes of a call merged from others (`--max-frame-length`).
    public init(
        capacity: Int, coalescingWindow: TimeAmount, timerLoop: any EventLoop, journal: SpoolJournal? = nil,
        refTTL: TimeAmount = .hours(1), refLimits: RefLimits = RefLimits(),
        maximumMergedBytes: Int = 1 << 20
    ) {
        self.locked = NIOLockedValueBox(
            Locked(
                machine: PipelineStateMachine(
                    capacity: capacity,
                    coalescingWindow: coalescingWindow,
                    spooled: journal != nil,
                    recovered: journal?.recovery.pending ?? 0,
                    highestSequence: journal?.recovery.highestSequence ?? 0,
                    refTTL: refTTL,
                    refLimits: refLimits,
                    learned: journal?.recovery.learned ?? [],
                    maximumMergedBytes: maximumMergedBytes
                ))
        )
        (self.refusals, self.refusalsInput) = AsyncStream.makeStream()
        self.timerLoop = timerLoop
        self.retries = RetryScheduler(loop: timerLoop)
        self.journal = journal
        journal?.connect(
            SpoolJournal.Events(
                backlog: { [weak self] messages, answersRead in
                    self?.backlogArrived(messages, answersRead: answersRead)
                },
                roomFreed: { [weak self] in
                    self?.spoolRoomFreed()
                }
            ))
    }

    /// Reads the first backlog, if the spool recovered one; call once workers can take it.
    public func start() {
        let work = self.locked.withLockedValue { state in
            self.settle(.none, &state)
        }
        self.perform(work)
    }

    // MARK: Ingest side

    /// Offers the tracking calls of one read to the pipeline, in order, under one lock and one
    /// clock reading, and with a spool queued for its writer at once. Stops at the first call that must wait for
    /// room (``SubmitResult/makesTheConnectionWait(for:)``): the results end with that call's,
    /// and the calls after it are not taken.
    public func submit(_ batch: [TrackMessage]) -> [SubmitResult] {
        let (results, work) = self.locked.withLockedValue { state -> ([SubmitResult], Work?) in
            var results: [SubmitResult] = []
            results.reserveCapacity(batch.count)
            var effects = PipelineEffects()
            let now = NIODeadline.now()
            let acceptedAt = WallClock.milliseconds()
            while results.count < batch.count {
                let next = results.count
                // Where the rest go, decided first, so that the spool takes them in one write.
                let plan = state.machine.admissions(forNext: batch.count - next)
                guard !plan.isEmpty else {
                    let refusal = SubmitResult(refusedAs: state.machine.admission)
                    results.append(refusal)
                    if refusal.makesTheConnectionWait(for: batch[next]) {
                        break
                    }
                    continue
                }
                let calls = batch[next..<(next + plan.count)]
                let count = self.spool(calls, plan, acceptedAt: acceptedAt, &state)
                for (call, admission) in zip(calls.prefix(count), plan) {
                    // A planned place is always taken; the guard only keeps the loop finite.
                    guard case .accepted(let accepted) = state.machine.submit(call, now: now, as: admission),
                        let sequence = admission.sequence
                    else {
                        results.append(.shuttingDown)
                        continue
                    }
                    effects.merge(accepted)
                    results.append(.accepted(sequence: sequence))
                }
            }
            let acceptedAny = results.contains { if case .accepted = $0 { true } else { false } }
            return (results, acceptedAny ? self.settle(effects, &state) : nil)
        }
        if let work {
            self.perform(work)
        }
        return results
    }

    /// Whether an acknowledgement waits for ``whenDurable(from:through:on:)``: with a spool,
    /// until the call's record is written, and with `--fsync always` flushed to disk.
    public var acknowledgementsWaitForDisk: Bool {
        self.journal != nil
    }

    /// Succeeds once calls `from...through` are on disk as `--fsync` says; at once without a
    /// spool. Fails when the record of one of them could not be written or flushed.
    public func whenDurable(from: UInt64, through: UInt64, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        self.journal?.whenDurable(from: from, through: through, on: eventLoop) ?? eventLoop.makeSucceededVoidFuture()
    }

    /// Queues the calls for the spool's writer, if there is one, as many as fit under
    /// `--spool-max-bytes` and the writer's queue limit; returns how many (all of them without
    /// a spool).
    private func spool(
        _ calls: ArraySlice<TrackMessage>, _ plan: [PipelineStateMachine.Admission], acceptedAt: Int64,
        _ state: inout Locked
    ) -> Int {
        guard let journal = self.journal else {
            return calls.count
        }
        var backlogStart: Int?
        var records: [SpooledMessage] = []
        records.reserveCapacity(calls.count)
        for (index, (call, admission)) in zip(calls, plan).enumerated() {
            if case .backlog(_, starts: true) = admission {
                backlogStart = index
            }
            records.append(
                SpooledMessage(
                    sequence: admission.sequence ?? 0, acceptedAtMilliseconds: acceptedAt, kind: call.kind,
                    requestID: call.coalescingKey.requestID, body: call.body))
        }
        let (count, refusal) = journal.append(records, backlogStart: backlogStart)
        switch refusal {
        case .full: state.machine.spoolFilled()
        case .busy: state.machine.spoolBusy()
        case nil: break
        }
        return count
    }

    /// A future that succeeds, on `eventLoop`, once the queue has room again.
    public func whenCapacityAvailable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let hasRoom = self.locked.withLockedValue { state in
            let id = state.makeID()
            let hasRoom = state.machine.waitForCapacity(id)
            if !hasRoom {
                state.capacityWaiters[id] = promise
            }
            return hasRoom
        }
        if hasRoom {
            promise.succeed()
        }
        return promise.futureResult
    }

    /// Completes once every call accepted before now has been delivered or dead-lettered, or
    /// with ``FlushResult/timedOut`` after `timeout`.
    public func flush(timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<FlushResult> {
        let promise = eventLoop.makePromise(of: FlushResult.self)
        let (id, work) = self.locked.withLockedValue { state in
            let id = state.makeID()
            state.flushes[id] = promise
            return (id, self.settle(state.machine.flush(id), &state))
        }
        self.perform(work)
        let expiry = eventLoop.scheduleTask(in: timeout) {
            let pending = self.locked.withLockedValue { state in
                state.machine.flushTimedOut(id) ? state.flushes.removeValue(forKey: id) : nil
            }
            pending?.succeed(.timedOut)
        }
        promise.futureResult.whenComplete { _ in expiry.cancel() }
        return promise.futureResult
    }

    /// Completes with the id PromptLayer answered the log with `ref` with, at once when it is
    /// known, or once the log is answered; with ``RequestIDAnswer/timedOut`` after `timeout`.
    public func requestID(forRef ref: String, timeout: TimeAmount, on eventLoop: any EventLoop)
        -> EventLoopFuture<RequestIDAnswer>
    {
        let promise = eventLoop.makePromise(of: RequestIDAnswer.self)
        let (known, waiting) = self.locked.withLockedValue { state -> (RequestIDAnswer?, UInt64) in
            if let answer = state.machine.refs.answer(for: ref) {
                return (answer, 0)
            }
            let id = state.makeID()
            state.queries[ref, default: [:]][id] = promise
            return (nil, id)
        }
        if let known {
            promise.succeed(known)
            return promise.futureResult
        }
        let expiry = eventLoop.scheduleTask(in: timeout) {
            let pending = self.locked.withLockedValue { state -> EventLoopPromise<RequestIDAnswer>? in
                defer {
                    if state.queries[ref]?.isEmpty == true {
                        state.queries[ref] = nil
                    }
                }
                return state.queries[ref]?.removeValue(forKey: waiting)
            }
            pending?.succeed(.timedOut)
        }
        promise.futureResult.whenComplete { _ in expiry.cancel() }
        return promise.futureResult
    }

    // MARK: Worker side

    /// The next call to send, or `nil` once the pipeline has stopped; in the worker's isolation,
    /// so a worker on an event loop stays there when work is ready.
    func nextEnvelope(for worker: WorkerID, isolation: isolated (any Actor)? = #isolation) async -> Envelope? {
        await withTaskCancellationHandler {
            await withCheckedContinuation(isolation: isolation) { continuation in
                let outcome = self.locked.withLockedValue { state in
                    // Checked under the lock that the cancellation handler takes too, so a
                    // worker cancelled before it got here does not wait at all.
                    guard !Task.isCancelled else {
                        return PipelineStateMachine.WorkRequestOutcome.stop
                    }
                    let outcome = state.machine.takeWork()
                    if case .wait = outcome {
                        state.waitingWorkers.append(worker, continuation)
                    }
                    return outcome
                }
                switch outcome {
                case .assigned(let envelope): continuation.resume(returning: envelope)
                case .stop: continuation.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            // A cancelled worker stops waiting, and no call is handed to it any more.
            let waiting = self.locked.withLockedValue { state in
                state.waitingWorkers.remove(worker)
            }
            waiting?.resume(returning: nil)
        }
    }

    /// Notes beside the spool that `worker` sends `envelope` now, once the worker's last outcome
    /// is written (see ``SpoolJournal/inFlight(worker:_:isolation:)``); a restart counts the
    /// calls still noted and pending as possibly sent twice.
    func inFlight(worker: WorkerID, _ envelope: Envelope, isolation: isolated (any Actor)? = #isolation) async {
        await self.journal?.inFlight(worker: worker, envelope.sequence, isolation: isolation)
    }

    /// Records the result of one upstream attempt.
    func attemptFinished(_ envelope: Envelope, _ result: PipelineStateMachine.AttemptResult) {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.attemptFinished(envelope, result, now: .now()), &state)
        }
        self.perform(work)
    }

    /// A refused call (from ``refusals``) is in the dead letters.
    func refusalRecorded(_ envelope: Envelope) {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.refusalRecorded(envelope), &state)
        }
        self.perform(work)
    }

    // MARK: Lifecycle

    /// Applies a reloaded queue capacity and coalescing window.
    public func reconfigure(capacity: Int, coalescingWindow: TimeAmount) {
        let work = self.locked.withLockedValue { state in
            self.settle(
                state.machine.reconfigure(capacity: capacity, coalescingWindow: coalescingWindow, now: .now()), &state)
        }
        self.perform(work)
    }

    /// Refuses new calls from now on and releases everything coalescing to the workers.
    public func beginDraining() {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.beginDraining(), &state)
        }
        self.perform(work)
    }

    /// Ends the workers; whatever is still held stays undelivered (and is reported by the caller).
    public func stop() {
        let workers = self.locked.withLockedValue { state in
            state.machine.stop()
            return state.waitingWorkers.removeAll()
        }
        self.refusalsInput.finish()
        for worker in workers {
            worker.resume(returning: nil)
        }
    }

    /// The earliest coalescing or retry deadline already passed, for the watchdog.
    func oldestOverdueDeadline(now: NIODeadline) -> NIODeadline? {
        let coalescing = self.locked.withLockedValue { $0.machine.oldestOverdueDeadline(now: now) }
        return [coalescing, self.retries.oldestOverdue(now: now)].compactMap { $0 }.min()
    }

    /// The ledger and queue occupancy, read together so they agree.
    public var snapshot: (ledger: Ledger, occupancy: PipelineOccupancy) {
        self.locked.withLockedValue { ($0.machine.currentLedger, $0.machine.occupancy) }
    }

    // MARK: Performing effects

    /// Queues outcomes for the spool and asks its writer for backlog calls the memory queue has
    /// room for, then gathers what to do once the lock is released.
    private func settle(_ effects: PipelineEffects, _ state: inout Locked) -> Work {
        if let journal = self.journal {
            journal.resolve(effects.resolved, learned: effects.learned)
            let wanted = state.machine.backlogWanted
            if wanted > 0 {
                state.machine.readingBacklog()
                journal.readBacklog(limit: wanted)
            }
        }
        return Self.collect(effects, &state)
    }

    /// Backlog calls the spool's writer read back (`answersRead`), or whose record it could not
    /// write, so that they are held in memory instead.
    private func backlogArrived(_ messages: [SpooledMessage], answersRead: Bool) {
        let work = self.locked.withLockedValue { state in
            let effects = state.machine.loaded(
                messages.map(Envelope.init(spooled:)), now: .now(), answersRead: answersRead)
            return self.settle(effects, &state)
        }
        self.perform(work)
    }

    /// The spool has room again after refusing calls.
    private func spoolRoomFreed() {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.spoolFreed(), &state)
        }
        self.perform(work)
    }

    private static func collect(_ effects: PipelineEffects, _ state: inout Locked) -> Work {
        var work = Work(effects: effects)
        while !state.waitingWorkers.isEmpty, state.machine.hasReadyWork,
            case .assigned(let envelope) = state.machine.takeWork(), let worker = state.waitingWorkers.popFirst()
        {
            work.workers.append((worker, envelope))
        }
        for id in effects.completedFlushes {
            if let promise = state.flushes.removeValue(forKey: id) {
                work.flushes.append((promise, .flushed))
            }
        }
        for ref in effects.answeredRefs {
            if let answer = state.machine.refs.answer(for: ref), let waiting = state.queries.removeValue(forKey: ref) {
                work.answers += waiting.values.map { ($0, answer) }
            }
        }
        for id in effects.resumedIngest {
            if let promise = state.capacityWaiters.removeValue(forKey: id) {
                work.ingest.append(promise)
            }
        }
        return work
    }

    private func perform(_ work: Work) {
        for (worker, envelope) in work.workers {
            worker.resume(returning: envelope)
        }
        for (promise, result) in work.flushes {
            promise.succeed(result)
        }
        for promise in work.ingest {
            promise.succeed()
        }
        for (promise, answer) in work.answers {
            promise.succeed(answer)
        }
        if !work.effects.refused.isEmpty {
            self.refusalsInput.yield(work.effects.refused)
        }
        if let deadline = work.effects.timer {
            self.timerLoop.scheduleTask(deadline: deadline) {
                self.timerFired()
            }
        }
        self.retries.schedule(work.effects.retries) { [weak self] due in
            self?.retriesDue(due)
        }
    }

    /// Calls whose backoff ended, back from the retry schedule.
    private func retriesDue(_ envelopes: [Envelope]) {
        let work = self.locked.withLockedValue { state in
            state.machine.retriesDue(envelopes)
            return self.settle(.none, &state)
        }
        self.perform(work)
    }

    private func timerFired() {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.timerFired(now: .now()), &state)
        }
        self.perform(work)
    }
}
