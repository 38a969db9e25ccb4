import Foundation
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// HTTP/2 when the upstream offers it over TLS: calls go as streams over a few connections; a
/// server that only speaks HTTP/1.1 is served as before; streams a server says with `GOAWAY` it
/// will not process go again on a fresh connection, each call taken once.
@Suite(.enabled(if: BuildProducts.onPath("openssl") != nil, "needs the openssl command (Debian package openssl)"))
struct HTTP2DeliveryTests {
    static let bothProtocols = ["h2", "http/1.1"]

    /// Sends `count` calls with request ids 1...count and waits until all are delivered.
    static func deliver(_ count: Int, through daemon: DaemonHarness) async throws -> JSONValue? {
        try await TestClient.connect(to: daemon.socketPath) { client in
            for index in 1...count {
                try await client.send(DeliveryTests.prompt(index))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await client.stats()
        }
    }

    /// The request ids the upstream took, in order: `1...count` once each when nothing went twice.
    static func takenRequestIDs(_ upstream: FakeUpstream) -> [Int64] {
        upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }.sorted()
    }

    /// A daemon trusting `ca`, with `inFlight` requests at once, one HTTP/2 connection per
    /// event-loop thread, and no coalescing.
    static func daemon(for upstream: FakeUpstream, trusting ca: TestCertificateAuthority, inFlight: Int)
        async throws -> DaemonHarness
    {
        try await DaemonHarness(upstream: upstream) {
            $0.upstreamCAFile = ca.certificatePath
            $0.maximumInFlight = inFlight
            $0.http2Connections = 1
            $0.coalescingWindow = .zero
        }
    }

    @Test func callsGoAsStreamsOverAFewConnections() async throws {
        let ca = try await UpstreamTLSTests.authority()
        defer { ca.remove() }
        let upstream = try await FakeUpstream(
            tls: try ca.serverContext(applicationProtocols: Self.bothProtocols),
            script: { _, _ in FakeUpstream.Answer(status: 200, delay: .milliseconds(20)) })
        defer { upstream.close() }
        let daemon = try await Self.daemon(for: upstream, trusting: ca, inFlight: 64)
        defer { daemon.tearDown() }
        let stats = try await Self.deliver(400, through: daemon)
        #expect(stats?["delivered"]?.integer == 400)
        #expect(stats?["upstream_failures"]?.integer == 0)
        #expect(Self.takenRequestIDs(upstream) == (1...400).map(Int64.init), "each call taken once")
        // One connection per event-loop thread at most, whatever the 64 requests in flight.
        let opened = upstream.connections
        #expect((opened["h2"] ?? 0) >= 1)
        #expect((opened["h2"] ?? 0) <= ProcessInfo.processInfo.activeProcessorCount, "\(opened)")
        #expect(opened["http/1.1"] == nil, "\(opened)")
        #expect(stats?["upstream_connections_h2"]?.integer == opened["h2"].map(Int64.init))
        #expect(stats?["upstream_connections_http1"]?.integer == 0)
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func streamsBeyondTheServersConcurrencyLimitWaitTheirTurn() async throws {
        let ca = try await UpstreamTLSTests.authority()
        defer { ca.remove() }
        // Two streams at a time per connection, each answered late, against 64 requests in flight.
        let upstream = try await FakeUpstream(
            tls: try ca.serverContext(applicationProtocols: Self.bothProtocols), maximumConcurrentStreams: 2,
            script: { _, _ in FakeUpstream.Answer(status: 200, delay: .milliseconds(5)) })
        defer { upstream.close() }
        let daemon = try await Self.daemon(for: upstream, trusting: ca, inFlight: 64)
        defer { daemon.tearDown() }
        let stats = try await Self.deliver(200, through: daemon)
        #expect(stats?["delivered"]?.integer == 200)
        #expect(stats?["upstream_failures"]?.integer == 0, "a stream held back is not a failure")
        #expect(Self.takenRequestIDs(upstream) == (1...200).map(Int64.init))
        #expect((upstream.connections["h2"] ?? 0) <= ProcessInfo.processInfo.activeProcessorCount)
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func aServerWithoutHTTP2IsServedOverHTTP1() async throws {
        let ca = try await UpstreamTLSTests.authority()
        defer { ca.remove() }
        let upstream = try await FakeUpstream(tls: try ca.serverContext(applicationProtocols: ["http/1.1"]))
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.upstreamCAFile = ca.certificatePath
            $0.maximumInFlight = 16
        }
        defer { daemon.tearDown() }
        let stats = try await Self.deliver(100, through: daemon)
        #expect(stats?["delivered"]?.integer == 100)
        #expect(upstream.connections["h2"] == nil)
        #expect((upstream.connections["http/1.1"] ?? 0) >= 1)
        #expect(stats?["upstream_connections_h2"]?.integer == 0)
        #expect(stats?["upstream_connections_http1"]?.integer == upstream.connections["http/1.1"].map(Int64.init))
        #expect(Self.takenRequestIDs(upstream) == (1...100).map(Int64.init))
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func streamsAServerWillNotProcessAfterGoawayGoAgainOnAFreshConnection() async throws {
        let ca = try await UpstreamTLSTests.authority()
        defer { ca.remove() }
        // Each connection processes 10 streams; at the 11th it says GOAWAY naming the 10th, and
        // processes none after it.
        let upstream = try await FakeUpstream(
            tls: try ca.serverContext(applicationProtocols: Self.bothProtocols), streamsPerConnection: 10)
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.upstreamCAFile = ca.certificatePath
            $0.maximumInFlight = 32
            $0.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        let stats = try await Self.deliver(300, through: daemon)
        #expect(stats?["delivered"]?.integer == 300)
        #expect(stats?["dead_lettered"]?.integer == 0)
        #expect((stats?["upstream_refused_streams"]?.integer ?? 0) >= 1, "the 11th stream went again")
        // Every stream the server took was answered: none went twice, none was lost.
        #expect(Self.takenRequestIDs(upstream) == (1...300).map(Int64.init), "each call taken exactly once")
        #expect(upstream.requests.count == 300)
        #expect((upstream.connections["h2"] ?? 0) >= 30, "\(upstream.connections)")
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }
}
