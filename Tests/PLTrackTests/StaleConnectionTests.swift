import PLTrack
import PLTrackTestSupport
import Testing

/// A request that meets a kept connection the server had let go meanwhile goes again on a
/// fresh connection, once, and does not count as a failed attempt.
struct StaleConnectionTests {
    @Test func aRequestOnAConnectionTheServerLetGoGoesAgainOnAFreshOne() async throws {
        // Each connection answers one request and closes, unanswered, at the next.
        let upstream = try await FakeUpstream(requestsPerConnection: 1)
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.maximumInFlight = 1
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client in
            for index in 1...20 {
                try await client.send(DeliveryTests.prompt(index))
                // One at a time, so that each but the first finds the kept connection.
                #expect(try await client.flush()?["ok"] == .bool(true))
            }
            let stats = try await client.stats()
            #expect(stats?["delivered"]?.integer == 20)
            #expect(stats?["upstream_stale_connections"]?.integer == 19)
            #expect(stats?["upstream_failures"]?.integer == 0, "a stale connection is not a failed attempt")
            #expect(stats?["retries"]?.integer == 0)
        }
        #expect(upstream.succeeded.compactMap { $0.json?["request_id"]?.integer } == (1...20).map(Int64.init))
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }
}
