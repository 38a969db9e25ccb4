import Foundation
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// End to end over a real Unix socket, delivering to a real HTTP server on loopback.
struct DeliveryTests {
    static func prompt(_ requestID: Int, id: String? = nil, extra: String = "") -> String {
        let idMember = id.map { #","id":"\#($0)""# } ?? ""
        return #"{"type":"track.prompt","prompt_name":"welcome","request_id":\#(requestID)\#(idMember)\#(extra)}"#
    }

    @Test func aTrackedPromptReachesPromptLayerExactlyAsSent() async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        let message =
            #"{"type":"track.prompt","id":"r1","prompt_name":"support","request_id":9007199254740993,"prompt_input_variables":{"user":"é"},"version":2,"x_extra":[1.50]}"#
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(message) == .object(["id": .string("r1"), "ok": .bool(true)]))
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        let received = upstream.succeeded
        #expect(received.count == 1)
        #expect(received.first?.path == "/rest/track-prompt")
        #expect(received.first?.apiKey == upstream.expectedAPIKey)
        #expect(
            received.first.map { String(decoding: $0.body, as: UTF8.self) }
                == #"{"prompt_name":"support","request_id":9007199254740993,"prompt_input_variables":{"user":"é"},"version":2,"x_extra":[1.50]}"#
        )
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func rateLimitedAndFailingRequestsAreRetriedUntilDelivered() async throws {
        // Every call is refused twice (429 with Retry-After, then 500) before it is taken.
        let upstream = try await FakeUpstream { _, attempt in
            switch attempt {
            case 0: .init(status: 429, retryAfter: "0")
            case 1: .init(status: 500)
            default: .success
            }
        }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...20 {
                try await client.send(Self.prompt(requestID))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["delivered"]?.integer == 20)
            #expect(stats?["retries"]?.integer == 40)
            #expect(stats?["ledger_balances"] == .bool(true))
        }
        let delivered = upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }
        #expect(delivered.sorted() == Array(1...20))
        #expect(upstream.requests.count == 60)
        #expect(upstream.violations.isEmpty)
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func aLaterCallForARequestWinsUpstreamEvenWhenTheEarlierOneIsRetried() async throws {
        // Every call's first attempt fails: revision 1 waits out a backoff while later ones arrive.
        let upstream = try await FakeUpstream { _, attempt in attempt == 0 ? .init(status: 500) : .success }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) { $0.coalescingWindow = .zero }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for revision in 1...5 {
                try await client.send(Self.prompt(7, extra: #","prompt_input_variables":{"revision":\#(revision)}"#))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect((stats?["delivered"]?.integer ?? 0) + (stats?["coalesced"]?.integer ?? 0) == 5)
            #expect(stats?["ledger_balances"] == .bool(true))
        }
        let revisions = upstream.succeeded.compactMap { $0.json?["prompt_input_variables"]?["revision"]?.integer }
        #expect(revisions.last == 5, "the newest values are the last PromptLayer stores")
        #expect(revisions == revisions.sorted() && Set(revisions).count == revisions.count, "in order: \(revisions)")
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func refusedRequestsGoToTheDeadLettersWithTheReason() async throws {
        let upstream = try await FakeUpstream { request, _ in
            request.json?["request_id"]?.integer == 2
                ? .init(status: 400, body: #"{"message":"unknown prompt"}"#) : .success
        }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...3 {
                try await client.send(Self.prompt(requestID))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["delivered"]?.integer == 2)
            #expect(stats?["dead_lettered"]?.integer == 1)
        }
        let letters = try daemon.jsonLines(daemon.daemon.configuration.deadLetterPath)
        #expect(letters.count == 1)
        #expect(letters.first?["status"]?.integer == 400)
        #expect(letters.first?["reason"]?.string == "rejected")
        #expect(letters.first?["response"]?.string == #"{"message":"unknown prompt"}"#)
        #expect(letters.first?["body"]?["request_id"]?.integer == 2)
        try await daemon.stop()
        await upstream.stop()
        try Self.expectKeyNowhere(upstream.expectedAPIKey, in: daemon)
    }

    @Test func callsForTheSameRequestCoalesceToTheNewest() async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        // A window far longer than the test: only the flush releases the calls.
        let daemon = try await DaemonHarness(upstream: upstream) { $0.coalescingWindow = .seconds(600) }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for revision in 1...3 {
                try await client.send(Self.prompt(1, extra: #","label":"rev-\#(revision)""#))
            }
            try await client.send(Self.prompt(2))
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["accepted"]?.integer == 4)
            #expect(stats?["coalesced"]?.integer == 2)
            #expect(stats?["delivered"]?.integer == 2)
        }
        let labels = upstream.succeeded.compactMap { $0.json?["label"]?.string }
        #expect(labels == ["rev-3"])
        #expect(upstream.succeeded.count == 2)
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func aFullQueueStopsReadingAndLosesNothing() async throws {
        let upstream = try await FakeUpstream { _, _ in .init(status: 200, delay: .milliseconds(2)) }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.queueCapacity = 8
            $0.maximumInFlight = 2
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in 0..<4 {
                group.addTask {
                    try await TestClient.connect(to: daemon.socketPath) { client async throws in
                        try await client.writer.send(
                            contentsOf: (0..<100).map { Array(Self.prompt(connection * 1000 + $0).utf8) })
                        #expect(try await client.request(#"{"type":"ping","id":"p"}"#)?["ok"] == .bool(true))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["delivered"]?.integer == 400)
            #expect((stats?["backpressure_pauses"]?.integer ?? 0) > 0)
        }
        let delivered = upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }
        #expect(Set(delivered).count == 400 && delivered.count == 400)
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func flushAnswersTimeoutWhileUpstreamIsDownAndTheCallsAreKept() async throws {
        let upstream = try await FakeUpstream { _, _ in .init(status: 503) }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) { $0.drainTimeout = .milliseconds(100) }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(Self.prompt(1))
            let reply = try await client.flush(timeoutMilliseconds: 200)
            #expect(reply?["ok"] == .bool(false))
            #expect(reply?["error"]?["code"]?.string == "timeout")
            let stats = try await client.stats()
            #expect(stats?["held"]?.integer == 1)
            #expect(stats?["delivered"]?.integer == 0)
        }
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func aCallRetriedPastItsMaximumAgeIsDeadLetteredAsExpired() async throws {
        let upstream = try await FakeUpstream { _, _ in .init(status: 503, body: "down for maintenance") }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) { $0.maximumAge = .seconds(3600) }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(Self.prompt(5))
            // Refused at least once, however slow the machine; then --max-age is cut (as a
            // reload would), so the call expires at its next attempt or when it is next due.
            try await waitUntil("PromptLayer to refuse the call once") { !upstream.requests.isEmpty }
            var shorter = daemon.daemon.live.current
            shorter.maximumAge = .milliseconds(1)
            _ = daemon.daemon.live.reload(from: shorter)
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["dead_lettered"]?.integer == 1)
            #expect(stats?["held"]?.integer == 0)
        }
        let letters = try daemon.jsonLines(daemon.daemon.configuration.deadLetterPath)
        #expect(letters.first?["reason"]?.string == "expired")
        #expect(letters.first?["status"]?.integer == 503)
        #expect(letters.first?["response"]?.string == "down for maintenance")
        #expect((letters.first?["attempts"]?.integer ?? 0) >= 1)
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func withoutAKeyEveryCallLandsInTheOutbox() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(Self.prompt(42, id: "a"))?["ok"] == .bool(true))
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        let lines = try daemon.jsonLines(daemon.daemon.configuration.outboxPath)
        #expect(
            lines == [
                .object([
                    "path": .string("/rest/track-prompt"),
                    "body": .object(["prompt_name": .string("welcome"), "request_id": .integer(42)]),
                ])
            ])
        try await daemon.stop()
    }

    /// The API key must appear in no file the daemon wrote.
    static func expectKeyNowhere(_ key: String, in daemon: DaemonHarness) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: daemon.directory.path)
        for file in files {
            let contents =
                FileManager.default.contents(atPath: daemon.directory.appendingPathComponent(file).path) ?? Data()
            #expect(!String(decoding: contents, as: UTF8.self).contains(key), "the API key leaked into \(file)")
        }
    }
}
