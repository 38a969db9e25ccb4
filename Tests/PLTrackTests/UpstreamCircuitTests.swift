import NIOCore
import Testing

@testable import PLTrack

/// The circuit driven by hand: time is an argument.
struct UpstreamCircuitTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func opensAfterConsecutiveFailuresAndThenLetsOneProbeGoAtATime() {
        var circuit = UpstreamCircuit()
        for _ in 1..<UpstreamCircuit.threshold {
            circuit.failed(now: self.start)
            #expect(circuit.permit(now: self.start) == .send)
        }
        circuit.failed(now: self.start)
        #expect(circuit.name == "open" && circuit.openings == 1)
        #expect(circuit.permit(now: self.start) == .wait(until: self.start + .milliseconds(100)))
        #expect(circuit.permit(now: self.start + .milliseconds(100)) == .probe)
        #expect(circuit.permit(now: self.start + .milliseconds(101)) == .wait(until: self.start + .milliseconds(201)))
    }

    @Test func aFailedProbeDoublesTheWaitUpToTheCapAndAnAnswerClosesIt() {
        var circuit = UpstreamCircuit()
        for _ in 0..<UpstreamCircuit.threshold {
            circuit.failed(now: self.start)
        }
        var now = self.start
        var waits: [Int64] = []
        for _ in 0..<6 {
            guard case .wait(let until) = circuit.permit(now: now) else {
                Issue.record("must wait")
                return
            }
            waits.append((until - now).nanoseconds / 1_000_000)
            now = until
            #expect(circuit.permit(now: now) == .probe)
            circuit.failed(now: now)
        }
        #expect(waits == [100, 200, 400, 800, 1000, 1000])
        #expect(circuit.permit(now: now + .seconds(1)) == .probe)
        circuit.reached()
        #expect(circuit.permit(now: now) == .send)
        #expect(circuit.name == "closed" && circuit.openings == 1)
    }

    @Test func anAnswerBetweenFailuresStartsTheCountAgain() {
        var circuit = UpstreamCircuit()
        for _ in 1..<UpstreamCircuit.threshold {
            circuit.failed(now: self.start)
        }
        circuit.reached()
        for _ in 1..<UpstreamCircuit.threshold {
            circuit.failed(now: self.start)
        }
        #expect(circuit.permit(now: self.start) == .send)
    }
}
