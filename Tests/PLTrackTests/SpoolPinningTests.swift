import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// One call that PromptLayer refuses for ever must not pin the spool, against the real
/// executable and a real HTTP server: its segment is compacted, the spool stays within
/// `--spool-max-bytes`, every other call is taken and delivered, and kills in the middle of it
/// lose nothing. Delivery is at least once: a call may arrive twice only when it was on its
/// way at a kill or its attempt got no answer, and the daemon counts both.
@Suite(.serialized)
struct SpoolPinningTests {
    static let pinnedRequest: Int64 = 999_999_999

    /// An upstream that answers 500 to the pinned request until released, 200 to the rest.
    static func pinningUpstream(port: Int = 0, released: NIOLockedValueBox<Bool>) async throws -> FakeUpstream {
        try await FakeUpstream(port: port) { request, _ in
            request.json?["request_id"]?.integer == Self.pinnedRequest && !released.withLockedValue { $0 }
                ? .init(status: 500, body: #"{"success":false,"message":"pinned"}"#) : .success
        }
    }

    /// Sends `requestIDs` with ids on one connection as an SDK would, 500 at a time: what is
    /// refused `overloaded` (the spool is full until deliveries free room) goes back in line and
    /// is sent again after a pause, until every call is acknowledged. Returns how many refusals
    /// it took; throws if five minutes pass without one call taken, as happens for ever when
    /// nothing frees room.
    static func sendUntilAcknowledged(_ requestIDs: [Int], to socket: String) async throws -> Int {
        // Bounded by progress, not by the whole run: a sanitized build on a loaded machine takes
        // long, but gives up only when no call at all is taken for this long.
        let limit = Duration.seconds(300)
        return try await TestClient.connect(to: socket) { client in
            var deadline = ContinuousClock.now + limit
            var waiting = requestIDs[...]
            var refusals = 0
            while !waiting.isEmpty {
                guard ContinuousClock.now < deadline else {
                    throw WaitTimedOut(
                        awaited: "any of \(waiting.count) calls refused overloaded to be taken", limit: limit)
                }
                let batch = waiting.prefix(500)
                waiting = waiting.dropFirst(batch.count)
                try await client.writer.send(contentsOf: batch.map { SpoolDurabilityTests.frame($0, id: true) })
                var refused: [Int] = []
                for _ in batch {
                    let reply = try #require(try await client.reply())
                    if reply["ok"] != .bool(true) {
                        #expect(reply["error"]?["code"]?.string == "overloaded")
                        refused.append(Int(try #require(reply["id"]?.integer)))
                    }
                }
                if refused.count < batch.count {
                    deadline = ContinuousClock.now + limit
                }
                if !refused.isEmpty {
                    refusals += refused.count
                    waiting = refused + waiting
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            return refusals
        }
    }

    static func sendPinned(to socket: String, upstream: FakeUpstream) async throws {
        let reply = try await TestClient.connect(to: socket) { client in
            try await client.writer.send(SpoolDurabilityTests.frame(Int(Self.pinnedRequest), id: true))
            return try await client.reply()
        }
        #expect(reply?["ok"] == .bool(true))
        try await waitUntil("PromptLayer to refuse the pinned call once") {
            upstream.requests.contains { $0.json?["request_id"]?.integer == Self.pinnedRequest }
        }
    }

    @Test func oneCallRefusedForEverDoesNotFillTheSpool() async throws {
        let total = 30_000
        let released = NIOLockedValueBox(false)
        let upstream = try await Self.pinningUpstream(released: released)
        defer { upstream.close() }
        let directory = SpoolDurabilityTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await DaemonProcess(
            directory: directory, upstream: upstream,
            arguments: ["--spool-max-bytes", "1MiB", "--queue-capacity", "2000"])
        defer { daemon.killIfRunning() }
        try await Self.sendPinned(to: daemon.socketPath, upstream: upstream)

        let refusals = try await withThrowingTaskGroup(of: Int.self) { group in
            for connection in 0..<4 {
                group.addTask {
                    try await Self.sendUntilAcknowledged(
                        Array(stride(from: connection, to: total, by: 4)), to: daemon.socketPath)
                }
            }
            return try await group.reduce(0, +)
        }
        let stats = try await TestClient.connect(to: daemon.socketPath) { client in
            try await waitFor("every other call delivered, the pinned one still held") {
                let stats = try await client.stats()
                return stats?["spool"]?["records"]?.integer == 1 ? stats : nil
            }
        }
        #expect(stats["spool_full"]?.integer == Int64(refusals))
        #expect((stats["spool"]?["bytes"]?.integer ?? .max) <= 1 << 20, "the spool stays within its bound")
        #expect((stats["spool"]?["compactions"]?.integer ?? 0) > 0)
        let delivered = SpoolDurabilityTests.deliveredIDs(upstream)
        #expect(SpoolDurabilityTests.missing(0..<Int64(total), from: delivered) == (0, []))
        // At least once: a call arrives twice only when an attempt got no answer (timed out or
        // reset after PromptLayer took it), which the daemon counts.
        let duplicates = delivered.count - Set(delivered).count
        let unanswered = stats["upstream_failures"]?.integer ?? -1
        #expect(Int64(duplicates) <= unanswered, "a call arrives twice only after an attempt without an answer")

        released.withLockedValue { $0 = true }
        let after = try await TestClient.connect(to: daemon.socketPath) { client in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await SpoolDurabilityTests.statsOnceTheSpoolIsEmpty(client)
        }
        #expect(SpoolDurabilityTests.deliveredIDs(upstream).count { $0 == Self.pinnedRequest } == 1)
        #expect(after["ledger_balances"] == .bool(true))
        #expect(upstream.violations.isEmpty)
        print(
            "pinned: \(total) taken beside one call refused for ever after \(refusals) refusals for a full spool, \(duplicates) duplicates after \(unanswered) attempts without an answer, spool \(stats["spool"]?["bytes"]?.integer ?? -1) bytes at 1MiB, \(stats["spool"]?["compactions"]?.integer ?? -1) compactions copying \(stats["spool"]?["compacted_calls"]?.integer ?? -1) calls"
        )
        _ = await daemon.stop()
        await upstream.stop()
    }

    /// The daemon is killed three times while it compacts around the pinned call; after each
    /// start it goes on. Every acknowledged call arrives, and only calls counted in flight at a
    /// kill may arrive twice.
    @Test func killsWhileCompactingLoseNothing() async throws {
        let rounds = 3
        let perRound = 8_000
        let released = NIOLockedValueBox(false)
        let upstream = try await Self.pinningUpstream(released: released)
        defer { upstream.close() }
        let directory = SpoolDurabilityTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["--spool-max-bytes", "1MiB"]
        var inFlightAtKills: Int64 = 0
        var unanswered: Int64 = 0
        var compactions: Int64 = 0
        for round in 0..<rounds {
            let daemon = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
            defer { daemon.killIfRunning() }
            if round == 0 {
                try await Self.sendPinned(to: daemon.socketPath, upstream: upstream)
            } else {
                let stats = try await TestClient.connect(to: daemon.socketPath) { try await $0.stats() }
                inFlightAtKills += stats?["spool"]?["recovered_in_flight"]?.integer ?? 0
            }
            let calls = (round * perRound)..<((round + 1) * perRound)
            _ = try await Self.sendUntilAcknowledged(Array(calls), to: daemon.socketPath)
            // Kill once this run has compacted, while calls are still on their way.
            let compacted = try await TestClient.connect(to: daemon.socketPath) { client in
                try await waitFor("a compaction in run \(round)") {
                    let stats = try await client.stats()
                    let count = stats?["spool"]?["compactions"]?.integer ?? 0
                    return count > 0 ? stats : nil
                }
            }
            compactions += compacted["spool"]?["compactions"]?.integer ?? 0
            unanswered += compacted["upstream_failures"]?.integer ?? 0
            _ = await daemon.kill()
        }

        released.withLockedValue { $0 = true }
        let last = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
        defer { last.killIfRunning() }
        let stats = try await TestClient.connect(to: last.socketPath) { client in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await SpoolDurabilityTests.statsOnceTheSpoolIsEmpty(client)
        }
        inFlightAtKills += stats["spool"]?["recovered_in_flight"]?.integer ?? 0
        unanswered += stats["upstream_failures"]?.integer ?? 0
        let delivered = SpoolDurabilityTests.deliveredIDs(upstream)
        let expected = (0..<Int64(rounds * perRound)) + [Self.pinnedRequest]
        #expect(SpoolDurabilityTests.missing(expected, from: delivered) == (0, []), "every acknowledged call arrives")
        let duplicates = delivered.count - Set(delivered).count
        #expect(
            Int64(duplicates) <= inFlightAtKills + unanswered,
            "only a call in flight at a kill, or one whose attempt got no answer, arrives twice")
        #expect(stats["ledger_balances"] == .bool(true))
        #expect(upstream.violations.isEmpty)
        print(
            "kills while compacting: \(rounds) kills after \(compactions) compactions, \(delivered.count) deliveries of \(expected.count) calls, \(duplicates) duplicates, \(inFlightAtKills) counted in flight, \(unanswered) attempts without an answer"
        )
        _ = await last.stop()
        await upstream.stop()
    }
}
