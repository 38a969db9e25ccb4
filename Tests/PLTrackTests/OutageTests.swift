import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// While PromptLayer refuses connections, held calls do not each retry on their own: the
/// circuit opens and one probe at a time goes out. When PromptLayer is back, everything is
/// delivered exactly once.
struct OutageTests {
    @Test func duringAnOutageOfTwentyThousandHeldCallsTheDaemonProbesCalmlyThenDeliversEachOnce() async throws {
        let count = 20_000
        let down = try await FakeUpstream.unreachable()
        defer { down.close() }
        let daemon = try await DaemonHarness(upstream: down) { configuration in
            configuration.queueCapacity = 50_000
            configuration.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...count {
                try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":\#(requestID)}"#)
            }
            #expect(try await client.request(#"{"type":"ping","id":"read"}"#)?["ok"] == .bool(true))
        }
        // The circuit opens after a few refused connections.
        try await waitUntil("the upstream circuit to open", limit: .seconds(60)) {
            daemon.daemon.statsSnapshot().upstreamCircuit != "closed"
        }
        let before = daemon.daemon.statsSnapshot().upstreamFailures
        let watchStart = ContinuousClock.now
        try await Task.sleep(for: .seconds(3))
        let attempts = daemon.daemon.statsSnapshot().upstreamFailures - before
        let seconds = Double((ContinuousClock.now - watchStart).components.seconds) + 1
        // The issue's bound, deliberately loose: at most 10 attempts per second while the circuit
        // is open (a slow machine makes fewer, never more). Without the circuit, 20,000 held
        // calls would each retry on their own, far above it.
        #expect(Double(attempts) <= 10 * seconds, "\(attempts) attempts in about \(seconds) s")
        #expect(daemon.daemon.statsSnapshot().held == UInt64(count))

        let up = try await down.restarted()
        defer { up.close() }
        let unansweredBefore = daemon.daemon.statsSnapshot().upstreamFailures
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        let delivered = up.succeeded.compactMap { $0.json?["request_id"]?.integer }
        let stats = daemon.daemon.statsSnapshot()
        // At least once: a call arrives twice only when an attempt got no answer after the
        // server took it, which the daemon counts; with nothing unanswered, each arrives once.
        let unanswered = stats.upstreamFailures - unansweredBefore
        #expect(delivered.count - count <= unanswered, "\(delivered.count) arrivals, \(unanswered) unanswered")
        #expect(Set(delivered).count == count)
        #expect(stats.delivered == UInt64(count) && stats.ledgerBalances)
        #expect(stats.upstreamCircuit == "closed")
        #expect(stats.upstreamUnreachableEpisodes >= 1)
        print(
            "outage with the circuit open: \(attempts) upstream attempts in about \(Int(seconds)) s with \(count) calls held; then \(delivered.count) delivered, \(Set(delivered).count) distinct"
        )
        try await daemon.stop()
        await up.stop()
    }
}
