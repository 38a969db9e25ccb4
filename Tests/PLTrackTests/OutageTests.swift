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
        let daemon = try await DaemonHarness(upstream: down) { configuration in
            configuration.queueCapacity = 50_000
            configuration.coalescingWindow = .zero
        }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...count {
                try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":\#(requestID)}"#)
            }
            #expect(try await client.request(#"{"type":"ping","id":"read"}"#)?["ok"] == .bool(true))
        }
        // The circuit opens after a few refused connections.
        let opened = ContinuousClock.now
        while daemon.daemon.statsSnapshot().upstreamCircuit == "closed", ContinuousClock.now - opened < .seconds(60) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(daemon.daemon.statsSnapshot().upstreamCircuit != "closed")
        let before = daemon.daemon.statsSnapshot().upstreamFailures
        let watchStart = ContinuousClock.now
        try await Task.sleep(for: .seconds(3))
        let attempts = daemon.daemon.statsSnapshot().upstreamFailures - before
        let seconds = Double((ContinuousClock.now - watchStart).components.seconds) + 1
        // At most 10 per second while open (a slow machine makes fewer, never more).
        #expect(Double(attempts) <= 10 * seconds, "\(attempts) attempts in about \(seconds) s")
        #expect(daemon.daemon.statsSnapshot().held == UInt64(count))

        let up = try await down.restarted()
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush(timeoutMilliseconds: 300_000)?["ok"] == .bool(true))
        }
        let delivered = up.succeeded.compactMap { $0.json?["request_id"]?.integer }
        #expect(delivered.count == count, "each call once")
        #expect(Set(delivered).count == count)
        let stats = daemon.daemon.statsSnapshot()
        #expect(stats.delivered == UInt64(count) && stats.ledgerBalances)
        #expect(stats.upstreamCircuit == "closed")
        #expect(stats.upstreamUnreachableEpisodes >= 1)
        try await daemon.stop()
        await up.stop()
        daemon.removeFiles()
    }
}
