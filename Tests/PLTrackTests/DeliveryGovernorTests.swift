import NIOCore
import Testing

@testable import PLTrack

/// The delivery governor driven by hand: time is an argument, every answer an event.
struct DeliveryGovernorTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func governor(initial: Int = 2, maximum: Int = 64, pauseCap: Duration = .seconds(30)) -> DeliveryGovernor {
        DeliveryGovernor(initialLimit: initial, maximumInFlight: maximum, pauseCap: pauseCap, now: self.start)
    }

    /// Starts an attempt for each of `workers` at `now`; every one must be allowed.
    func begin(_ governor: inout DeliveryGovernor, _ workers: Range<Int>, at now: NIODeadline) -> [DeliveryGovernor
        .Ticket]
    {
        workers.compactMap { worker in
            guard case .send(let ticket?) = governor.begin(worker: worker, now: now) else {
                Issue.record("worker \(worker) may not send at \(now)")
                return nil
            }
            return ticket
        }
    }

    /// One round trip of `latency` at the limit: every allowed worker sends, all are answered.
    func roundTrip(_ governor: inout DeliveryGovernor, at now: NIODeadline, latency: TimeAmount) -> NIODeadline {
        let tickets = self.begin(&governor, 0..<governor.limit.current, at: now)
        for ticket in tickets {
            _ = governor.finished(ticket, .answered, now: now + latency)
        }
        return now + latency
    }

    @Test func theLimitDoublesPerRoundTripWhileLatencyHoldsAndShrinksWhenItRises() {
        var governor = self.governor(initial: 2, maximum: 64)
        var now = self.start
        var limits: [Int] = []
        for _ in 0..<6 {
            now = self.roundTrip(&governor, at: now, latency: .milliseconds(50))
            limits.append(governor.limit.current)
        }
        #expect(limits == [4, 8, 16, 32, 64, 64], "slow start up to the ceiling")
        // The server starts queueing: latency doubles, and the limit shrinks by a tenth when
        // that round's window is judged (at the next round's first answer).
        now = self.roundTrip(&governor, at: now, latency: .milliseconds(100))
        #expect(governor.limit.current == 64)
        now = self.roundTrip(&governor, at: now, latency: .milliseconds(60))
        #expect(governor.limit.current == 57)
        #expect(!governor.limit.slowStart)
        // Latency steady at the new level: the limit grows again, by one per window (a window
        // is about one round trip long), no longer doubling.
        var grown: [Int] = []
        for _ in 0..<6 {
            now = self.roundTrip(&governor, at: now, latency: .milliseconds(60))
            grown.append(governor.limit.current)
        }
        #expect(grown.last.map { (58...63).contains($0) } == true, "\(grown)")
        #expect(zip(grown, grown.dropFirst()).allSatisfy { $1 - $0 <= 1 }, "\(grown)")
    }

    @Test func theLimitDoesNotGrowWhileItIsNotReached() {
        var governor = self.governor(initial: 8, maximum: 64)
        var now = self.start
        for _ in 0..<5 {
            let ticket = self.begin(&governor, 0..<1, at: now)
            _ = governor.finished(ticket[0], .answered, now: now + .milliseconds(50))
            now = now + .milliseconds(50)
        }
        #expect(governor.limit.current == 8)
    }

    @Test func aWorkerAboveTheLimitParksAndIsWokenWhenTheLimitGrows() {
        var governor = self.governor(initial: 2, maximum: 8)
        #expect(governor.check(worker: 3, now: self.start) == .park)
        let tickets = self.begin(&governor, 0..<2, at: self.start)
        _ = governor.finished(tickets[0], .answered, now: self.start + .milliseconds(20))
        let actions = governor.finished(tickets[1], .answered, now: self.start + .milliseconds(20))
        #expect(governor.limit.current == 4)
        #expect(actions == [.wake([3])])
        #expect(governor.check(worker: 3, now: self.start + .milliseconds(20)) == .send(nil))
    }

    @Test func aStormOf429sCutsTheLimitOnceAndPausesEveryWorkerForTheRetryAfter() {
        var governor = self.governor(initial: 32, maximum: 64)
        let tickets = self.begin(&governor, 0..<32, at: self.start)
        let refusedAt = self.start + .milliseconds(5)
        var actions: [DeliveryGovernor.Action] = []
        for ticket in tickets {
            actions += governor.finished(ticket, .refused(status: 429, retryAfter: .seconds(2)), now: refusedAt)
        }
        #expect(governor.limit.current == 16, "one burst of refusals answering one flight counts once")
        #expect(governor.refusals == 32)
        #expect(actions == [.paused(until: refusedAt + .seconds(2), status: 429)])
        #expect(governor.check(worker: 0, now: refusedAt + .seconds(1)) == .wait(until: refusedAt + .seconds(2)))
        #expect(governor.begin(worker: 0, now: refusedAt + .seconds(1)) == .wait(until: refusedAt + .seconds(2)))
        // After the pause: below the rate that was refused.
        #expect(governor.check(worker: 15, now: refusedAt + .seconds(2)) == .send(nil))
        #expect(governor.check(worker: 16, now: refusedAt + .seconds(2)) == .park)
        #expect(governor.pause == nil)
    }

    @Test func aHugeRetryAfterPausesNoLongerThanTheCap() {
        var governor = self.governor(pauseCap: .seconds(30))
        let ticket = self.begin(&governor, 0..<1, at: self.start)[0]
        let actions = governor.finished(
            ticket, .refused(status: 503, retryAfter: .seconds(99_999_999_999)), now: self.start)
        #expect(actions == [.paused(until: self.start + .seconds(30), status: 503)])
        #expect(governor.check(worker: 0, now: self.start + .seconds(30)) == .send(nil))
    }

    @Test func aRefusalWithoutRetryAfterCutsTheLimitButDoesNotPause() {
        var governor = self.governor(initial: 8)
        let ticket = self.begin(&governor, 0..<1, at: self.start)[0]
        #expect(governor.finished(ticket, .refused(status: 503, retryAfter: nil), now: self.start).isEmpty)
        #expect(governor.limit.current == 4)
        #expect(governor.check(worker: 0, now: self.start) == .send(nil))
    }

    @Test func aTimeoutCutsTheLimitAndCountsTowardTheCircuitButARefusedConnectionOnlyCounts() {
        var governor = self.governor(initial: 8)
        let tickets = self.begin(&governor, 0..<2, at: self.start)
        _ = governor.finished(tickets[0], .unreachable, now: self.start)
        #expect(governor.limit.current == 8)
        _ = governor.finished(tickets[1], .timedOut, now: self.start)
        #expect(governor.limit.current == 4)
        #expect(governor.circuit.state == .closed(failures: 2))
    }

    @Test func aShorterRetryAfterDoesNotEndALongerPause() {
        var governor = self.governor(initial: 4)
        let tickets = self.begin(&governor, 0..<2, at: self.start)
        _ = governor.finished(tickets[0], .refused(status: 429, retryAfter: .seconds(10)), now: self.start)
        #expect(governor.finished(tickets[1], .refused(status: 429, retryAfter: .seconds(1)), now: self.start).isEmpty)
        #expect(governor.pause?.until == self.start + .seconds(10))
    }

    /// Opens the circuit with `threshold` unreachable attempts; returns the time it opened.
    func open(_ governor: inout DeliveryGovernor) -> NIODeadline {
        let tickets = self.begin(&governor, 0..<UpstreamCircuit.threshold, at: self.start)
        var actions: [DeliveryGovernor.Action] = []
        for ticket in tickets {
            actions += governor.finished(ticket, .unreachable, now: self.start)
        }
        #expect(actions.contains(.circuitOpened))
        return self.start
    }

    @Test func whileUnreachableOneProbeGoesAtATime() {
        var governor = self.governor(initial: 8)
        let openedAt = self.open(&governor)
        let probeAt = openedAt + UpstreamCircuit.base
        #expect(governor.check(worker: 0, now: openedAt) == .wait(until: probeAt))
        // At the probe's time one worker is its candidate; the others wait.
        #expect(governor.check(worker: 2, now: probeAt) == .send(nil))
        #expect(governor.check(worker: 1, now: probeAt) == .wait(until: probeAt + DeliveryGovernor.probeCandidacy))
        guard case .send(let probe?) = governor.begin(worker: 2, now: probeAt) else {
            Issue.record("the candidate may probe")
            return
        }
        #expect(probe.isProbe)
        #expect(governor.begin(worker: 1, now: probeAt) == .park, "a second probe while the first is on its way")
        #expect(governor.check(worker: 3, now: probeAt) == .park)
        let actions = governor.finished(probe, .answered, now: probeAt + .milliseconds(5))
        #expect(actions.contains(.circuitClosed))
        #expect(actions.contains(.wake([1, 3])))
        #expect(governor.check(worker: 1, now: probeAt + .milliseconds(5)) == .send(nil))
    }

    @Test func aResultSentBeforeTheCircuitOpenedIsNotTheProbes() {
        var governor = self.governor(initial: 8)
        // Six on their way; five fail and open the circuit, the sixth is still out.
        let tickets = self.begin(&governor, 0..<6, at: self.start)
        for ticket in tickets.prefix(5) {
            _ = governor.finished(ticket, .unreachable, now: self.start)
        }
        let probeAt = self.start + UpstreamCircuit.base
        #expect(governor.check(worker: 7, now: probeAt) == .send(nil))
        guard case .send(let probe?) = governor.begin(worker: 7, now: probeAt) else {
            Issue.record("the probe may go")
            return
        }
        // The old request fails now: it is not the probe's failure, and lets no second probe out.
        #expect(governor.finished(tickets[5], .unreachable, now: probeAt + .milliseconds(1)).isEmpty)
        #expect(governor.circuit.name == "probing")
        #expect(governor.begin(worker: 6, now: probeAt + .seconds(5)) == .park)
        // Nor does an old answer close the circuit.
        #expect(governor.inFlight == 1)
        _ = governor.finished(probe, .unreachable, now: probeAt + .milliseconds(2))
        #expect(governor.circuit.name == "open")
    }

    @Test func aFailedProbeWaitsLongerBeforeTheNext() {
        var governor = self.governor(initial: 8)
        let openedAt = self.open(&governor)
        var now = openedAt + UpstreamCircuit.base
        var waits: [Int64] = []
        for _ in 0..<5 {
            #expect(governor.check(worker: 0, now: now) == .send(nil))
            guard case .send(let probe?) = governor.begin(worker: 0, now: now) else {
                Issue.record("the probe may go")
                return
            }
            _ = governor.finished(probe, .unreachable, now: now)
            guard case .wait(let until) = governor.check(worker: 0, now: now) else {
                Issue.record("must wait for the next probe")
                return
            }
            waits.append((until - now).nanoseconds / 1_000_000)
            now = until
        }
        #expect(waits == [200, 400, 800, 1000, 1000])
    }

    @Test func aCandidateThatFoundNoCallLapses() {
        var governor = self.governor(initial: 8)
        let probeAt = self.open(&governor) + UpstreamCircuit.base
        #expect(governor.check(worker: 0, now: probeAt) == .send(nil))
        let later = probeAt + DeliveryGovernor.probeCandidacy
        #expect(governor.check(worker: 1, now: later) == .send(nil), "worker 0 never came back with a call")
    }
}
