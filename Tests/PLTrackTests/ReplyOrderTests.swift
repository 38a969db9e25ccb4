import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// Replies leave in the order of the messages they answer, a `flush` included: with a spool
/// and `--fsync always`, acknowledgements wait for the disk, and a flush reply must not pass
/// them. (A review found a flush reply first in 25 of 260 such rounds.)
struct ReplyOrderTests {
    @Test func aFlushReplyNeverOvertakesAcknowledgementsWaitingForTheDisk() async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pltrack-spool-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: spool) }
        let daemon = try await DaemonHarness(upstream: upstream) { configuration in
            configuration.spoolDirectory = spool.path
            configuration.fsyncPolicy = .always
            configuration.coalescingWindow = .zero
        }
        defer { daemon.tearDown() }
        var requestID = 0
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for round in 0..<300 {
                let calls = round % 5 + 1
                var expected: [JSONValue] = []
                for _ in 0..<calls {
                    requestID += 1
                    try await client.send(
                        #"{"type":"track.prompt","id":"c\#(requestID)","prompt_name":"p","request_id":\#(requestID)}"#)
                    expected.append(.string("c\(requestID)"))
                }
                try await client.send(#"{"type":"flush","id":"f\#(round)","timeout_ms":60000}"#)
                expected.append(.string("f\(round)"))
                var answered: [JSONValue] = []
                for _ in expected {
                    answered.append(try await client.reply()?["id"] ?? .null)
                }
                #expect(answered == expected, "round \(round)")
            }
        }
        #expect(upstream.succeeded.count == requestID)
        try await daemon.stop()
        await upstream.stop()
    }
}
