import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// `log.request` and the calls that name its ref, end to end: against the real executable and
/// a real HTTP server that answers each log with an id, as PromptLayer does.
@Suite(.serialized)
struct LogRequestDaemonTests {
    /// A log for `ref`, carrying the ref in its metadata so the server's side can tell them apart.
    static func log(_ ref: String, id: Bool = true) -> String {
        let reply = id ? #","id":"log-\#(ref)""# : ""
        return
            #"{"type":"log.request","ref":"\#(ref)","provider":"openai","model":"gpt-4o","input":{"type":"chat","messages":[{"role":"user","content":"hi"}]},"output":{"type":"chat","messages":[]},"request_start_time":"2024-01-15T10:30:00Z","request_end_time":1705314605.5,"metadata":{"ref":"\#(ref)"}\#(reply)}"#
    }

    static func score(_ ref: String, _ score: Int, id: Bool = true) -> String {
        let reply = id ? #","id":"score-\#(ref)""# : ""
        // Named, so it has no place in the log's body and goes after it with the id.
        return #"{"type":"track.score","request_ref":"\#(ref)","score":\#(score),"name":"quality"\#(reply)}"#
    }

    /// A server that refuses for good the log whose metadata names the ref `refused`.
    static func refusingTheLogOfRefRefused() async throws -> FakeUpstream {
        try await FakeUpstream { request, _ in
            request.path == "/log-request" && request.json?["metadata"]?["ref"]?.string == "refused"
                ? .init(status: 400, body: #"{"success":false,"message":"bad log"}"#) : .success
        }
    }

    /// The id the server answered each ref's log with, by the ref in the log's metadata.
    static func loggedIDs(_ upstream: FakeUpstream) -> [String: [Int64]] {
        Dictionary(grouping: upstream.logged) { $0.request.json?["metadata"]?["ref"]?.string ?? "" }
            .mapValues { $0.map(\.id) }
    }

    /// The server answers every log and refuses every score with 500. The daemon is killed once
    /// each log is answered and recorded, while the scores that waited for them are being
    /// retried; it restarts against a second server that takes everything (so an attempt the
    /// first server had not answered at the kill cannot arrive too). There, each score arrives
    /// once with its log's id, and no log is sent again.
    @Test func aKillBetweenALogsAnswerAndItsCallsLosesNothingAndLogsNothingTwice() async throws {
        let count = 200
        let upstream = try await FakeUpstream { request, _ in
            request.path == "/rest/track-score" ? .init(status: 500) : .success
        }
        defer { upstream.close() }
        let taking = try await FakeUpstream(expectedAPIKey: upstream.expectedAPIKey)
        defer { taking.close() }
        let directory = SpoolDurabilityTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let refs = (0..<count).map { "kill-\($0)" }
        let first = try await DaemonProcess(directory: directory, upstream: upstream)
        defer { first.killIfRunning() }
        try await TestClient.connect(to: first.socketPath) { client in
            // Half the scores come before their log, half after.
            for (index, ref) in refs.enumerated() {
                let pair = [Self.log(ref), Self.score(ref, index % 101)]
                for message in index.isMultiple(of: 2) ? pair.reversed() : pair {
                    try await client.send(message)
                }
            }
            for _ in 0..<(2 * count) {
                #expect(try await client.reply()?["ok"] == .bool(true))
            }
            try await waitFor("every log answered and recorded, every score tried") {
                let stats = try await client.stats()
                let tried = Set(upstream.requests.filter { $0.path == "/rest/track-score" }.map(\.body)).count
                return upstream.logged.count == count && tried == count
                    && stats?["spool"]?["records"]?.integer == Int64(count) ? stats : nil
            }
        }
        _ = await first.kill()
        await upstream.stop()

        let second = try await DaemonProcess(directory: directory, upstream: taking)
        defer { second.killIfRunning() }
        let stats = try await TestClient.connect(to: second.socketPath) { client in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await SpoolDurabilityTests.statsOnceTheSpoolIsEmpty(client)
        }
        #expect(stats["spool"]?["recovered"]?.integer == Int64(count), "the scores, not the logs")
        #expect(stats["ledger_balances"] == .bool(true))
        #expect(upstream.requests.count { $0.path == "/log-request" } == count)
        #expect(!taking.requests.contains { $0.path == "/log-request" }, "no log is sent twice")
        let ids = Self.loggedIDs(upstream)
        let scores = taking.succeeded.filter { $0.path == "/rest/track-score" }
        // Once: a score arrives twice only when an attempt got no answer, which the daemon counts.
        let duplicates = scores.count - Set(scores.map(\.body)).count
        let failures = stats["upstream_failures"]?.integer ?? 0
        let inFlight = stats["spool"]?["recovered_in_flight"]?.integer ?? 0
        #expect(Set(scores.map(\.body)).count == count, "each score arrives")
        #expect(Int64(duplicates) <= failures, "\(duplicates) duplicates, \(failures) attempts without an answer")
        print(
            "log kill: \(count) logs answered once, \(scores.count) score deliveries, \(duplicates) duplicates, \(failures) attempts without an answer, \(inFlight) in flight at the kill, \(stats["upstream_requests"]?.integer ?? -1) upstream requests"
        )
        for (index, ref) in refs.enumerated() {
            let logged = ids[ref] ?? []
            #expect(logged.count == 1)
            let arrived = scores.filter { $0.json?["score"]?.integer == Int64(index % 101) }.compactMap {
                $0.json?["request_id"]?.integer
            }
            #expect(logged.allSatisfy { arrived.contains($0) }, "\(ref): its score names its log's id")
        }
        #expect(upstream.violations.isEmpty && taking.violations.isEmpty, "\(upstream.violations + taking.violations)")
        _ = await second.stop()
        await taking.stop()
    }

    /// A log's answer outlives its spool segment: once the segment is deleted (the calls
    /// after it filled and freed newer ones), a restarted daemon still sends a score that names
    /// the ref with the id, and does not log the request again.
    @Test func aLogsIDOutlivesItsSegmentAndARestart() async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let directory = SpoolDurabilityTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 1 MiB of spool: 64 KiB segments.
        let arguments = ["--spool-max-bytes", "1MiB"]
        let first = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
        defer { first.killIfRunning() }
        let padding = String(repeating: "x", count: 1000)
        try await TestClient.connect(to: first.socketPath) { client in
            try await client.send(Self.log("outlived", id: false))
            #expect(try await client.flush()?["ok"] == .bool(true))
            for index in 0..<300 {
                try await client.send(
                    #"{"type":"track.metadata","request_id":\#(index + 1),"metadata":{"pad":"\#(padding)"}}"#)
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            try await waitFor("the log's segment deleted, its answer carried") {
                let stats = try await client.stats()
                return stats?["spool"]?["refs_carried"]?.integer == 1 ? stats : nil
            }
        }
        _ = await first.stop()

        let second = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
        defer { second.killIfRunning() }
        let stats = try await TestClient.connect(to: second.socketPath) { client in
            try await client.send(Self.score("outlived", 7, id: false))
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await client.stats()
        }
        let logged = try #require(Self.loggedIDs(upstream)["outlived"])
        #expect(logged.count == 1, "the request is logged once")
        let score = upstream.succeeded.first { $0.path == "/rest/track-score" }
        #expect(score?.json?["request_id"] == .integer(logged[0]))
        #expect(stats?["waiting_for_log"]?.integer == 0 && stats?["delivered"]?.integer == 1)
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        _ = await second.stop()
        await upstream.stop()
    }

    /// A `request_id` query is answered with the id PromptLayer gave the log with its ref:
    /// once it comes when asked before, at once when asked after; `log_failed` for a log refused
    /// for good, `timeout` for a ref never logged. Replies keep their order on the connection.
    @Test func aRequestIDQueryIsAnsweredWithTheLogsID() async throws {
        let upstream = try await Self.refusingTheLogOfRefRefused()
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client in
            try await client.send(#"{"type":"request_id","ref":"asked","id":"before","timeout_ms":600000}"#)
            try await client.send(#"{"type":"ping","id":"after-query"}"#)
            try await client.send(Self.log("asked", id: false))
            let before = try await client.reply()
            let logged = try #require(Self.loggedIDs(upstream)["asked"]?.first)
            #expect(
                before?["id"] == .string("before") && before?["request_id"] == .integer(logged),
                "\(String(describing: before))")
            #expect(try await client.reply()?["id"] == .string("after-query"), "the ping's reply waited its turn")

            try await client.send(#"{"type":"request_id","ref":"asked","id":"again"}"#)
            #expect(try await client.reply()?["request_id"] == .integer(logged))

            try await client.send(Self.log("refused", id: false))
            try await client.send(#"{"type":"request_id","ref":"refused","id":"refused"}"#)
            let refused = try await client.reply()
            #expect(refused?["error"]?["code"] == .string("log_failed"), "\(String(describing: refused))")

            try await client.send(#"{"type":"request_id","ref":"never","id":"never","timeout_ms":1}"#)
            let never = try await client.reply()
            #expect(never?["error"]?["code"] == .string("timeout"), "\(String(describing: never))")
        }
        try await daemon.stop()
        await upstream.stop()
    }

    /// A log PromptLayer refuses for good goes to the dead letters, and so do the calls that
    /// name its ref, each with the reason and the ref; another request's calls go on.
    @Test func aLogRefusedForGoodSendsItsCallsToTheDeadLetters() async throws {
        let upstream = try await Self.refusingTheLogOfRefRefused()
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client in
            for message in [
                Self.score("refused", 1, id: false), Self.log("refused", id: false), Self.log("taken", id: false),
                #"{"type":"track.group","request_ref":"refused","group_id":4}"#, Self.score("taken", 2, id: false),
            ] {
                try await client.send(message)
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["refused"]?["log_failed"]?.integer == 2)
            #expect(stats?["dead_lettered"]?.integer == 3 && stats?["delivered"]?.integer == 2)
            #expect(stats?["ledger_balances"] == .bool(true))
        }
        let letters = try ProtocolFilesTests.deadLetters(in: daemon)
        #expect(letters.map { $0["reason"]?.string } == ["rejected", "log_failed", "log_failed"])
        #expect(letters.map { $0["request_ref"]?.string } == ["refused", "refused", "refused"])
        #expect(letters.map { $0["path"]?.string } == ["/log-request", "/rest/track-score", "/rest/track-group"])
        let taken = try #require(Self.loggedIDs(upstream)["taken"]?.first)
        let score = upstream.succeeded.first { $0.path == "/rest/track-score" }
        #expect(score?.json?["request_id"] == .integer(taken))
        try await daemon.stop()
        await upstream.stop()
    }
}
