import NIOCore
import NIOPosix
import Dispatch
import Testing

@testable import PLTrack

/// When the watchdog keep-alive is withheld, so that systemd restarts a wedged daemon.
struct WatchdogHealthTests {
    let health = WatchdogHealth(overdueLimit: .seconds(5), attemptLimit: .seconds(60))
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// With `WATCHDOG_USEC` of 400 ms, keep-alives go every 200 ms (`SystemdTests` checks
    /// that they reach the service manager).
    @Test func keepAlivesAreSentAtHalfTheWatchdogTimeout() {
        #expect(SystemdNotifier.keepAliveInterval(watchdogMicroseconds: 400_000) == .milliseconds(200))
        #expect(SystemdNotifier.keepAliveInterval(watchdogMicroseconds: 30_000_000) == .seconds(15))
    }

    @Test func aDaemonMakingProgressIsHealthy() {
        let observation = WatchdogHealth.Observation(
            silentEventLoops: 0,
            oldestOverdueDeadline: self.now - .seconds(1),
            oldestAttemptStart: self.now - .seconds(59)
        )
        #expect(self.health.assess(observation, now: self.now) == .healthy)
    }

    @Test func aSilentEventLoopStallsTheDaemon() {
        let observation = WatchdogHealth.Observation(
            silentEventLoops: 1, oldestOverdueDeadline: nil, oldestAttemptStart: nil)
        guard case .stalled(let reason) = self.health.assess(observation, now: self.now) else {
            Issue.record("a silent event loop must withhold the keep-alive")
            return
        }
        #expect(reason.contains("event loop"))
    }

    @Test func longOverdueTimersMeanAWedgedDispatcher() {
        let observation = WatchdogHealth.Observation(
            silentEventLoops: 0,
            oldestOverdueDeadline: self.now - .seconds(6),
            oldestAttemptStart: nil
        )
        #expect(self.health.assess(observation, now: self.now) != .healthy)
    }

    @Test func anAttemptOutlivingItsTimeoutMeansAWedgedWorker() {
        let observation = WatchdogHealth.Observation(
            silentEventLoops: 0,
            oldestOverdueDeadline: nil,
            oldestAttemptStart: self.now - .seconds(61)
        )
        #expect(self.health.assess(observation, now: self.now) != .healthy)
    }

    @Test func theHeartbeatCountsLoopsThatDidNotRunTheirTask() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let heartbeat = EventLoopHeartbeat(group: group)
        #expect(heartbeat.beat() == 0, "nothing was pending before the first beat")
        // Tasks run in order: once these ran, so did the beat's.
        for loop in loops {
            try await loop.submit {}.get()
        }
        // Wedge one loop, then beat: the previous beat's tasks all ran.
        let wedge = DispatchSemaphore(value: 0)
        loops[0].execute { wedge.wait() }
        #expect(heartbeat.beat() == 0)
        // The wedged loop cannot run this beat's task.
        #expect(heartbeat.beat() >= 1)
        wedge.signal()
        try await group.shutdownGracefully()
    }
}
