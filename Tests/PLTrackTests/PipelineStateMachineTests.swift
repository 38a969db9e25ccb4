import NIOCore
import Testing

@testable import PLTrack

/// The pipeline driven by hand: time is an argument, so windows and backoffs pass instantly.
struct PipelineStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func accepted(_ outcome: PipelineStateMachine.SubmitOutcome) -> PipelineEffects? {
        if case .accepted(let effects) = outcome { effects } else { nil }
    }

    @Test func aCallWaitsTheWindowThenGoesToAWorker() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50))
        #expect(machine.takeWork() == .wait)
        let effects = self.accepted(machine.submit(.prompt(1), now: self.start))
        #expect(effects?.timer == self.start + .milliseconds(50))
        #expect(!machine.hasReadyWork)
        _ = machine.timerFired(now: self.start + .milliseconds(50))
        #expect(machine.hasReadyWork)
        guard case .assigned(let envelope) = machine.takeWork() else {
            Issue.record("the call must be ready once its window ended")
            return
        }
        #expect(envelope.sequence == 1)
        #expect(machine.currentLedger.held == 1)
        _ = machine.attemptFinished(envelope, .delivered)
        #expect(
            machine.currentLedger
                == {
                    var l = Ledger(); l.accepted = 1; l.delivered = 1; return l
                }())
    }

    @Test func withoutAWindowCallsGoStraightToTheWorkers() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        #expect(machine.takeWork() == .wait)
        let effects = self.accepted(machine.submit(.prompt(1), now: self.start))
        #expect(machine.hasReadyWork)
        #expect(effects?.timer == nil)
    }

    @Test func aSupersededCallIsCountedAsCoalesced() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50))
        _ = machine.submit(.prompt(1, revision: 1), now: self.start)
        _ = machine.submit(.prompt(1, revision: 2), now: self.start + .milliseconds(1))
        let ledger = machine.currentLedger
        #expect(ledger.accepted == 2 && ledger.coalesced == 1 && ledger.held == 1 && ledger.balances)
        _ = machine.timerFired(now: self.start + .milliseconds(50))
        guard case .assigned(let envelope) = machine.takeWork() else {
            Issue.record("the newest call must be ready")
            return
        }
        #expect(envelope.message.body.description.contains(#""revision":2"#))
    }

    @Test func refusesCallsBeyondCapacityAndResumesIngestWhenThereIsRoom() {
        var machine = PipelineStateMachine(capacity: 2, coalescingWindow: .zero)
        _ = machine.submit(.prompt(1), now: self.start)
        _ = machine.submit(.prompt(2), now: self.start)
        #expect(machine.submit(.prompt(3), now: self.start) == .full)
        #expect(machine.waitForCapacity(77) == false)
        guard case .assigned(let envelope) = machine.takeWork() else {
            Issue.record("work expected")
            return
        }
        let effects = machine.attemptFinished(envelope, .delivered)
        #expect(effects.resumedIngest == [77])
        #expect(self.accepted(machine.submit(.prompt(3), now: self.start)) != nil)
        #expect(machine.currentLedger.accepted == 3 && machine.currentLedger.balances)
    }

    @Test func aRetryWaitsForItsBackoffAndKeepsItsPlaceInTheLedger() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        _ = machine.submit(.prompt(1), now: self.start)
        guard case .assigned(let envelope) = machine.takeWork() else {
            Issue.record("work expected")
            return
        }
        // The machine arms no timer for it: delivery's retry schedule holds the call.
        let effects = machine.attemptFinished(envelope, .retry(at: self.start + .seconds(2)))
        #expect(effects.timer == nil)
        #expect(effects.retries.map(\.envelope.sequence) == [1])
        #expect(effects.retries.map(\.due) == [self.start + .seconds(2)])
        #expect(machine.occupancy.retrying == 1 && machine.currentLedger.held == 1)
        #expect(machine.takeWork() == .wait)
        #expect(machine.flush(1).completedFlushes.isEmpty, "a call waiting to retry is still held")
        machine.retriesDue(effects.retries.map(\.envelope))
        #expect(machine.occupancy.retrying == 0)
        guard case .assigned(let again) = machine.takeWork() else {
            Issue.record("the call must be ready once its backoff ended")
            return
        }
        #expect(again.sequence == 1)
        #expect(machine.attemptFinished(again, .delivered).completedFlushes == [1])
    }

    @Test func flushCompletesWhenEverythingBeforeItHasAnOutcome() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50))
        _ = machine.submit(.prompt(1), now: self.start)
        _ = machine.submit(.prompt(2), now: self.start)
        let flush = machine.flush(5)
        #expect(flush.completedFlushes.isEmpty)
        #expect(machine.occupancy.coalescing == 0 && machine.occupancy.ready == 2)
        _ = machine.submit(.prompt(3), now: self.start)
        guard case .assigned(let first) = machine.takeWork(),
            case .assigned(let second) = machine.takeWork()
        else {
            Issue.record("two calls expected")
            return
        }
        #expect(machine.attemptFinished(first, .delivered).completedFlushes.isEmpty)
        #expect(machine.attemptFinished(second, .deadLettered).completedFlushes == [5])
        #expect(machine.flushTimedOut(5) == false)
    }

    @Test func flushWithNothingHeldCompletesAtOnce() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50))
        #expect(machine.flush(1).completedFlushes == [1])
    }

    @Test func drainingRefusesNewCallsAndStopEndsTheWorkers() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50))
        _ = machine.submit(.prompt(1), now: self.start)
        #expect(machine.takeWork() == .wait)
        _ = machine.beginDraining()
        #expect(machine.hasReadyWork, "what was coalescing is released to the workers")
        #expect(machine.submit(.prompt(2), now: self.start) == .shuttingDown)
        #expect(machine.takeWork() != .wait)
        #expect(machine.takeWork() == .wait)
        machine.stop()
        #expect(machine.takeWork() == .stop)
    }
}
