import NIOConcurrencyHelpers
import NIOCore

/// Drives ``PipelineStateMachine``: decides under a lock, then performs the effects outside it
/// (resuming workers, arming timers, completing flushes, letting paused connections read).
///
/// Ingest handlers, the worker pool and the stats reader all meet here; it is the only shared
/// mutable state of the pipeline.
///
/// With a ``SpoolJournal``, every accepted call is appended to the spool under the lock, so the
/// spool's order is the acceptance order; outcomes are recorded there, and the backlog the
/// memory queue has no room for is read back from it.
public final class Pipeline: Sendable {
    /// How a submitted call was received.
    public enum SubmitResult: Sendable, Equatable {
        /// Taken, as call number `sequence`; see ``whenDurable(_:on:)``.
        case accepted(sequence: UInt64)
        /// The memory queue is full (no spool): stop reading until there is room.
        case full
        /// The spool holds `--spool-max-bytes`.
        case spoolFull
        /// The spool could not be written; the call was not taken.
        case spoolFailed(String)
        case shuttingDown

        /// The refusal for a call the state machine has no place for.
        init(refusedAs admission: PipelineStateMachine.Admission) {
            switch admission {
            case .full: self = .full
            case .spoolFull: self = .spoolFull
            case .shuttingDown, .memory, .backlog: self = .shuttingDown
            }
        }

        /// Whether the connection that sent `message` must stop reading until there is room:
        /// the queue is full, or the spool is and the client asked for no reply (one that did
        /// is answered `overloaded` instead).
        public func makesTheConnectionWait(for message: TrackMessage) -> Bool {
            switch self {
            case .full: true
            case .spoolFull: message.replyID == nil
            case .accepted, .spoolFailed, .shuttingDown: false
            }
        }
    }

    /// How a flush ended.
    public enum FlushResult: Sendable, Equatable {
        case flushed
        case timedOut
    }

    private struct Locked {
        var machine: PipelineStateMachine
        var idleWorkers: [WorkerID: CheckedContinuation<Envelope?, Never>] = [:]
        var flushes: [FlushID: EventLoopPromise<FlushResult>] = [:]
        var capacityWaiters: [CapacityWaiterID: EventLoopPromise<Void>] = [:]
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
    }

    private let locked: NIOLockedValueBox<Locked>
    private let timerLoop: any EventLoop
    /// Where every accepted call is kept until its outcome, when the daemon runs with a spool.
    public let journal: SpoolJournal?

    /// - Parameters:
    ///   - capacity: the most calls held in memory at once (`--queue-capacity`).
    ///   - coalescingWindow: how long a call may wait for a newer one (`--coalesce-window`).
    ///   - timerLoop: the event loop that runs the coalescing and retry timers.
    ///   - journal: the spool; what it recovered is dispatched again.
    public init(capacity: Int, coalescingWindow: TimeAmount, timerLoop: any EventLoop, journal: SpoolJournal? = nil) {
        self.locked = NIOLockedValueBox(
            Locked(
                machine: PipelineStateMachine(
                    capacity: capacity,
                    coalescingWindow: coalescingWindow,
                    spooled: journal != nil,
                    recovered: journal?.recovery.pending ?? 0,
                    highestSequence: journal?.recovery.highestSequence ?? 0
                ))
        )
        self.timerLoop = timerLoop
        self.journal = journal
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
    /// clock reading, and with a spool in one write. Stops at the first call that must wait for
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
                switch self.spool(calls, plan, acceptedAt: acceptedAt, &state) {
                case .written(let count):
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
                case .failed(let reason):
                    results += repeatElement(.spoolFailed(reason), count: plan.count)
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

    /// Whether an acknowledgement waits for ``whenDurable(_:on:)`` (`--fsync always`).
    public var acknowledgementsWaitForDisk: Bool {
        self.journal?.policy == .always
    }

    /// Succeeds once call `sequence` is on disk as `--fsync` says; at once without a spool.
    public func whenDurable(_ sequence: UInt64, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        self.journal?.whenDurable(sequence, on: eventLoop) ?? eventLoop.makeSucceededVoidFuture()
    }

    /// What the spool did with calls the state machine has a place for.
    private enum SpoolOutcome {
        /// The first `count` are on disk (all of them without a spool); the spool is full after them.
        case written(Int)
        /// The write failed; none was taken.
        case failed(String)
    }

    /// Appends the calls to the spool, if there is one, with one write.
    private func spool(
        _ calls: ArraySlice<TrackMessage>, _ plan: [PipelineStateMachine.Admission], acceptedAt: Int64,
        _ state: inout Locked
    ) -> SpoolOutcome {
        guard let journal = self.journal else {
            return .written(calls.count)
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
        do throws(SpoolJournal.AppendError) {
            let count = try journal.append(records, backlogStart: backlogStart)
            if count < records.count {
                state.machine.spoolFilled()
            }
            return .written(count)
        } catch {
            switch error {
            case .full:
                state.machine.spoolFilled()
                return .written(0)
            case .failed(let reason):
                return .failed(reason)
            }
        }
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

    // MARK: Worker side

    /// The next call to send, or `nil` once the pipeline has stopped.
    func nextEnvelope(for worker: WorkerID) async -> Envelope? {
        await withCheckedContinuation { continuation in
            let outcome = self.locked.withLockedValue { state in
                let outcome = state.machine.workerRequestsWork(worker)
                if case .wait = outcome {
                    state.idleWorkers[worker] = continuation
                }
                return outcome
            }
            switch outcome {
            case .assigned(let envelope): continuation.resume(returning: envelope)
            case .stop: continuation.resume(returning: nil)
            case .wait: break
            }
        }
    }

    /// Notes beside the spool that `worker` sends `envelope` now (`nil`: its attempt ended and
    /// the outcome is recorded); a restart counts the calls still noted as possibly sent twice.
    func inFlight(worker: WorkerID, _ envelope: Envelope?) {
        self.journal?.inFlight(worker: worker, envelope?.sequence)
    }

    /// Records the result of one upstream attempt.
    func attemptFinished(_ envelope: Envelope, _ result: PipelineStateMachine.AttemptResult) {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.attemptFinished(envelope, result), &state)
        }
        self.perform(work)
    }

    // MARK: Lifecycle

    /// Applies a reloaded queue capacity and coalescing window.
    public func reconfigure(capacity: Int, coalescingWindow: TimeAmount) {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.reconfigure(capacity: capacity, coalescingWindow: coalescingWindow), &state)
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
            state.machine.stop().compactMap { state.idleWorkers.removeValue(forKey: $0) }
        }
        for worker in workers {
            worker.resume(returning: nil)
        }
    }

