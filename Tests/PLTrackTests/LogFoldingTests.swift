import NIOCore
import Testing

@testable import PLTrack

/// Track calls at hand when their log goes out are folded into its body where PromptLayer's
/// `LogRequest` has a place for them; the rest go after it.
struct LogFoldingTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static let log =
        #"{"type":"log.request","ref":"r","provider":"openai","model":"m","input":{"type":"completion","content":[]},"output":{"type":"completion","content":[]},"request_start_time":1,"request_end_time":2,"metadata":{"user":"ada","plan":"free"},"score":10}"#

    private func envelope(_ json: String, _ sequence: UInt64) throws -> Envelope {
        Envelope(message: try RequestRefsTests.message(json), sequence: sequence, acceptedAt: self.start)
    }

    @Test func promptMetadataAndScoreGoIntoTheLogsBody() throws {
        let calls = [
            try self.envelope(
                #"{"type":"track.prompt","request_ref":"r","prompt_name":"welcome","version":3,"prompt_input_variables":{"name":"Ada"}}"#,
                2),
            try self.envelope(
                #"{"type":"track.metadata","request_ref":"r","metadata":{"plan":"pro","region":"eu"}}"#, 3),
            try self.envelope(#"{"type":"track.score","request_ref":"r","score":87}"#, 4),
        ]
        let result = LogFolding.fold(calls, into: try self.envelope(Self.log, 1))
        #expect(result.folded.map(\.sequence) == [2, 3, 4] && result.after.isEmpty)
        #expect(result.log.absorbed == [2, 3, 4])
        #expect(
            result.log.message.body.description
                == #"{"provider":"openai","model":"m","input":{"type":"completion","content":[]},"output":{"type":"completion","content":[]},"request_start_time":1,"request_end_time":2,"metadata":{"user":"ada","plan":"pro","region":"eu"},"score":87,"prompt_name":"welcome","prompt_version_number":3,"prompt_input_variables":{"name":"Ada"}}"#
        )
    }

    @Test func whatHasNoPlaceInTheLogGoesAfterIt() throws {
        let calls = [
            try self.envelope(#"{"type":"track.group","request_ref":"r","group_id":7}"#, 2),
            try self.envelope(#"{"type":"track.score","request_ref":"r","score":5,"name":"relevance"}"#, 3),
            try self.envelope(#"{"type":"track.prompt","request_ref":"r","prompt_name":"p","label":"prod"}"#, 4),
            try self.envelope(#"{"type":"track.score","request_ref":"r","score":6,"name":"default"}"#, 5),
        ]
        let log = try self.envelope(Self.log, 1)
        let result = LogFolding.fold(calls, into: log)
        #expect(result.after.map(\.sequence) == [2, 3, 4])
        #expect(result.folded.map(\.sequence) == [5])
        #expect(result.log.message.body.description.contains(#""score":6"#))
    }

    @Test func aLogWithoutMetadataGetsTheMergedMetadata() throws {
        let log = try self.envelope(
            #"{"type":"log.request","ref":"r","provider":"p","model":"m","input":{"type":"chat","messages":[]},"output":{"type":"chat","messages":[]},"request_start_time":1,"request_end_time":2}"#,
            1)
        let calls = [
            try self.envelope(#"{"type":"track.metadata","request_ref":"r","metadata":{"a":"1"}}"#, 2),
            try self.envelope(#"{"type":"track.metadata","request_ref":"r","metadata":{"b":"2","a":"3"}}"#, 3),
        ]
        let result = LogFolding.fold(calls, into: log)
        #expect(result.log.message.body.description.hasSuffix(#""request_end_time":2,"metadata":{"a":"3","b":"2"}}"#))
    }

    @Test func theMachineFoldsWhatCameWithinTheWindowAndCountsIt() throws {
        var machine = PipelineStateMachine(capacity: 10, coalescingWindow: .milliseconds(50), spooled: true)
        for json in [
            #"{"type":"track.score","request_ref":"r","score":87}"#, Self.log,
            #"{"type":"track.metadata","request_ref":"r","metadata":{"k":"v"}}"#,
            #"{"type":"track.group","request_ref":"r","group_id":7}"#,
        ] {
            _ = machine.submit(try RequestRefsTests.message(json), now: self.start)
        }
        _ = machine.timerFired(now: self.start + .milliseconds(50))
        guard case .assigned(let log) = machine.takeWork() else {
            Issue.record("the log must be ready")
            return
        }
        #expect(log.message.kind == .log && log.absorbed == [1, 3])
        #expect(machine.takeWork() == .wait, "the group waits behind the log")
        var ledger = machine.currentLedger
        #expect(ledger.coalesced == 2 && ledger.foldedByType == ["track.score": 1, "track.metadata": 1], "\(ledger)")
        #expect(ledger.foldedByType == ["track.score": 1, "track.metadata": 1])
        #expect(ledger.held == 2 && ledger.balances)
        let effects = machine.attemptFinished(log, .logged(id: 5), now: self.start)
        #expect(effects.learned == [LearnedRef(sequence: 2, ref: "r", id: 5)])
        #expect(effects.resolved == [1, 3], "the folded calls' records end with the log's")
        guard case .assigned(let group) = machine.takeWork() else {
            Issue.record("the group must be ready once the log is answered")
            return
        }
        #expect(group.message.body.description == #"{"request_id":5,"group_id":7}"#)
        _ = machine.attemptFinished(group, .delivered, now: self.start)
        ledger = machine.currentLedger
        #expect(ledger.delivered == 2 && ledger.held == 0 && ledger.balances)
    }
}
