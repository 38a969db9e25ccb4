import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// Delivery's retry schedule: calls wait out their backoff outside the pipeline's machine and
/// come back soonest first.
struct RetrySchedulerTests {
    static func envelope(_ sequence: UInt64) -> Envelope {
        Envelope(message: .prompt(Int64(sequence)), sequence: sequence, acceptedAt: .now())
    }

    @Test func callsComeBackSoonestFirstOnceDue() {
        var schedule = RetrySchedule()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        schedule.insert(ScheduledRetry(due: start + .seconds(3), envelope: Self.envelope(1)))
        schedule.insert(ScheduledRetry(due: start + .seconds(1), envelope: Self.envelope(2)))
        schedule.insert(ScheduledRetry(due: start + .seconds(2), envelope: Self.envelope(4)))
        schedule.insert(ScheduledRetry(due: start + .seconds(2), envelope: Self.envelope(3)))
        #expect(schedule.nextDue == start + .seconds(1))
        #expect(schedule.removeDue(by: start).isEmpty, "a call waiting out its backoff is not due")
        #expect(
            schedule.removeDue(by: start + .seconds(2)).map(\.sequence) == [2, 3, 4],
            "soonest first; equal backoffs in call order")
        #expect(schedule.count == 1)
        #expect(schedule.removeDue(by: start + .seconds(9)).map(\.sequence) == [1])
        #expect(schedule.nextDue == nil)
    }

    @Test func theSchedulerHandsEveryCallBackOnItsLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let scheduler = RetryScheduler(loop: group.next())
        let returned = NIOLockedValueBox<[UInt64]>([])
        let now = NIODeadline.now()
        scheduler.schedule(
            [
                ScheduledRetry(due: now + .milliseconds(30), envelope: Self.envelope(1)),
                ScheduledRetry(due: now + .milliseconds(10), envelope: Self.envelope(2)),
            ]
        ) { due in returned.withLockedValue { $0 += due.map(\.sequence) } }
        scheduler.schedule([ScheduledRetry(due: now, envelope: Self.envelope(3))]) { due in
            returned.withLockedValue { $0 += due.map(\.sequence) }
        }
        try await waitUntil("the three calls back from the schedule") {
            returned.withLockedValue { $0.count } == 3
        }
        #expect(returned.withLockedValue { $0 } == [3, 2, 1], "soonest first")
        #expect(scheduler.count == 0)
        try await group.shutdownGracefully()
    }
}
