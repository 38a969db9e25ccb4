import NIOCore
import NIOPosix
import Testing

@testable import PLTrack

/// The pipeline state machine with a spool: the backlog beyond capacity, and one call per
/// request on its way at a time.
struct SpooledPipelineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func beyondCapacityCallsGoToTheBacklogAndComeBackInOrder() {
        var machine = PipelineStateMachine(capacity: 2, coalescingWindow: .zero, spooled: true)
        #expect(machine.admission == .memory(sequence: 1))
        _ = machine.submit(.prompt(1), now: self.start)
        _ = machine.submit(.prompt(2), now: self.start)
        #expect(machine.admission == .backlog(sequence: 3, starts: true))
        _ = machine.submit(.prompt(3), now: self.start)
        #expect(machine.admission == .backlog(sequence: 4, starts: false), "a backlog keeps everything after it")
        _ = machine.submit(.prompt(4), now: self.start)
        #expect(machine.backlog == 2 && machine.held == 4 && machine.inMemory == 2)
        #expect(machine.backlogWanted == 0, "no room in memory")
        guard case .assigned(let first) = machine.takeWork() else {
            Issue.record("call 1 must be ready")
            return
        }
        let finished = machine.attemptFinished(first, .delivered)
        #expect(finished.resolved == [1], "the spool records the outcome")
        #expect(machine.backlogWanted == 1)
        let loaded = Envelope(message: .prompt(3), sequence: 3, acceptedAt: self.start)
        _ = machine.loaded([loaded], now: self.start)
        #expect(machine.backlog == 1 && machine.inMemory == 2)
        #expect(machine.currentLedger.balances)
    }

    @Test func aPlanForABatchFillsMemoryThenStartsTheBacklog() {
        let machine = PipelineStateMachine(capacity: 2, coalescingWindow: .zero, spooled: true)
        #expect(
            machine.admissions(forNext: 4) == [
                .memory(sequence: 1), .memory(sequence: 2), .backlog(sequence: 3, starts: true),
                .backlog(sequence: 4, starts: false),
            ])
        let unspooled = PipelineStateMachine(capacity: 2, coalescingWindow: .zero)
        #expect(
            unspooled.admissions(forNext: 4) == [.memory(sequence: 1), .memory(sequence: 2)],
            "without a spool the plan ends where the queue is full")
    }

    @Test func aCallPlannedForTheBacklogGoesThereEvenIfACoalescedOneLeftRoom() {
        var machine = PipelineStateMachine(capacity: 2, coalescingWindow: .seconds(1), spooled: true)
        let plan = machine.admissions(forNext: 3)
        #expect(plan.last == .backlog(sequence: 3, starts: true))
        // The second call replaces the first for the same request, so memory keeps room.
        for (message, admission) in zip([TrackMessage.prompt(1), .prompt(1, revision: 2), .prompt(2)], plan) {
            guard case .accepted = machine.submit(message, now: self.start, as: admission) else {
                Issue.record("a planned call is taken")
                return
            }
        }
        #expect(machine.inMemory == 1 && machine.backlog == 1)
        #expect(machine.backlogWanted == 1, "it is read back from the spool at once")
        #expect(machine.currentLedger.balances)
    }

    @Test func aLaterCallForARequestWaitsForTheEarlierOneAndItsRetries() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, spooled: true)
        _ = machine.submit(.prompt(7, revision: 1), now: self.start)
        guard case .assigned(let earlier) = machine.takeWork() else {
            Issue.record("revision 1 must be ready")
            return
        }
        _ = machine.submit(.prompt(7, revision: 2), now: self.start)
        #expect(machine.takeWork() == .wait, "revision 2 waits while revision 1 is in flight")
        let retry = machine.attemptFinished(earlier, .retry(at: self.start + .milliseconds(10)))
        #expect(machine.takeWork() == .wait, "nor while it waits to retry")
        _ = machine.submit(.prompt(7, revision: 3), now: self.start)
        #expect(machine.currentLedger.coalesced == 1, "revision 3 replaces revision 2 where it waits")
        machine.retriesDue(retry.retries.map(\.envelope))
        guard case .assigned(let again) = machine.takeWork() else {
            Issue.record("the retry goes first")
            return
        }
        #expect(again.sequence == 1)
        _ = machine.attemptFinished(again, .delivered)
        guard case .assigned(let latest) = machine.takeWork() else {
            Issue.record("revision 3 must be ready once revision 1 is delivered")
            return
        }
        #expect(latest.message.body.description.contains(#""revision":3"#))
        #expect(machine.currentLedger.balances)
    }

    @Test func aFullSpoolRefusesUntilItHasRoom() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, spooled: true)
        machine.spoolFilled()
        #expect(machine.submit(.prompt(1), now: self.start) == .spoolFull)
        #expect(machine.waitForCapacity(5) == false)
        #expect(machine.spoolFreed().resumedIngest == [5])
        #expect(machine.admission == .memory(sequence: 1))
    }

    @Test func aReplayedBacklogIsHeldAndNumberingContinues() {
        let machine = PipelineStateMachine(
            capacity: 10, coalescingWindow: .zero, spooled: true, recovered: 3, highestSequence: 40)
        #expect(machine.currentLedger.accepted == 3 && machine.held == 3 && machine.currentLedger.balances)
        #expect(machine.admission == .backlog(sequence: 41, starts: false))
        #expect(machine.backlogWanted == 3)
    }
}
