import Foundation
import Glibc
import Logging
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The Prometheus view of the counters, and the journal log fields.
struct MetricsTests {
    @Test func prometheusTextCarriesTheSameCountersAsStats() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":1}"#)
            _ = try await client.request("{bad")
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        let outcome = try await ChildProcess(
            BuildProducts.pltrackd, ["stats", "--format", "prometheus", "--socket", daemon.socketPath]
        ).run()
        #expect(outcome.status == 0)
        let text = outcome.standardOutput
        for line in [
            "# TYPE pltrackd_accepted_total counter", "pltrackd_accepted_total 1", "pltrackd_delivered_total 1",
            "pltrackd_frames_received_total 4",  // three above and the stats request itself
            #"pltrackd_rejected_total{code="invalid_json"} 1"#,
            #"pltrackd_rejected_total{code="frame_too_large"} 0"#, "# TYPE pltrackd_upstream_latency_seconds summary",
            "pltrackd_upstream_latency_seconds_count 1", "pltrackd_held 0",
        ] {
            #expect(text.split(separator: "\n").contains { $0 == line }, "missing: \(line)")
        }
        // Every sample line is `name{labels} number`.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2 && Double(parts[1]) != nil, "\(line)")
        }
        try await daemon.stop()
    }

    @Test func journalFieldsAreUpperCaseAndPrioritiesFollowSyslog() {
        #expect(JournalLogHandler.fieldName("upstream_status") == "UPSTREAM_STATUS")
        #expect(JournalLogHandler.fieldName("request-id") == "REQUEST_ID")
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: [:]))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
    }

    /// Where `sd_journal_sendv` writes.
    static let journalSocket = "/run/systemd/journal/socket"

    /// Whether the test may stand in for journald: no process listens at its socket (a socket
    /// file nobody listens on, left by a journald that is gone, is replaced), and `/run` is
    /// writable here.
    static var journalStandInIsPossible: Bool {
        let listening = (try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8))?
            .split(separator: "\n").contains { $0.hasSuffix(" " + Self.journalSocket) }
        return listening == false && FileManager.default.isWritableFile(atPath: "/run")
    }

    // Stands in for journald at its socket, where sd_journal_sendv writes; only where no journald
    // runs (as on CI machines), so a real journal is never touched.
    @Test(
        .enabled(
            if: MetricsTests.journalStandInIsPossible,
            "stands in for journald: needs no journald listening at /run/systemd/journal/socket and a writable /run"))
    func underTheJournalTheDaemonLogsStructuredFields() async throws {
        let socketPath = Self.journalSocket
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let journal = try NotifyListener(path: socketPath)
        defer { journal.close() }
        let upstream = try await FakeUpstream { _, _ in .init(status: 400) }
        defer { upstream.close() }
        let directory = "/tmp/pltrackd-journal-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["PROMPTLAYER_API_KEY"] = upstream.expectedAPIKey
        var child = ChildProcess(
            BuildProducts.pltrackd,
            [
                "--socket", directory + "/d.sock", "--upstream", upstream.baseURL, "--dead-letter",
                directory + "/dl.jsonl",
            ],
            environment: environment,
            currentDirectory: directory
        )
        child.standardErrorIsJournal = true
        let daemon = try child.start()
        defer { daemon.killIfRunning() }
        try await CommandLineTests.waitForSocket(directory + "/d.sock")
        try await TestClient.connect(to: directory + "/d.sock") { client async throws in
            try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":"req-77"}"#)
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        daemon.signal(SIGTERM)
        let outcome = await daemon.wait()
        #expect(outcome.status == 0)
        #expect(outcome.standardError.isEmpty, "logs went to standard error: \(outcome.standardError)")
        let fields = journal.received.map(\.text)
        #expect(fields.contains("MESSAGE=a call was given up; written to the dead letters"))
        #expect(fields.contains("PLTRACKD_REASON=rejected"))
        #expect(fields.contains("PLTRACKD_UPSTREAM_STATUS=400"))
        #expect(fields.contains("PLTRACKD_REQUEST_ID=req-77"))
        #expect(fields.contains("PRIORITY=4"))
        #expect(fields.contains("SYSLOG_IDENTIFIER=pltrackd"))
        #expect(!fields.contains { $0.contains(upstream.expectedAPIKey) })
        await upstream.stop()
    }
}
