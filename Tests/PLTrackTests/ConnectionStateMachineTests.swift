import Testing

@testable import PLTrack

/// The connection's state machine alone: events in, actions out, no channel.
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static func call(_ requestID: Int64, id: String? = nil) -> Machine.Input {
        .message(.track(.prompt(requestID, id: id)))
    }

    static func ping(_ id: String) -> Machine.Input {
        .message(.ping(id: ReplyID(json: "\"\(id)\"")))
    }

    static func ok(_ id: String) -> Reply {
        .ok(id: ReplyID(json: "\"\(id)\""))
    }

    /// Runs the machine's actions until it has none, answering a `submit` with `results`
    /// (accepting everything, numbered from 1, when `nil`).
    static func drain(
        _ machine: inout Machine, results: (([TrackMessage]) -> [Pipeline.SubmitResult])? = nil,
        waitsForDisk: Bool = false
    ) -> [Machine.Action] {
        var actions: [Machine.Action] = []
        while let action = machine.nextAction() {
            actions.append(action)
            if case .submit(let calls) = action {
                let answer =
                    results?(calls) ?? calls.indices.map { .accepted(sequence: UInt64($0 + 1)) }
                _ = machine.submitted(calls, answer, waitsForDisk: waitsForDisk)
            }
            #expect(actions.count < 10_000, "the machine keeps asking for actions")
        }
        return actions
    }

    static func writes(_ actions: [Machine.Action]) -> [Reply] {
        actions.compactMap {
            if case .write(let reply) = $0 { reply } else { nil }
        }
    }

    static func submissions(_ actions: [Machine.Action]) -> [[TrackMessage]] {
        actions.compactMap {
            if case .submit(let calls) = $0 { calls } else { nil }
        }
    }

    @Test func callsAreGatheredUntilTheReadEndsThenHandedOnOnceAndFlushed() {
        var machine = Machine()
        #expect(machine.received(Self.call(1, id: "a")) == false)
        #expect(machine.received(Self.call(2)) == false)
        #expect(machine.nextAction() == nil, "nothing happens before the read ends")
        machine.readCompleted()
        let actions = Self.drain(&machine)
        #expect(Self.submissions(actions).map(\.count) == [2])
        #expect(actions.suffix(2) == [.write(Self.ok("a")), .flushWrites])
        #expect(machine.idleness == .silent)
    }

    @Test func anotherMessageHandsOnTheCallsBeforeIt() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        #expect(machine.received(Self.ping("p")) == true)
        let actions = Self.drain(&machine)
        #expect(Self.submissions(actions).map(\.count) == [1])
        #expect(Self.writes(actions) == [Self.ok("a"), Self.ok("p")])
        #expect(!actions.contains(.flushWrites), "written, flushed when the read ends")
        machine.readCompleted()
        #expect(Self.drain(&machine) == [.flushWrites])
    }

    @Test func aPendingFlushHoldsEveryReplyBehindIt() {
        var machine = Machine()
        _ = machine.received(.message(.flush(id: ReplyID(json: "\"f\""), timeout: nil)))
        _ = machine.received(Self.call(1, id: "a"))
        _ = machine.received(Self.ping("p"))
        machine.readCompleted()
        let actions = Self.drain(&machine)
        #expect(actions.first == .startFlush(token: 0, id: ReplyID(json: "\"f\""), timeout: nil))
        #expect(Self.submissions(actions).map(\.count) == [1], "the call behind the flush is taken at once")
        #expect(Self.writes(actions).isEmpty, "its reply and the ping's wait behind the flush's")
        #expect(machine.idleness == nil)
        machine.awaitedReplyReady(token: 0, reply: Self.ok("f"))
        let after = Self.drain(&machine)
        #expect(Self.writes(after) == [Self.ok("f"), Self.ok("a"), Self.ok("p")])
        #expect(after.last == .flushWrites)
    }

    @Test func acknowledgementsWaitForTheDiskAndSoDoesAFlushBehindThem() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        _ = machine.received(Self.call(2, id: "b"))
        _ = machine.received(.message(.flush(id: ReplyID(json: "\"f\""), timeout: nil)))
        machine.readCompleted()
        let actions = Self.drain(&machine, waitsForDisk: true)
        #expect(actions.contains(.waitForDisk(from: 1, through: 2)))
        // The flush completes before the disk catches up: its reply still waits.
        machine.awaitedReplyReady(token: 0, reply: Self.ok("f"))
        #expect(Self.writes(Self.drain(&machine)).isEmpty)
        machine.diskCaughtUp(through: 2, failure: nil)
        #expect(Self.writes(Self.drain(&machine)) == [Self.ok("a"), Self.ok("b"), Self.ok("f")])
    }

    @Test func oneDiskWaitAtATimeAndAFailureTurnsTheOkIntoASpoolError() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        machine.readCompleted()
        #expect(Self.drain(&machine, waitsForDisk: true).contains(.waitForDisk(from: 1, through: 1)))
        _ = machine.received(Self.call(2, id: "b"))
        machine.readCompleted()
        let second = Self.drain(&machine, results: { _ in [.accepted(sequence: 2)] }, waitsForDisk: true)
        #expect(!second.contains { if case .waitForDisk = $0 { true } else { false } }, "the first wait is under way")
        machine.diskCaughtUp(through: 1, failure: "EIO")
        let after = Self.drain(&machine)
        #expect(Self.writes(after).map(\.id) == [ReplyID(json: "\"a\"")])
        guard case .error(_, let error)? = Self.writes(after).first else {
            Issue.record("expected a spool_error")
            return
        }
        #expect(error.code == .spoolError)
        #expect(after.contains(.waitForDisk(from: 2, through: 2)), "then the next wait starts")
        machine.diskCaughtUp(through: 2, failure: nil)
        #expect(Self.writes(Self.drain(&machine)) == [Self.ok("b")])
    }

    @Test func whenThePipelineIsFullValidatedMessagesAreParkedAndReadingStops() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        _ = machine.received(Self.call(2, id: "b"))
        _ = machine.received(Self.ping("p"))
        machine.readCompleted()
        var stopped = 0
        var actions: [Machine.Action] = []
        while let action = machine.nextAction() {
            actions.append(action)
            if case .submit(let calls) = action {
                stopped += machine.submitted(calls, [.accepted(sequence: 1), .full], waitsForDisk: false) ? 1 : 0
            }
        }
        #expect(stopped == 1)
        #expect(Self.writes(actions) == [Self.ok("a")], "the ping waits behind the call that found no room")
        #expect(actions.contains(.waitForCapacity))
        #expect(actions.contains(.stopReading))
        // Read while paused: parked, in order, nothing handed on.
        #expect(machine.received(Self.call(3, id: "c")) == false)
        #expect(Self.submissions(Self.drain(&machine)).isEmpty)
        machine.capacityAvailable()
        let resumed = Self.drain(&machine, results: { $0.indices.map { .accepted(sequence: UInt64($0 + 2)) } })
        #expect(
            Self.submissions(resumed).map { $0.map(\.replyID) } == [[ReplyID(json: "\"b\"")], [ReplyID(json: "\"c\"")]])
        #expect(Self.writes(resumed) == [Self.ok("b"), Self.ok("p"), Self.ok("c")])
        #expect(resumed.contains(.startReading))
        #expect(machine.idleness == .silent)
    }

    @Test func aClientThatReadsNoRepliesMayBeClosedAsIdleWhileOneThatWaitsForTheDaemonMayNot() {
        var machine = Machine()
        _ = machine.received(.message(.flush(id: ReplyID(json: "\"f\""), timeout: nil)))
        machine.readCompleted()
        _ = Self.drain(&machine)
        #expect(machine.idleness == nil, "it waits for the daemon's flush")
        let stopsReading = machine.writabilityChanged(writable: false)
        #expect(stopsReading)
        #expect(machine.idleness == .unreadReplies, "and reads nothing")
        let stopsAgain = machine.writabilityChanged(writable: true)
        #expect(!stopsAgain)
        #expect(machine.idleness == nil)
    }

    @Test func parkedCallsResumeInRuns() {
        var machine = Machine()
        _ = machine.received(Self.call(0))
        machine.readCompleted()
        _ = Self.drain(&machine, results: { _ in [.full] })
        for requestID in 1...600 {
            _ = machine.received(Self.call(Int64(requestID)))
        }
        machine.capacityAvailable()
        let counts = Self.submissions(Self.drain(&machine)).map(\.count)
        #expect(counts == [Machine.resumeRun, Machine.resumeRun, 601 - 2 * Machine.resumeRun])
    }

    @Test func aSlowReaderStopsReadingUntilItsRepliesDrain() {
        var machine = Machine()
        #expect(machine.writabilityChanged(writable: false) == true)
        #expect(machine.writabilityChanged(writable: false) == false, "counted once")
        #expect(Self.drain(&machine) == [.stopReading])
        #expect(machine.writabilityChanged(writable: true) == false)
        #expect(Self.drain(&machine) == [.startReading])
    }

    @Test func aFatalErrorComesAfterTheRepliesBeforeItAndEndsTheConnection() {
        var machine = Machine()
        let tooLarge = ProtocolError(.frameTooLarge, "too large")
        _ = machine.received(Self.call(1, id: "a"))
        #expect(machine.received(.fatal(tooLarge)) == true)
        let actions = Self.drain(&machine, waitsForDisk: true)
        #expect(machine.received(Self.ping("late")) == false, "nothing after it is taken")
        #expect(!actions.contains(.closeAfter(.error(id: nil, tooLarge))), "the ok is still waiting for the disk")
        machine.diskCaughtUp(through: 1, failure: nil)
        let after = Self.drain(&machine)
        #expect(after == [.write(Self.ok("a")), .closeAfter(.error(id: nil, tooLarge))])
        machine.inputClosed()
        #expect(Self.drain(&machine) == [.close], "the client's half-close ends the lingering close")
    }

    @Test func afterTheClientsHalfCloseEveryReplyIsSentThenTheConnectionCloses() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        _ = machine.received(.message(.flush(id: ReplyID(json: "\"f\""), timeout: nil)))
        machine.inputClosed()
        let actions = Self.drain(&machine)
        #expect(!actions.contains(.close), "the flush's reply is still owed")
        machine.awaitedReplyReady(token: 0, reply: Self.ok("f"))
        #expect(Self.drain(&machine) == [.write(Self.ok("f")), .close])
        #expect(machine.nextAction() == nil)
    }

    @Test func rejectedMessagesAreAnsweredInPlace() {
        var machine = Machine()
        _ = machine.received(Self.call(1, id: "a"))
        _ = machine.received(.rejected(ProtocolError(.invalidJSON, "bad"), id: nil))
        _ = machine.received(Self.call(2, id: "b"))
        machine.readCompleted()
        let actions = Self.drain(&machine)
        #expect(
            Self.writes(actions) == [
                Self.ok("a"), .error(id: nil, ProtocolError(.invalidJSON, "bad")), Self.ok("b"),
            ])
        #expect(Self.submissions(actions).count == 2)
    }

    @Test func aClosedConnectionReportsWhatItNeverHandled() {
        var machine = Machine()
        _ = machine.received(Self.call(0))
        machine.readCompleted()
        _ = Self.drain(&machine, results: { _ in [.full] })
        _ = machine.received(Self.ping("p"))
        #expect(machine.closed() == 2)
        #expect(machine.nextAction() == nil)
    }
}
