import NIOCore
import NIOEmbedded
import Testing

@testable import PLTrack

/// The spool stage's state machine: rounds, group commit, "written/durable through N", room,
/// and what a failed write does to the acknowledgements waiting on it. No files, no threads.
struct SpoolInboxTests {
    let loop = EmbeddedEventLoop()

    private func inbox(waitsForSync: Bool, maximumBytes: Int = 1 << 20, diskBytes: Int = 0) -> SpoolInbox {
        SpoolInbox(
            waitsForSync: waitsForSync, maximumBytes: maximumBytes, durableThrough: 0,
            figures: .init(bytes: diskBytes, records: 0, oldestAcceptedAtMilliseconds: nil, commits: 0))
    }

    private func messages(_ sequences: ClosedRange<UInt64>) -> [SpooledMessage] {
        sequences.map { SpoolFormatTests.message($0) }
    }

    private func written(bytes: Int = 100) -> SpoolRound.Result {
        SpoolRound.Result(figures: .init(bytes: bytes, records: 0, oldestAcceptedAtMilliseconds: nil, commits: 0))
    }

    /// Waits for `from...through` with a new promise, completed at once when the answer is at once.
    private func wait(_ inbox: inout SpoolInbox, _ from: UInt64, _ through: UInt64) -> SpoolInbox.WaitAction {
        let promise = self.loop.makePromise(of: Void.self)
        let action = inbox.wait(from: from, through: through, promise)
        switch action {
        case .succeedNow: promise.succeed()
        case .failNow(let reason): promise.fail(SpoolWriter.WriteError(description: reason))
        case .wait: break
        }
        return action
    }

    /// Whether the writer stops: nothing is left to do.
    private func stops(_ inbox: inout SpoolInbox) -> Bool {
        if case .none = inbox.nextRound() { true } else { false }
    }

    /// Completes what a round settled, as the driver does, and returns how many succeeded and failed.
    private func complete(_ settled: SpoolInbox.Settled) -> (succeeded: Int, failed: [String]) {
        settled.succeeded.forEach { $0.succeed() }
        settled.failed.forEach { $0.0.fail(SpoolWriter.WriteError(description: $0.1)) }
        settled.finished.forEach { $0.succeed() }
        return (settled.succeeded.count, settled.failed.map(\.1))
    }

    @Test func anAcknowledgementWaitsForTheRoundThatWritesItsRecord() throws {
        var inbox = self.inbox(waitsForSync: false)
        let (count, refusal, wake) = inbox.accept(self.messages(1...3), backlogFrom: nil)
        #expect(count == 3 && refusal == nil && wake == .startWriter)
        #expect(inbox.accept(self.messages(4...4), backlogFrom: nil).wake == .none, "the writer is running")
        let promise = self.loop.makePromise(of: Void.self)
        #expect(inbox.wait(from: 1, through: 3, promise) == .wait(.none))
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        #expect(round.entries.count == 4 && !round.sync, "one round takes everything queued; no fsync without always")
        #expect(self.complete(inbox.roundEnded(round, self.written())).succeeded == 1)
        #expect(inbox.written == 4 && inbox.durable == 0)
        #expect(self.stops(&inbox), "nothing left: the writer stops")
        #expect(self.wait(&inbox, 4, 4) == .succeedNow)
    }

    @Test func withFsyncAlwaysOneCommitSettlesEveryWaitItCovers() throws {
        var inbox = self.inbox(waitsForSync: true)
        _ = inbox.accept(self.messages(1...2), backlogFrom: nil)
        let first = self.loop.makePromise(of: Void.self)
        #expect(inbox.wait(from: 1, through: 1, first) == .wait(.none))
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        #expect(round.sync, "an acknowledgement waits for the disk")
        _ = inbox.accept(self.messages(3...3), backlogFrom: nil)
        let second = self.loop.makePromise(of: Void.self)
        let third = self.loop.makePromise(of: Void.self)
        #expect(inbox.wait(from: 2, through: 2, second) == .wait(.none), "written in the running round")
        #expect(inbox.wait(from: 3, through: 3, third) == .wait(.none))
        #expect(self.complete(inbox.roundEnded(round, self.written())).succeeded == 2)
        #expect(inbox.durable == 2)
        let nextTaken = inbox.nextRound()
        let next = try #require(nextTaken, "3 is queued and waited for")
        #expect(next.sync && next.entries.count == 1)
        #expect(self.complete(inbox.roundEnded(next, self.written())).succeeded == 1)
        #expect(self.stops(&inbox))
    }

    @Test func aWaitForARecordWrittenButNotFlushedStartsACommit() throws {
        var inbox = self.inbox(waitsForSync: true)
        _ = inbox.accept(self.messages(1...1), backlogFrom: nil)
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        #expect(!round.sync, "nobody waits yet")
        _ = self.complete(inbox.roundEnded(round, self.written()))
        #expect(self.stops(&inbox))
        let promise = self.loop.makePromise(of: Void.self)
        #expect(inbox.wait(from: 1, through: 1, promise) == .wait(.startWriter))
        let commitTaken = inbox.nextRound()
        let commit = try #require(commitTaken)
        #expect(commit.sync && commit.entries.isEmpty)
        #expect(self.complete(inbox.roundEnded(commit, self.written())).succeeded == 1)
    }