    /// The earliest pipeline deadline already passed, for the watchdog.
    func oldestOverdueDeadline(now: NIODeadline) -> NIODeadline? {
        self.locked.withLockedValue { $0.machine.oldestOverdueDeadline(now: now) }
    }

    /// The ledger and queue occupancy, read together so they agree.
    public var snapshot: (ledger: Ledger, occupancy: PipelineOccupancy) {
        self.locked.withLockedValue { ($0.machine.currentLedger, $0.machine.occupancy) }
    }

    // MARK: Performing effects

    /// Records outcomes in the spool and reads the backlog while the memory queue has room,
    /// then gathers what to do once the lock is released.
    private func settle(_ first: PipelineEffects, _ state: inout Locked) -> Work {
        var effects = first
        if let journal = self.journal {
            var recorded = 0
            while true {
                if recorded < effects.resolved.count {
                    let hasRoom = journal.resolve(Array(effects.resolved[recorded...]))
                    recorded = effects.resolved.count
                    if hasRoom && state.machine.isSpoolFull {
                        effects.merge(state.machine.spoolFreed())
                    }
                }
                let wanted = state.machine.backlogWanted
                guard wanted > 0 else {
                    break
                }
                let messages = journal.readBacklog(limit: wanted)
                guard !messages.isEmpty else {
                    break
                }
                effects.merge(state.machine.loaded(messages.map(Self.envelope), now: .now()))
            }
        }
        return Self.collect(effects, &state)
    }

    /// A call read back from the spool, aged by how long ago it was accepted.
    private static func envelope(_ spooled: SpooledMessage) -> Envelope {
        let age = max(0, WallClock.milliseconds() - spooled.acceptedAtMilliseconds)
        return Envelope(
            message: TrackMessage(
                kind: spooled.kind,
                replyID: nil,
                coalescingKey: CoalescingKey(kind: spooled.kind, requestID: spooled.requestID),
                body: spooled.body
            ),
            sequence: spooled.sequence,
            acceptedAt: .now() - .milliseconds(age)
        )
    }

    private static func collect(_ effects: PipelineEffects, _ state: inout Locked) -> Work {
        var work = Work(effects: effects)
        for assignment in effects.assignments {
            if let worker = state.idleWorkers.removeValue(forKey: assignment.worker) {
                work.workers.append((worker, assignment.envelope))
            }
        }
        for id in effects.completedFlushes {
            if let promise = state.flushes.removeValue(forKey: id) {
                work.flushes.append((promise, .flushed))
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
        if let deadline = work.effects.timer {
            self.timerLoop.scheduleTask(deadline: deadline) {
                self.timerFired()
            }
        }
    }

    private func timerFired() {
        let work = self.locked.withLockedValue { state in
            self.settle(state.machine.timerFired(now: .now()), &state)
        }
        self.perform(work)
    }
}
