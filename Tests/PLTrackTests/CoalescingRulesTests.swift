import NIOCore
import Testing

@testable import PLTrack

/// The coalescing rules of `protocol/SPEC.md` in the machines, driven by hand.
struct CoalescingRulesTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func metadata(_ requestID: Int64, _ json: String) -> TrackMessage {
        TrackMessage(
            kind: .metadata, replyID: nil,
            coalescingKey: CoalescingKey(kind: .metadata, requestID: .integer(requestID)),
            body: TrackBody(#"{"request_id":\#(requestID),"metadata":\#(json)}"#))
    }

    static func score(_ requestID: Int64, _ score: Int, name: String?) -> TrackMessage {
        let member = name.map { #","name":"\#($0)""# } ?? ""
        return TrackMessage(
            kind: .score, replyID: nil,
            coalescingKey: CoalescingKey(
                kind: .score, requestID: .integer(requestID), detail: .scoreName(name ?? "default")),
            body: TrackBody(#"{"request_id":\#(requestID),"score":\#(score)\#(member)}"#))
    }

    @Test func metadataMergesALaterValueReplacingAnEarlierOneInTheOrderFirstGiven() throws {
        let older = Envelope(
            message: Self.metadata(1, #"{"user":"ada","plan":"free"}"#), sequence: 1, acceptedAt: self.start)
        let newer = Envelope(
            message: Self.metadata(1, #"{"plan":"pro","region":"eu"}"#), sequence: 2, acceptedAt: self.start)
        for (first, second) in [(older, newer), (newer, older)] {
            let combination = try #require(CoalescingRules.combine(first, second))
            #expect(combination.kept.sequence == 2)
            #expect(combination.ended.sequence == 1)
            #expect(combination.endedIsAbsorbed)
            #expect(combination.kept.absorbed == [1])
            #expect(
                combination.kept.message.body.description
                    == #"{"request_id":1,"metadata":{"user":"ada","plan":"pro","region":"eu"}}"#)
        }
    }

    @Test func aMergedCallsSpoolRecordsAreResolvedWithItsOutcomeNotBefore() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50), spooled: true)
        let first = machine.submit(Self.metadata(1, #"{"a":"1"}"#), now: self.start)
        let second = machine.submit(Self.metadata(1, #"{"b":"2"}"#), now: self.start)
        let third = machine.submit(Self.metadata(1, #"{"a":"3"}"#), now: self.start)
        for outcome in [first, second, third] {
            guard case .accepted(let effects) = outcome else {
                Issue.record("accepted")
                return
            }
            #expect(effects.resolved.isEmpty, "the merged calls' values are not upstream yet")
        }
        #expect(machine.currentLedger.coalesced == 2)
        #expect(machine.currentLedger.coalescedByType == ["track.metadata": 2])
        _ = machine.timerFired(now: self.start + .milliseconds(50))
        guard case .assigned(let envelope) = machine.takeWork() else {
            Issue.record("the merged call must be ready")
            return
        }
        #expect(envelope.message.body.description == #"{"request_id":1,"metadata":{"a":"3","b":"2"}}"#)
        let delivered = machine.attemptFinished(envelope, .delivered)
        #expect(delivered.resolved.sorted() == [1, 2, 3])
        #expect(machine.currentLedger.balances)
    }

    @Test func scoresKeepTheNewestPerNameAndNoNameIsDefault() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50), spooled: true)
        _ = machine.submit(Self.score(7, 10, name: nil), now: self.start)
        _ = machine.submit(Self.score(7, 20, name: "default"), now: self.start)
        _ = machine.submit(Self.score(7, 30, name: "relevance"), now: self.start)
        guard case .accepted(let effects) = machine.submit(Self.score(7, 40, name: "relevance"), now: self.start) else {
            Issue.record("accepted")
            return
        }
        #expect(effects.resolved == [3], "a replaced score's record is resolved at once")
        #expect(machine.currentLedger.coalescedByType == ["track.score": 2])
    }

    @Test func oneRequestsCallsOfEveryTypeGoOneAtATimeInTheOrderTaken() {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .zero)
        _ = machine.submit(.prompt(5), now: self.start)
        _ = machine.submit(Self.metadata(5, #"{"k":"v"}"#), now: self.start)
        _ = machine.submit(Self.score(5, 90, name: nil), now: self.start)
        _ = machine.submit(Self.metadata(5, #"{"k2":"v2"}"#), now: self.start)
        var kinds: [TrackKind] = []
        guard case .assigned(var envelope) = machine.takeWork() else {
            Issue.record("the prompt must be ready")
            return
        }
        while true {
            kinds.append(envelope.message.kind)
            #expect(machine.takeWork() == .wait, "one call per request on its way")
            _ = machine.attemptFinished(envelope, .delivered)
            guard case .assigned(let next) = machine.takeWork() else {
                break
            }
            envelope = next
        }
        #expect(kinds == [.prompt, .metadata, .score])
        #expect(machine.currentLedger.coalesced == 1 && machine.currentLedger.balances)
    }

    /// Metadata merges only while the merged body cannot pass the bound (`--max-frame-length`):
    /// past it the older call goes as it is, and the newer after it, in order.
    @Test func metadataThatWouldMergePastTheBoundGoesAsItIsInOrder() throws {
        let older = Self.metadata(1, #"{"a":"1"}"#)
        let newer = Self.metadata(1, #"{"b":"2"}"#)
        var machine = PipelineStateMachine(
            capacity: 10, coalescingWindow: .milliseconds(50),
            maximumMergedBytes: older.body.byteCount + newer.body.byteCount - 1)
        _ = machine.submit(older, now: self.start)
        _ = machine.submit(newer, now: self.start)
        guard case .assigned(let first) = machine.takeWork() else {
            Issue.record("the older call goes at once")
            return
        }
        #expect(first.message.body == older.body)
        _ = machine.timerFired(now: self.start + .milliseconds(50))
        #expect(!machine.hasReadyWork, "the newer waits behind the older, for the same request")
        _ = machine.attemptFinished(first, .delivered, now: self.start + .milliseconds(50))
        guard case .assigned(let second) = machine.takeWork() else {
            Issue.record("the newer call goes next")
            return
        }
        #expect(second.message.body == newer.body)
        #expect(machine.currentLedger.coalesced == 0)
    }
}
