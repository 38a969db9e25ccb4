import NIOCore
import Testing

@testable import PLTrack

/// The circuit driven by hand: time is an argument.
struct UpstreamCircuitTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// An attempt sent now, in the circuit's current generation, got no answer.
    func fail(_ circuit: inout UpstreamCircuit, at now: NIODeadline) {
        _ = circuit.failed(generation: circuit.generation, now: now)
    }

    @Test func opensAfterConsecutiveFailuresAndThenLetsOneProbeGoAtATime() {
        var circuit = UpstreamCircuit()
        for _ in 1..<UpstreamCircuit.threshold {
            self.fail(&circuit, at: self.start)
            #expect(circuit.permit(now: self.start) == .send)
        }
        #expect(circuit.failed(generation: circuit.generation, now: self.start) == .opened)
        #expect(circuit.name == "open" && circuit.openings == 1)
        #expect(circuit.permit(now: self.start) == .wait(until: self.start + .milliseconds(100)))
        #expect(circuit.peek(now: self.start + .milliseconds(100)) == .probe)
        #expect(circuit.name == "open", "peeking takes no probe")
        #expect(circuit.permit(now: self.start + .milliseconds(100)) == .probe)
        #expect(circuit.permit(now: self.start + .milliseconds(101)) == .waitForProbe)
    }

    @Test func aFailedProbeDoublesTheWaitUpToTheCapAndAnAnswerClosesIt() {
        var circuit = UpstreamCircuit()
        for _ in 0..<UpstreamCircuit.threshold {
            self.fail(&circuit, at: self.start)
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
            #expect(circuit.failed(generation: circuit.generation, now: now) == .probeFailed)
        }
        #expect(waits == [100, 200, 400, 800, 1000, 1000])
        #expect(circuit.permit(now: now + .seconds(1)) == .probe)
        #expect(circuit.reached(generation: circuit.generation) == .closed)
        #expect(circuit.permit(now: now) == .send)
        #expect(circuit.name == "closed" && circuit.openings == 1)
    }

    @Test func anAnswerBetweenFailuresStartsTheCountAgain() {
        var circuit = UpstreamCircuit()
        for _ in 1..<UpstreamCircuit.threshold {
            self.fail(&circuit, at: self.start)
        }
        _ = circuit.reached(generation: circuit.generation)
        for _ in 1..<UpstreamCircuit.threshold {
            self.fail(&circuit, at: self.start)
        }
        #expect(circuit.permit(now: self.start) == .send)
    }

    @Test func resultsOfAnEarlierGenerationChangeNothing() {
        var circuit = UpstreamCircuit()
        let before = circuit.generation
        for _ in 0..<UpstreamCircuit.threshold {
            self.fail(&circuit, at: self.start)
        }
        #expect(circuit.generation != before)
        #expect(circuit.permit(now: self.start + .seconds(1)) == .probe)
        // A request sent before the circuit opened fails, then another one is answered: the
        // probe is still the one on its way, and the circuit stays as it was.
        #expect(circuit.failed(generation: before, now: self.start + .seconds(1)) == nil)
        #expect(circuit.reached(generation: before) == nil)
        #expect(circuit.name == "probing")
        #expect(circuit.permit(now: self.start + .seconds(2)) == .waitForProbe)
    }
}
