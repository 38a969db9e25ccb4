import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// What the spool promises, tested against the real executable and a real HTTP server: an
/// acknowledged call survives SIGKILL, an upstream outage, a damaged segment and a stop.
@Suite(.serialized)
struct SpoolDurabilityTests {
    static func directory() -> String {
        "/tmp/pltrackd-spool-\(UUID().uuidString.prefix(8))"
    }

    static func frame(_ requestID: Int, id: Bool) -> [UInt8] {
        let reply = id ? #","id":\#(requestID)"# : ""
        return Array(
            #"{"type":"track.prompt","prompt_name":"spool","request_id":\#(requestID),"prompt_input_variables":{"n":\#(requestID)}\#(reply)}"#
                .utf8)
    }

    /// Sends `requestIDs` with ids over `connections` connections, reading replies as they
    /// come; returns how many were answered `"ok": true`.
    static func sendAcknowledged(_ requestIDs: Range<Int>, to socket: String, connections: Int) async throws -> Int {
        let perConnection = (requestIDs.count + connections - 1) / connections
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for connection in 0..<connections {
                let lower = requestIDs.lowerBound + connection * perConnection
                let slice = lower..<min(lower + perConnection, requestIDs.upperBound)
                guard !slice.isEmpty else { continue }
                group.addTask {
                    try await TestClient.connect(to: socket) { client async throws in
                        let writer = client.writer
                        async let sent: Void = {
                            for batch in stride(from: slice.lowerBound, to: slice.upperBound, by: 500) {
                                try await writer.send(
                                    contentsOf: (batch..<min(batch + 500, slice.upperBound)).map { frame($0, id: true) }
                                )
                            }
                        }()
                        var acknowledged = 0
                        for _ in slice where try await client.reply()?["ok"] == .bool(true) {
                            acknowledged += 1
                        }
                        try await sent
                        return acknowledged
                    }
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// The stats once the spool holds no record. A record's outcome is written to the spool
    /// after its delivery, so a `flush` can answer before the last outcomes are counted; this
    /// waits for them, and throws if records stay above 0.
    static func statsOnceTheSpoolIsEmpty(_ client: TestClient) async throws -> JSONValue {
        try await waitFor("the spool's records to reach 0 after the flush") {
            guard let stats = try await client.stats(), stats["spool"]?["records"]?.integer == 0 else {
                return nil
            }
            return stats
        }
    }

    static func deliveredIDs(_ upstream: FakeUpstream) -> [Int64] {
        upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }
    }

    /// How many of `expected` never arrived, and the first few of them, for a readable failure.
    static func missing(_ expected: some Sequence<Int64>, from delivered: [Int64]) -> (count: Int, first: [Int64]) {
        let arrived = Set(delivered)
        let missing = expected.filter { !arrived.contains($0) }
        return (missing.count, Array(missing.prefix(10)))
    }

    // MARK: SIGKILL

    @Test func everyAcknowledgedCallArrivesAfterSIGKILLAndRestart() async throws {
        let figures = try await Self.killWhileBusyAndRestart(
            total: 50_000, workers: 8, arguments: ["--queue-capacity", "5000"])
        print(
            "SIGKILL: 50000 acknowledged after \(figures.fsyncs) fsyncs, \(figures.deliveredBeforeKill) delivered before the kill, \(figures.recovered) recovered, \(figures.inFlight) of them counted in flight, \(figures.duplicates) duplicates"
        )
    }

    /// Under `interval` and `never` an acknowledgement does not wait for the disk, but a record
    /// written before it is in the kernel's hands: a kill of the daemon alone loses nothing.
    @Test(arguments: [FsyncPolicy.interval, .never])
    func acknowledgedCallsSurviveSIGKILLWithoutWaitingForTheDisk(_ policy: FsyncPolicy) async throws {
        let figures = try await Self.killWhileBusyAndRestart(
            total: 3_000, workers: 2, policy: policy)
        #expect(figures.fsync == policy.rawValue)
    }

    /// Sends `total` acknowledged calls while the upstream is slow, kills the daemon with
    /// SIGKILL, starts it again on the same spool with a fast upstream, and checks that every
    /// acknowledged call arrives, with at most one duplicate per worker.
    static func killWhileBusyAndRestart(
        total: Int, workers: Int, policy: FsyncPolicy = .always, arguments extra: [String] = []
    ) async throws -> (
        deliveredBeforeKill: Int, recovered: Int64, inFlight: Int64, duplicates: Int, fsyncs: Int64, fsync: String?
    ) {
        let (upstream, slow) = try await Self.slowUpstream(delay: .milliseconds(20))
        defer { upstream.close() }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["--workers", "\(workers)", "--fsync", policy.rawValue] + extra
        let first = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
        defer { first.killIfRunning() }
        let acknowledged = try await Self.sendAcknowledged(0..<total, to: first.socketPath, connections: workers)
        #expect(acknowledged == total)
        let beforeKill = try await TestClient.connect(to: first.socketPath) { try await $0.stats() }
        let deliveredBeforeKill = Self.deliveredIDs(upstream).count
        #expect(deliveredBeforeKill < total, "the kill must find calls in the pipeline")
        #expect((beforeKill?["spool"]?["records"]?.integer ?? 0) > 0)
        let fsyncs = beforeKill?["spool"]?["fsyncs"]?.integer ?? 0
        switch policy {
        case .always:
            // Group commit: one fsync covers every call written while the one before it ran.
            #expect(fsyncs > 0 && fsyncs < Int64(total), "one fsync covers many acknowledgements")
        case .interval:
            #expect(fsyncs < Int64(total))
        case .never:
            #expect(fsyncs == 0, "with never, only the kernel writes back")
        }
        _ = await first.kill()

        slow.withLockedValue { $0 = false }
        let second = try await DaemonProcess(directory: directory, upstream: upstream, arguments: arguments)
        defer { second.killIfRunning() }
        let stats: JSONValue? = try await TestClient.connect(to: second.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await Self.statsOnceTheSpoolIsEmpty(client)
        }
        let recovered = stats?["spool"]?["recovered"]?.integer ?? 0
        #expect(recovered > 0)
        #expect(stats?["ledger_balances"] == .bool(true))
        let delivered = Self.deliveredIDs(upstream)
        #expect(Self.missing(0..<Int64(total), from: delivered) == (0, []), "every acknowledged call arrives")
        let duplicates = delivered.count - Set(delivered).count
        // Only a call in flight at the kill can be sent twice, and the daemon counts those.
        let inFlight = stats?["spool"]?["recovered_in_flight"]?.integer ?? -1
        #expect(Int64(duplicates) <= inFlight, "every duplicate was counted as possibly sent twice")
        #expect(inFlight <= Int64(workers), "at most one call per worker is on its way")
        #expect(upstream.violations.isEmpty)
        _ = await second.stop()
        await upstream.stop()
        return (deliveredBeforeKill, recovered, inFlight, duplicates, fsyncs, stats?["spool"]?["fsync"]?.string)
    }

    /// An upstream that answers 200 after `delay` while the flag is set, and at once after.
    static func slowUpstream(delay: TimeAmount) async throws -> (FakeUpstream, NIOLockedValueBox<Bool>) {
        let slow = NIOLockedValueBox(true)
        let upstream = try await FakeUpstream { _, _ in
            slow.withLockedValue { $0 } ? .init(status: 200, delay: delay) : .success
        }
        return (upstream, slow)
    }

    // MARK: Upstream outage

    @Test func anOutageFillsTheSpoolNotMemoryAndEverythingArrivesAfter() async throws {
        let total = 20_000
        let capacity = 1_000
        let down = try await FakeUpstream.unreachable()
        defer { down.close() }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await DaemonProcess(
            directory: directory, upstream: down, arguments: ["--queue-capacity", "\(capacity)"])
        defer { daemon.killIfRunning() }
        let acknowledged = try await Self.sendAcknowledged(0..<total, to: daemon.socketPath, connections: 4)
        #expect(acknowledged == total)
        // Wait until the daemon has seen the upstream refuse.
        let during: JSONValue? = try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await waitFor("the daemon to see the upstream refuse") { () async throws -> JSONValue? in
                guard let stats = try await client.stats(), (stats["upstream_failures"]?.integer ?? 0) > 0 else {
                    return nil
                }
                return stats
            }
        }
        let inMemory =
            (during?["queued"]?.integer ?? 0) + (during?["in_flight"]?.integer ?? 0)
        #expect(inMemory <= Int64(capacity), "the memory queue stays within --queue-capacity")
        #expect((during?["backlog"]?.integer ?? 0) >= Int64(total - capacity), "the rest waits on disk")
        #expect(during?["spool"]?["records"]?.integer == Int64(total))
        #expect((during?["spool"]?["bytes"]?.integer ?? 0) > 0)
        #expect(during?["spool"]?["oldest_undelivered_age_seconds"] != nil)
        #expect((during?["upstream_failures"]?.integer ?? 0) > 0)
        let residentDuring = daemon.residentKiB

        let up = try await down.restarted()
        defer { up.close() }
        let after: JSONValue? = try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await Self.statsOnceTheSpoolIsEmpty(client)
        }
        #expect(after?["delivered"]?.integer == Int64(total))
        let delivered = Self.deliveredIDs(up)
        #expect(Self.missing(0..<Int64(total), from: delivered) == (0, []))
        #expect(delivered.count == total, "nothing was delivered twice")
        print(
            "outage: \(total) acknowledged while down, \(inMemory) in memory, backlog \(during?["backlog"]?.integer ?? -1), spool \(during?["spool"]?["bytes"]?.integer ?? -1) bytes, RSS \(residentDuring ?? -1) KiB"
        )
        _ = await daemon.stop()
        await up.stop()
    }

