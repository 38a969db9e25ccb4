import NIOCore
import Testing

@testable import PLTrack

/// Calls that name a `log.request`'s ref, through the pipeline driven by hand: they wait for
/// the log, go with the id PromptLayer answered it with, or end in the dead letters.
struct RequestRefsTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func message(_ json: String) throws -> TrackMessage {
        guard case .message(.track(let message)) = MessageValidator().validate(ByteBuffer(string: json)) else {
            throw ValidationFailed(json: json)
        }
        return message
    }

    struct ValidationFailed: Error {
        var json: String
    }

    static func log(_ ref: String) throws -> TrackMessage {
        try Self.message(
            #"{"type":"log.request","ref":"\#(ref)","provider":"openai","model":"gpt-4o","input":{"type":"completion","content":[]},"output":{"type":"completion","content":[]},"request_start_time":1,"request_end_time":2}"#
        )
    }

    /// A named score: it has no place in a log's body, so it goes after the log with the id.
    static func score(_ ref: String, _ score: Int = 90) throws -> TrackMessage {
        try Self.message(#"{"type":"track.score","request_ref":"\#(ref)","score":\#(score),"name":"quality"}"#)
    }

    private func work(_ machine: inout PipelineStateMachine) throws -> Envelope {
        guard case .assigned(let envelope) = machine.takeWork() else {
            throw ValidationFailed(json: "no call ready")
        }
        return envelope
    }

    @Test func aCallSentBeforeItsLogWaitsThenGoesWithTheID() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        _ = machine.submit(try Self.score("a"), now: self.start)
        #expect(!machine.hasReadyWork, "it waits for its log")
        #expect(machine.occupancy.waitingForLog == 1 && machine.currentLedger.held == 1)
        _ = machine.submit(try Self.log("a"), now: self.start)
        let log = try self.work(&machine)
        #expect(log.message.kind == .log)
        #expect(!machine.hasReadyWork, "the score waits behind the log on its way")
        _ = machine.attemptFinished(log, .logged(id: 42), now: self.start)
        let score = try self.work(&machine)
        #expect(score.message.body.description == #"{"request_id":42,"score":90,"name":"quality"}"#)
        _ = machine.attemptFinished(score, .delivered, now: self.start)
        let ledger = machine.currentLedger
        #expect(ledger.delivered == 2 && ledger.held == 0 && ledger.balances)
    }

    @Test func aCallForARefAlreadyAnsweredGoesAtOnce() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        _ = machine.submit(try Self.log("b"), now: self.start)
        _ = machine.attemptFinished(try self.work(&machine), .logged(id: 7), now: self.start)
        _ = machine.submit(try Self.score("b", 10), now: self.start)
        #expect(try self.work(&machine).message.body.description == #"{"request_id":7,"score":10,"name":"quality"}"#)
        #expect(machine.occupancy.knownRefs == 1)
    }

    @Test(arguments: [PipelineStateMachine.AttemptResult.deadLettered, .logged(id: nil)])
    func aLogThatFailsSendsItsCallsToTheDeadLetters(_ outcome: PipelineStateMachine.AttemptResult) throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        _ = machine.submit(try Self.log("c"), now: self.start)
        let log = try self.work(&machine)
        _ = machine.submit(try Self.score("c"), now: self.start)
        let effects = machine.attemptFinished(log, outcome, now: self.start)
        #expect(effects.refused.map(\.reason) == [.logFailed])
        #expect(effects.refused.map(\.envelope.sequence) == [2])
        #expect(machine.currentLedger.held == 1, "held until its dead letter is written")
        _ = machine.refusalRecorded(effects.refused[0].envelope)
        // A call for the ref that comes later is refused too.
        let later = self.accepted(machine.submit(try Self.score("c"), now: self.start))
        #expect(later?.refused.map(\.reason) == [.logFailed])
        #expect(machine.takeWork() == .wait)
        let ledger = machine.currentLedger
        #expect(ledger.deadLettered == (outcome == .deadLettered ? 2 : 1) && ledger.held == 1 && ledger.balances)
    }

    @Test func aRefNeverLoggedIsRefusedAfterItsTTL() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, refTTL: .seconds(10))
        let effects = self.accepted(machine.submit(try Self.score("never"), now: self.start))
        #expect(effects?.timer == self.start + .seconds(10))
        #expect(machine.timerFired(now: self.start + .seconds(5)).refused.isEmpty)
        let expired = machine.timerFired(now: self.start + .seconds(10))
        #expect(expired.refused.map(\.reason) == [.unknownRef])
        #expect(machine.occupancy.waitingForLog == 0 && machine.currentLedger.held == 1)
        _ = machine.refusalRecorded(expired.refused[0].envelope)
        #expect(machine.currentLedger.deadLettered == 1 && machine.currentLedger.balances)
    }

    @Test func aRefIsForgottenTTLAfterItsLogWasAnswered() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, refTTL: .seconds(10))
        _ = machine.submit(try Self.log("d"), now: self.start)
        _ = machine.attemptFinished(try self.work(&machine), .logged(id: 3), now: self.start)
        _ = machine.timerFired(now: self.start + .seconds(10))
        #expect(machine.occupancy.knownRefs == 0)
        _ = machine.submit(try Self.score("d"), now: self.start + .seconds(11))
        #expect(machine.occupancy.waitingForLog == 1, "a forgotten ref is waited for like a new one")
    }

    @Test func withASpoolTheLogsAnswerIsRecordedWithTheIDInsteadOfAResolution() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, spooled: true)
        _ = machine.submit(try Self.log("e"), now: self.start)
        let effects = machine.attemptFinished(try self.work(&machine), .logged(id: 99), now: self.start)
        #expect(effects.learned == [LearnedRef(sequence: 1, ref: "e", id: 99)])
        #expect(effects.resolved.isEmpty)
    }

    @Test func refsLearnedBeforeARestartAreKnownAtStart() throws {
        // A start long after boot, so that a minute before it is on the clock too.
        let start = NIODeadline.uptimeNanoseconds(10_000 * 1_000_000_000)
        var machine = PipelineStateMachine(
            capacity: 10, coalescingWindow: .zero, spooled: true, recovered: 0, highestSequence: 5,
            learned: [
                LearnedRef(sequence: 2, ref: "f", id: 11, learnedAtMilliseconds: 1_000_000),
                LearnedRef(sequence: 3, ref: "gone", id: 12, learnedAtMilliseconds: 1_000_000 - 3_600_000),
            ], now: start, wallMilliseconds: 1_000_000 + 60_000)
        _ = machine.submit(try Self.score("f"), now: start)
        #expect(try self.work(&machine).message.body.description == #"{"request_id":11,"score":90,"name":"quality"}"#)
        #expect(machine.refs.answer(for: "gone") == nil, "learned more than --ref-ttl before the start")
        _ = machine.refs.expire(now: start + .minutes(58))
        #expect(machine.refs.answer(for: "f") == .id(11))
        _ = machine.refs.expire(now: start + .minutes(59))
        #expect(machine.refs.answer(for: "f") == nil, "forgotten an hour after it was learned, not after the start")
    }

    @Test func theLearnedRecordReadsBackAndResolvesItsLog() {
        let learned = LearnedRef(sequence: 12, ref: "ref-é", id: -4, learnedAtMilliseconds: 1_765_000_000_123)
        var buffer = ByteBuffer()
        SpoolRecord.learned(learned).write(to: &buffer)
        #expect(SpoolRecord.read(from: &buffer) == .record(.learned(learned)))
        #expect(SpoolRecord.learned(learned).resolvedSequence == 12)
    }

    @Test(arguments: [
        (#"{"id": 12345, "prompt_version": null, "status": "SUCCESS"}"#, Int64(12345)),
        (#"{"prompt_version": {"id": 5, "x": [{"id": 6}]}, "id":7}"#, 7),
        (#"{"id":9,"prompt_version":{"prompt_template":{"content":"cut off he"#, 9),
        (#"{"success": true}"#, nil),
        (#"{"id": "abc"}"#, nil),
        (#"{"id": 1.5}"#, nil),
        (#"{"note": "\"id\": 3", "id": 4}"#, 4),
        ("", nil),
    ])
    func theLogsIDIsReadFromPromptLayersAnswer(_ body: String, _ id: Int64?) {
        #expect(LogAnswer.requestID(in: body) == id)
    }

    @Test(arguments: [
        ("2024-01-15T10:30:00Z", true), ("2024-01-15t10:30:00.123456z", true), ("2024-01-15 10:30:00+02:00", true),
        ("2024-01-15T10:30:00", false), ("2024-13-15T10:30:00Z", false), ("2024-01-15T25:30:00Z", false),
        ("2024-01-15T10:30:00.Z", false), ("yesterday", false), ("2024-01-15T10:30:00Z ", false),
    ])
    func timesAreRFC3339DateTimes(_ text: String, _ valid: Bool) {
        #expect(RFC3339.isDateTime(text) == valid)
    }

    private func accepted(_ outcome: PipelineStateMachine.SubmitOutcome) -> PipelineEffects? {
        if case .accepted(let effects) = outcome { effects } else { nil }
    }

    /// Waiting calls are bounded by count and bytes: one more is refused as `ref_wait_full`
    /// (to the dead letters), never held; remembered refs are bounded by count, the oldest
    /// forgotten early.
    @Test func waitingCallsAndRememberedRefsAreBounded() throws {
        var limits = RefLimits()
        limits.waitingCalls = 2
        limits.knownRefs = 2
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, refLimits: limits)
        _ = machine.submit(try Self.score("w1"), now: self.start)
        _ = machine.submit(try Self.score("w2"), now: self.start)
        let effects = self.accepted(machine.submit(try Self.score("w3"), now: self.start))
        #expect(effects?.refused.map(\.reason) == [.waitingFull])
        #expect(effects?.refused.first?.detail.contains("--ref-wait-max-calls 2") == true)
        #expect(machine.occupancy.waitingForLog == 2)
        #expect(machine.occupancy.waitingForLogBytes == 2 * (try Self.score("w1")).body.byteCount)

        limits.waitingCalls = 100
        limits.waitingBytes = (try Self.score("w1")).body.byteCount
        var bytes = PipelineStateMachine(capacity: 10, coalescingWindow: .zero, refLimits: limits)
        _ = bytes.submit(try Self.score("b1"), now: self.start)
        #expect(
            self.accepted(bytes.submit(try Self.score("b2"), now: self.start))?.refused.map(\.reason) == [.waitingFull])

        for (index, ref) in ["k1", "k2", "k3"].enumerated() {
            _ = machine.submit(try Self.log(ref), now: self.start)
            _ = machine.attemptFinished(try self.work(&machine), .logged(id: Int64(index)), now: self.start)
        }
        #expect(machine.occupancy.knownRefs == 2 && machine.occupancy.refsForgottenEarly == 1)
        #expect(machine.refs.answer(for: "k1") == nil && machine.refs.answer(for: "k3") == .id(2))
    }
}
