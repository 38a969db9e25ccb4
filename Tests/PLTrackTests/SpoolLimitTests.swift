import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// `--spool-max-bytes` against the real executable while PromptLayer is unreachable: a call
/// with an `id` is refused `overloaded` and not taken, one without waits, and everything that
/// was taken arrives once PromptLayer is back.
struct SpoolLimitTests {
    @Test func aFullSpoolRefusesCallsWithAnIDAndPausesThoseWithout() async throws {
        let total = 12_000
        let down = try await FakeUpstream.unreachable()
        defer { down.close() }
        let directory = SpoolDurabilityTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await DaemonProcess(
            directory: directory, upstream: down, arguments: ["--spool-max-bytes", "1MiB", "--queue-capacity", "100"])
        defer { daemon.killIfRunning() }

        // One connection, every call with an id: the spool fills, later calls are refused.
        var taken: Set<Int64> = []
        var refused: Set<Int64> = []
        var otherReplies: [JSONValue] = []
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.writer.send(contentsOf: (0..<total).map { SpoolDurabilityTests.frame($0, id: true) })
            for _ in 0..<total {
                guard let reply = try await client.reply(), let id = reply["id"]?.integer else {
                    break
                }
                if reply["ok"] == .bool(true) {
                    taken.insert(id)
                } else if reply["error"]?["code"]?.string == "overloaded" {
                    refused.insert(id)
                } else {
                    otherReplies.append(reply)
                }
            }
            #expect(
                try await client.request(#"{"type":"ping","id":"still-open"}"#)?["ok"] == .bool(true),
                "the connection stays open after overloaded")
        }
        #expect(otherReplies.isEmpty)
        #expect(taken.count + refused.count == total)
        #expect(!taken.isEmpty && !refused.isEmpty, "the spool filled part way")
        let full = try await TestClient.connect(to: daemon.socketPath) { try await $0.stats() }
        #expect(full?["accepted"]?.integer == Int64(taken.count), "a refused call was not taken")
        #expect(full?["spool"]?["records"]?.integer == Int64(taken.count))
        #expect((full?["spool"]?["bytes"]?.integer ?? .max) <= 1 << 20, "the spool stays within its bound")
        #expect(full?["spool_full"]?.integer == Int64(refused.count))
        #expect(full?["rejected"]?["overloaded"]?.integer == Int64(refused.count))

        // A call without an id is not refused: its connection stops being read instead.
        let waiting = Int64(total)
        try await TestClient.connect(to: daemon.socketPath) { quiet async throws in
            try await quiet.writer.send(SpoolDurabilityTests.frame(Int(waiting), id: false))
            // The call without an id finds the spool full and waits.
            try await TestClient.connect(to: daemon.socketPath) { watcher async throws in
                try await waitUntil("the call without an id to find the spool full") {
                    (try await watcher.stats()?["spool_full"]?.integer ?? 0) > Int64(refused.count)
                }
            }

            // PromptLayer comes back: the spool drains, the waiting call is taken, all arrive. The
            // flush queues behind the waiting call on its connection, so it covers that call too.
            let up = try await down.restarted()
            defer { up.close() }
            #expect(try await quiet.flush()?["ok"] == .bool(true))
            let after = try await TestClient.connect(to: daemon.socketPath) {
                try await SpoolDurabilityTests.statsOnceTheSpoolIsEmpty($0)
            }
            #expect(after["accepted"]?.integer == Int64(taken.count + 1))
            let delivered = SpoolDurabilityTests.deliveredIDs(up)
            #expect(SpoolDurabilityTests.missing(taken.union([waiting]), from: delivered) == (0, []))
            #expect(Set(delivered).isDisjoint(with: refused), "a refused call is never sent")
            #expect(after["ledger_balances"] == .bool(true))
            print(
                "spool full: \(taken.count) taken, \(refused.count) refused overloaded at 1MiB, peak spool \(full?["spool"]?["bytes"]?.integer ?? -1) bytes"
            )
            await up.stop()
        }
        _ = await daemon.stop()
    }
}
