import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// Many connections, many calls, an upstream that fails some of them: every call arrives once.
struct BulkDeliveryTests {
    /// 100,000 by default; `PLTRACKD_BULK_MESSAGES` changes it.
    static let messageCount = ProcessInfo.processInfo.environment["PLTRACKD_BULK_MESSAGES"].flatMap(Int.init) ?? 100_000
    static let connections = 16

    @Test func everyCallArrivesExactlyOnceDespite500And429() async throws {
        // One call in ten is first answered 500, one in ten 429 with Retry-After; then taken.
        let upstream = try await FakeUpstream { request, attempt in
            guard attempt == 0, let requestID = request.json?["request_id"]?.integer else {
                return .success
            }
            switch requestID % 10 {
            case 3: return .init(status: 500)
            case 7: return .init(status: 429, retryAfter: "0")
            default: return .success
            }
        }
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream)
        defer { daemon.tearDown() }
        let perConnection = Self.messageCount / Self.connections
        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in 0..<Self.connections {
                group.addTask {
                    try await TestClient.connect(to: daemon.socketPath) { client async throws in
                        let first = connection * perConnection
                        for batch in stride(from: first, to: first + perConnection, by: 500) {
                            let frames = (batch..<min(batch + 500, first + perConnection)).map {
                                Array(
                                    #"{"type":"track.prompt","prompt_name":"bulk","request_id":\#($0),"prompt_input_variables":{"n":\#($0)}}"#
                                        .utf8)
                            }
                            try await client.writer.send(contentsOf: frames)
                        }
                        // The ping's reply means every frame before it on this connection was read.
                        #expect(try await client.request(#"{"type":"ping","id":"done"}"#)?["ok"] == .bool(true))
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = perConnection * Self.connections
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["accepted"]?.integer == Int64(total))
            #expect(stats?["delivered"]?.integer == Int64(total))
            #expect(stats?["ledger_balances"] == .bool(true))
            #expect(stats?["retries"]?.integer == Int64(total / 5))
        }
        let delivered = upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }
        #expect(delivered.count == total)
        #expect(Set(delivered) == Set((0..<Int64(total))))
        #expect(upstream.violations.isEmpty)
        try await daemon.stop()
        await upstream.stop()
    }
}
