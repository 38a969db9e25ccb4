import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The delivery governor in a running daemon, against a real HTTP server on loopback: what
/// PromptLayer says about slowing down holds every worker, no Retry-After can wedge a call,
/// and waiting for PromptLayer is not mistaken for a stuck request.
struct DeliveryGovernorDaemonTests {
    static func prompt(_ requestID: Int) -> String {
        #"{"type":"track.prompt","prompt_name":"p","request_id":\#(requestID)}"#
    }

    @Test func whilePromptLayerIsUnreachableNoWorkerWaitingForItCountsAsARequestOnItsWay() async throws {
        let down = try await FakeUpstream.unreachable()
        defer { down.close() }
        let daemon = try await DaemonHarness(upstream: down) { $0.coalescingWindow = .zero }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...100 {
                try await client.send(Self.prompt(requestID))
            }
            #expect(try await client.request(#"{"type":"ping","id":"read"}"#)?["ok"] == .bool(true))
        }
        try await waitUntil("the upstream circuit to open") {
            daemon.daemon.statsSnapshot().upstreamCircuit != "closed"
        }
        // Between probes nothing is on its way: the workers wait without a call, so the
        // watchdog sees no request outliving its timeout however long the outage lasts.
        // (Before the governor, every worker held a call and counted it as an attempt while it
        // waited for the circuit, and this never held.)
        try await waitUntil("a moment with no attempt on its way while PromptLayer is unreachable") {
            daemon.daemon.workerActivity.oldestStart == nil
        }
        let stats = daemon.daemon.statsSnapshot()
        #expect(stats.held == 100)
        #expect(stats.upstreamSending <= 1, "one probe at a time")
        try await daemon.stop()
    }

    @Test func aHugeRetryAfterDoesNotHoldTheCallOrTheCallsBehindIt() async throws {
        let answered = NIOLockedValueBox(0)
        let upstream = try await FakeUpstream { _, _ in
            let first = answered.withLockedValue { count in
                count += 1
                return count == 1
            }
            return first ? .init(status: 503, retryAfter: "99999999999") : .success
        }
        defer { upstream.close() }
        // --retry-cap 1s: neither the call's own backoff nor the pause may wait longer.
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.retryPolicy = RetryPolicy(base: .milliseconds(5), cap: .seconds(1))
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(Self.prompt(7))
            try await waitUntil("PromptLayer to answer the first attempt") { answered.withLockedValue { $0 } >= 1 }
            try await client.send(#"{"type":"track.score","request_id":7,"score":90}"#)
            let flush = try await client.flush()
            #expect(flush?["ok"] == .bool(true), "\(String(describing: flush))")
        }
        let delivered = upstream.succeeded.map(\.path)
        #expect(delivered == ["/rest/track-prompt", "/rest/track-score"], "both, in order")
        let stats = daemon.daemon.statsSnapshot()
        #expect(stats.upstreamRefusals == 1)
        #expect(stats.held == 0 && stats.ledgerBalances)
        try await daemon.stop()
    }

    @Test func aRetryAfterPausesEveryWorkerNotOnlyTheRefusedCall() async throws {
        // One request at a time, so that the order of arrivals is the order of sending.
        let arrivals = NIOLockedValueBox<[(path: String, at: NIODeadline)]>([])
        let upstream = try await FakeUpstream { request, _ in
            let count = arrivals.withLockedValue { list in
                list.append((request.path, .now()))
                return list.count
            }
            return count == 1 ? .init(status: 429, retryAfter: "1") : .success
        }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.maximumInFlight = 1
            $0.retryPolicy = RetryPolicy(base: .milliseconds(5), cap: .seconds(30))
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...5 {
                try await client.send(Self.prompt(requestID))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        let times = arrivals.withLockedValue { $0.map(\.at) }
        #expect(times.count == 6, "one refused, five delivered")
        guard let refused = times.first, times.count > 1 else {
            return
        }
        // The 429 said one second: no call, the refused one or any other, arrived sooner. (A
        // slow machine only makes the gap longer.)
        let gap = times[1] - refused
        #expect(gap >= .milliseconds(950), "the next request came \(gap.nanoseconds / 1_000_000) ms after the 429")
        #expect(daemon.daemon.statsSnapshot().upstreamRefusals == 1)
        try await daemon.stop()
    }

    @Test func aCallThatWaitedOutAPausePastItsMaximumAgeIsDeadLetteredWithoutBeingSent() async throws {
        let upstream = try await FakeUpstream { _, _ in .init(status: 429, retryAfter: "2") }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.maximumInFlight = 1
            $0.maximumAge = .seconds(3600)
            $0.retryPolicy = RetryPolicy(base: .milliseconds(5), cap: .seconds(30))
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...3 {
                try await client.send(Self.prompt(requestID))
            }
            // Once the first call is refused, --max-age is cut (as a reload would) while the
            // pause holds every worker, however slow the machine.
            try await waitUntil("PromptLayer to refuse the first call") { !upstream.requests.isEmpty }
            var shorter = daemon.daemon.live.current
            shorter.maximumAge = .milliseconds(1)
            _ = daemon.daemon.live.reload(from: shorter)
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        // When the pause ended, all three were older than --max-age: none was sent again.
        #expect(upstream.requests.count == 1)
        let letters = try daemon.jsonLines(daemon.daemon.configuration.deadLetterPath)
        #expect(letters.count == 3)
        #expect(letters.allSatisfy { $0["reason"]?.string == "expired" }, "\(letters)")
        let stats = daemon.daemon.statsSnapshot()
        #expect(stats.deadLettered == 3 && stats.ledgerBalances)
        try await daemon.stop()
    }
}
