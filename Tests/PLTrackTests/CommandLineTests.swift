import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The `pltrackd` executable as a user runs it.
struct CommandLineTests {
    static func pltrackd(_ arguments: [String], environment: [String: String]? = nil) async throws
        -> ChildProcess.Outcome
    {
        try await ChildProcess(BuildProducts.pltrackd, arguments, environment: environment).run()
    }

    @Test(arguments: [
        (["--coalesce-window", "5parsecs"], "--coalesce-window"),
        (["--max-frame-length", "lots"], "--max-frame-length"),
        (["--socket-mode", "999"], "--socket-mode"),
        (["--workers", "0"], "--workers"),
        (["--queue-capacity", "-3"], "--queue-capacity"),
        (["--upstream", "ftp://example"], "--upstream"),
        (["--retry-cap", "1ms"], "--retry-cap"),
        (["--api-key-file", "/nonexistent/key"], "--api-key-file"),
        (["--upstream-ca-file", "/nonexistent/ca.pem"], "--upstream-ca-file"),
    ])
    func aBadOptionIsAOneLineErrorNamingIt(_ arguments: [String], _ option: String) async throws {
        let outcome = try await Self.pltrackd(arguments + ["--socket", "/tmp/pltrackd-never-bound.sock"])
        #expect(outcome.status != 0)
        let firstLine = outcome.standardError.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("Error:"), "\(outcome.standardError)")
        #expect(firstLine.contains(option), "\(firstLine)")
        #expect(!outcome.standardError.contains("Fatal error"))
    }

    @Test func helpExplainsEveryOption() async throws {
        let outcome = try await Self.pltrackd(["run", "--help"])
        #expect(outcome.status == 0)
        for option in [
            "--socket", "--socket-mode", "--max-frame-length", "--max-connections", "--coalesce-window", "--workers",
            "--queue-capacity", "--upstream", "--api-key-file", "--upstream-ca-file", "--outbox", "--dead-letter",
            "--retry-base",
            "--retry-cap", "--request-timeout", "--flush-timeout", "--drain-timeout", "--log-level",
        ] {
            #expect(outcome.standardOutput.contains(option), "\(option) missing from --help")
        }
        #expect(outcome.standardOutput.contains("PROMPTLAYER_API_KEY"))
    }

    @Test func sendFramesEachArgumentAndFailsOnAnErrorReply() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        let good = try await Self.pltrackd([
            "send", "--socket", daemon.socketPath,
            #"{"type":"track.prompt","prompt_name":"cli","request_id":1}"#, #"{"type":"flush"}"#,
        ])
        #expect(good.status == 0, "\(good.standardError)")
        #expect(good.standardOutput.split(separator: "\n").count == 2)
        let bad = try await Self.pltrackd(
            ["send", #"{"type":"track.prompt","prompt_name":"","request_id":2}"#],
            environment: ["PLTRACKD_SOCKET": daemon.socketPath]
        )
        #expect(bad.status == 1)
        #expect(bad.standardOutput.contains("invalid_message"))
        let lines = try daemon.jsonLines(daemon.daemon.configuration.outboxPath)
        #expect(lines.count == 1)
        try await daemon.stop()
    }

    @Test func statsPrintsATableOrJSON() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        let table = try await Self.pltrackd(["stats", "--socket", daemon.socketPath])
        #expect(table.status == 0)
        #expect(table.standardOutput.contains("delivered"))
        #expect(table.standardOutput.contains("balances"))
        let json = try await Self.pltrackd(["stats", "--json", "--socket", daemon.socketPath])
        #expect(json.status == 0)
        let stats = try JSONValue.parse(Array(json.standardOutput.utf8))
        #expect(stats["accepted"]?.integer == 0)
        #expect(stats["connections_total"]?.integer == 2)
        try await daemon.stop()
    }

    @Test func aClientWithoutADaemonSaysWhereItLooked() async throws {
        let outcome = try await Self.pltrackd(["stats", "--socket", "/tmp/pltrackd-nobody-here.sock"])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("/tmp/pltrackd-nobody-here.sock"))
    }

    @Test func theDaemonSaysPlainlyWhenItWritesToTheOutboxAndKeepsTheKeyOutOfItsLogs() async throws {
        let directory = NSTemporaryDirectory() + "pltrackd-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        for keyed in [false, true] {
            let socket = directory + "/d.sock"
            var environment = ProcessInfo.processInfo.environment
            environment["PROMPTLAYER_API_KEY"] = keyed ? upstream.expectedAPIKey : nil
            let daemon = try ChildProcess(
                BuildProducts.pltrackd,
                ["--socket", socket, "--upstream", upstream.baseURL, "--log-level", "trace"],
                environment: environment,
                currentDirectory: directory
            ).start()
            defer { daemon.killIfRunning() }
            try await Self.waitForSocket(socket)
            let send = try await Self.pltrackd([
                "send", "--socket", socket, #"{"type":"track.prompt","prompt_name":"p","request_id":7}"#,
                #"{"type":"flush"}"#,
            ])
            #expect(send.status == 0, "\(send.standardOutput)\(send.standardError)")
            daemon.signal(SIGTERM)
            let outcome = await daemon.wait()
            #expect(outcome.status == 0)
            #expect(outcome.standardError.contains("no API key configured") == !keyed)
            #expect(!outcome.standardError.contains(upstream.expectedAPIKey))
        }
        #expect(upstream.succeeded.count == 1)
        let outbox = try String(contentsOfFile: directory + "/pltrackd-outbox.jsonl", encoding: .utf8)
        #expect(outbox.contains(#""request_id":7"#))
        await upstream.stop()
    }

    /// Waits for a daemon started as a child to bind its socket; throws if it did not within two minutes.
    static func waitForSocket(_ path: String) async throws {
        try await waitUntil("a daemon to bind \(path)", polling: .milliseconds(50)) {
            FileManager.default.fileExists(atPath: path)
        }
    }
}