    @Test func aFailedWriteFailsTheWaitsItCoversAndOnlyThose() throws {
        var inbox = self.inbox(waitsForSync: false)
        _ = inbox.accept(self.messages(1...2), backlogFrom: nil)
        let covered = self.loop.makePromise(of: Void.self)
        #expect(inbox.wait(from: 2, through: 2, covered) == .wait(.none))
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        var failed = self.written()
        failed.writeFailure = "No space left on device"
        #expect(self.complete(inbox.roundEnded(round, failed)).failed == ["No space left on device"])
        #expect(inbox.written == 0)
        _ = inbox.accept(self.messages(3...3), backlogFrom: nil)
        let nextTaken = inbox.nextRound()
        let next = try #require(nextTaken)
        _ = self.complete(inbox.roundEnded(next, self.written()))
        #expect(inbox.written == 3)
        #expect(self.wait(&inbox, 3, 3) == .succeedNow)
        #expect(
            self.wait(&inbox, 1, 3) == .failNow("No space left on device"),
            "a later write does not make 1 and 2 written")
    }

    @Test func aFailedFsyncFailsTheWaitsForWhatItShouldHaveCovered() throws {
        var inbox = self.inbox(waitsForSync: true)
        _ = inbox.accept(self.messages(1...1), backlogFrom: nil)
        let promise = self.loop.makePromise(of: Void.self)
        _ = inbox.wait(from: 1, through: 1, promise)
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        var result = self.written()
        result.syncFailure = "Input/output error"
        #expect(self.complete(inbox.roundEnded(round, result)).failed == ["Input/output error"])
        #expect(inbox.durable == 0)
    }

    @Test func callsBeyondTheMaximumAreRefusedUntilARoundFreesRoom() throws {
        let reserve = SpoolFormatTests.message(1).recordLength
        var inbox = self.inbox(
            waitsForSync: false, maximumBytes: 1000 + 2 * reserve + SpoolInbox.slackBytes, diskBytes: 1000)
        let accepted = inbox.accept(self.messages(1...3), backlogFrom: nil)
        #expect(accepted.count == 2 && accepted.refusal == .full, "two fit, counting the queued one")
        #expect(!inbox.hasRoom(forRecord: reserve))
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        #expect(round.reservedBytes == 2 * reserve)
        #expect(!inbox.roundEnded(round, self.written(bytes: 1000 + 2 * reserve)).roomFreed, "written, still full")
        _ = inbox.resolve([1, 2])
        let outcomes = inbox.nextRound()
        let resolved = try #require(outcomes)
        let settled = inbox.roundEnded(resolved, self.written(bytes: 900))
        #expect(settled.roomFreed, "the round deleted a segment: the refused call may come")
        #expect(inbox.hasRoom(forRecord: reserve))
    }

    @Test func aWriterBehindByTheQueueLimitMakesCallsWaitUntilItCatchesUp() throws {
        var inbox = self.inbox(waitsForSync: false, maximumBytes: 1 << 40)
        let calls = self.messages(1...200_000)
        // Calls are taken while less than the limit is queued.
        var (fitting, queued) = (0, 0)
        while queued < SpoolInbox.queueLimitBytes {
            queued += calls[fitting].recordLength
            fitting += 1
        }
        let accepted = inbox.accept(calls, backlogFrom: nil)
        #expect(accepted.count == fitting && accepted.refusal == .busy)
        let taken = inbox.nextRound()
        let round = try #require(taken)
        #expect(round.entries.count == fitting)
        #expect(inbox.roundEnded(round, self.written(bytes: queued)).roomFreed, "the queue is empty again")
        #expect(inbox.accept(self.messages(UInt64(fitting + 1)...UInt64(fitting + 1)), backlogFrom: nil).count == 1)
    }

    @Test func theBacklogIsMarkedAtItsFirstCallAndReadAfterTheWrite() throws {
        var inbox = self.inbox(waitsForSync: false)
        _ = inbox.accept(self.messages(1...3), backlogFrom: 1)
        _ = inbox.readBacklog(limit: 2)
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        let flags = round.entries.map { entry -> String in
            switch entry {
            case .accepted(_, let backlog, let starts): "\(backlog ? "backlog" : "memory")\(starts ? " starts" : "")"
            case .resolved, .learned: "resolved"
            }
        }
        #expect(flags == ["memory", "backlog starts", "backlog"])
        #expect(round.backlogLimit == 2)
        _ = self.complete(inbox.roundEnded(round, self.written()))
    }

    @Test func finishingWritesAndFlushesWhatIsQueued() throws {
        var inbox = self.inbox(waitsForSync: false)
        _ = inbox.resolve([7, 8])
        let done = self.loop.makePromise(of: Void.self)
        #expect(inbox.finish(done) == .none, "the writer was started by the outcomes")
        let roundTaken = inbox.nextRound()
        let round = try #require(roundTaken)
        #expect(round.sync && round.entries.count == 2 && round.finishers.count == 1)
        _ = self.complete(inbox.roundEnded(round, self.written()))
        #expect(self.stops(&inbox))
    }
}
