import NIOConcurrencyHelpers
import NIOCore

/// Drives ``PipelineStateMachine``: decides under a lock, then performs the effects outside it
/// (resuming workers, arming timers, completing flushes, letting paused connections read).
///
/// Ingest handlers, the worker pool and the stats reader all meet here; it is the only shared
/// mutable state of the pipeline.
public final class Pipeline: Sendable {
    /// How a submitted call was received.
    public enum SubmitResult: Sendable, Equatable {
        case accepted
        case full
        case shuttingDown
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

    /// - Parameters:
    ///   - capacity: the most calls held at once (`--queue-capacity`).
    ///   - coalescingWindow: how long a call may wait for a newer one (`--coalesce-window`).
    ///   - timerLoop: the event loop that runs the coalescing and retry timers.
    public init(capacity: Int, coalescingWindow: TimeAmount, timerLoop: any EventLoop) {
        self.locked = NIOLockedValueBox(
            Locked(machine: PipelineStateMachine(capacity: capacity, coalescingWindow: coalescingWindow))
        )
        self.timerLoop = timerLoop
    }

    // MARK: Ingest side

    /// Offers a validated call to the pipeline.
    public func submit(_ message: TrackMessage) -> SubmitResult {
        let (result, work) = self.locked.withLockedValue { state -> (SubmitResult, Work?) in
            switch state.machine.submit(message, now: .now()) {
            case .accepted(let effects): (.accepted, Self.collect(effects, &state))
            case .full: (.full, nil)
            case .shuttingDown: (.shuttingDown, nil)
            }
        }
        if let work {
            self.perform(work)
        }
        return result
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
            return (id, Self.collect(state.machine.flush(id), &state))
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

    /// Records the result of one upstream attempt.
    func attemptFinished(_ envelope: Envelope, _ result: PipelineStateMachine.AttemptResult) {
        let work = self.locked.withLockedValue { state in
            Self.collect(state.machine.attemptFinished(envelope, result), &state)
        }
        self.perform(work)
    }

    // MARK: Lifecycle

    /// Applies a reloaded queue capacity and coalescing window.
    public func reconfigure(capacity: Int, coalescingWindow: TimeAmount) {
        let work = self.locked.withLockedValue { state in
            Self.collect(state.machine.reconfigure(capacity: capacity, coalescingWindow: coalescingWindow), &state)
        }
        self.perform(work)
    }

    /// Refuses new calls from now on and releases everything coalescing to the workers.
    public func beginDraining() {
        let work = self.locked.withLockedValue { state in
            Self.collect(state.machine.beginDraining(), &state)
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
            Self.collect(state.machine.timerFired(now: .now()), &state)
        }
        self.perform(work)
    }
}