    // MARK: Damage

    @Test func damagedSegmentsReplayUpToTheDamageAndReportIt() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = directory + "/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let writer = try SpoolWriter(directory: spool, segmentBytes: 1_000)
        for sequence in 1...60 as ClosedRange<UInt64> {
            try writer.append([
                .accepted(
                    SpooledMessage(
                        sequence: sequence,
                        acceptedAtMilliseconds: WallClock.milliseconds(),
                        kind: .prompt,
                        requestID: .integer(Int64(sequence)),
                        body: TrackBody(#"{"prompt_name":"replayed","request_id":\#(sequence)}"#)
                    ))
            ])
        }
        try writer.sync()
        let segments = SpoolDirectory.segments(in: spool)
        #expect(segments.count >= 4)
        // The first segment loses the end of its last record; the second gets a flipped byte.
        let cut = try #require(FileManager.default.contents(atPath: segments[0].path))
        try cut.prefix(cut.count - 5).write(to: URL(fileURLWithPath: segments[0].path))
        var flipped = try #require(FileManager.default.contents(atPath: segments[1].path))
        flipped[flipped.count / 2] ^= 0xFF
        try flipped.write(to: URL(fileURLWithPath: segments[1].path))
        let expected = Set(SpoolDirectory.replay(spool).pending.map { Int64($0.sequence) })
        #expect(expected.count < 60 && expected.count > 30)

        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let daemon = try await DaemonProcess(directory: directory, upstream: upstream)
        defer { daemon.killIfRunning() }
        let stats = try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            return try await client.stats()
        }
        #expect(Set(Self.deliveredIDs(upstream)) == expected)
        #expect(stats?["spool"]?["damaged_segments"]?.integer == 2)
        #expect((stats?["spool"]?["damaged_bytes"]?.integer ?? 0) > 0)
        #expect(stats?["spool"]?["recovered"]?.integer == Int64(expected.count))
        let outcome = await daemon.stop()
        #expect(outcome.status == 0, "\(outcome.standardError.suffix(3000))")
        #expect(outcome.standardError.contains("spool damage"))
        #expect(outcome.standardError.contains("cut off"))
        #expect(outcome.standardError.contains("checksum"))
        await upstream.stop()
    }

    // MARK: Graceful stop

    @Test func aStopWhileUpstreamIsSlowKeepsTheRestForTheNextStart() async throws {
        let total = 300
        let (upstream, slow) = try await Self.slowUpstream(delay: .milliseconds(100))
        defer { upstream.close() }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await DaemonProcess(
            directory: directory, upstream: upstream, arguments: ["--workers", "2", "--drain-timeout", "300ms"])
        defer { first.killIfRunning() }
        #expect(try await Self.sendAcknowledged(0..<total, to: first.socketPath, connections: 2) == total)
        let outcome = await first.stop()
        #expect(outcome.status == 0, "\(outcome.standardError.suffix(3000))")
        #expect(outcome.standardError.contains("stay in the spool"))
        let deliveredBeforeStop = Set(Self.deliveredIDs(upstream))
        #expect(deliveredBeforeStop.count < total)

        slow.withLockedValue { $0 = false }
        let second = try await DaemonProcess(directory: directory, upstream: upstream)
        defer { second.killIfRunning() }
        try await TestClient.connect(to: second.socketPath) { client async throws in
            #expect(try await client.flush()?["ok"] == .bool(true))
            _ = try await Self.statsOnceTheSpoolIsEmpty(client)
        }
        #expect(Self.missing(0..<Int64(total), from: Self.deliveredIDs(upstream)) == (0, []))
        _ = await second.stop()
        await upstream.stop()
    }
}
