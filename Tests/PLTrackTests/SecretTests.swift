import Foundation
import PLTrackTestSupport
import Testing

/// Issue 9, secrets: the API key reaches PromptLayer in the `X-API-KEY` header and nowhere else:
/// not in the logs at any level, the stats, the outbox, the dead letters, the spool, nor what
/// `check-config` prints.
struct SecretTests {
    /// A key no other text contains by chance.
    static let key = "pl-secret-\(UUID().uuidString)-must-not-leak"

    /// Where the key was found among `texts` (a place and what was read there).
    static func leaks(of key: String, in texts: [(place: String, bytes: Data)]) -> [String] {
        texts.filter { $0.bytes.range(of: Data(key.utf8)) != nil }.map(\.place)
    }

    /// Every regular file under `directory`, but the key file the daemon was given.
    static func files(under directory: String, except keyFile: String) -> [(place: String, bytes: Data)] {
        let paths = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []
        return paths.map { directory + "/" + $0 }.filter { $0 != keyFile }.compactMap { path in
            FileManager.default.contents(atPath: path).map { (path, $0) }
        }
    }

    @Test func theAPIKeyReachesPromptLayerInItsHeaderAndNowhereElse() async throws {
        let key = Self.key
        // Request ids 1, 4, 7…: 200; 2, 5, 8…: 400, dead-lettered; 3, 6, 9…: 500, then 200.
        let upstream = try await FakeUpstream(expectedAPIKey: key) { request, attempt in
            switch (request.json?["request_id"]?.integer ?? 0) % 3 {
            case 2: .init(status: 400, body: #"{"message":"refused by the fake upstream"}"#)
            case 0 where attempt == 0: .init(status: 500)
            default: .success
            }
        }
        defer { upstream.close() }
        let directory = "/tmp/pltrackd-secret-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await DaemonProcess(
            directory: directory, upstream: upstream, arguments: ["--log-level", "trace"])
        defer { daemon.killIfRunning() }
        let keyFile = directory + "/api-key"
        var texts: [(place: String, bytes: Data)] = []

        let stats = try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...30 {
                try await client.send(
                    #"{"type":"track.prompt","prompt_name":"secret","request_id":\#(requestID),"id":\#(requestID)}"#)
            }
            for _ in 1...30 {
                #expect(try await client.reply()?["ok"] == .bool(true))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let reply = try await client.request(#"{"type":"stats","id":"stats"}"#)
            texts.append(("the stats reply", Data(String(describing: reply).utf8)))
            return reply?["stats"]
        }
        #expect(stats?["delivered"]?.integer == 20)
        #expect(stats?["dead_lettered"]?.integer == 10)
        #expect((stats?["retries"]?.integer ?? 0) >= 10)
        for format in [["--json"], ["--format", "prometheus"], ["--format", "table"]] {
            let printed = try await ChildProcess(
                BuildProducts.pltrackd, ["stats", "--socket", daemon.socketPath] + format
            ).run()
            #expect(printed.status == 0, "\(printed.standardError)")
            texts.append(("pltrackd stats \(format.joined(separator: " "))", Data(printed.standardOutput.utf8)))
        }
        // The spool's segments are read while the daemon runs, and again after it stops.
        texts += Self.files(under: directory, except: keyFile)

        let outcome = await daemon.stop()
        #expect(outcome.status == 0, "\(outcome.standardError.suffix(3000))")
        // The capture must hold the logs, or it proves nothing: the dead letters' warning and
        // the retries were logged.
        #expect(outcome.standardError.contains("dead letters"), "\(outcome.standardError.suffix(2000))")
        texts.append(("the daemon's standard error", Data(outcome.standardError.utf8)))
        texts.append(("the daemon's standard output", Data(outcome.standardOutput.utf8)))
        let files = Self.files(under: directory, except: keyFile)
        #expect(files.contains { $0.place.hasSuffix("dead-letters.jsonl") }, "\(files.map(\.place))")
        #expect(files.contains { $0.place.contains("/spool/") }, "\(files.map(\.place))")
        texts += files

        var environment = ProcessInfo.processInfo.environment
        for name in ["STATE_DIRECTORY", "NOTIFY_SOCKET", "LISTEN_FDS", "PLTRACKD_CONFIG"] {
            environment[name] = nil
        }
        environment["PROMPTLAYER_API_KEY"] = nil
        let fromFile = try await ChildProcess(
            BuildProducts.pltrackd,
            [
                "check-config", "--api-key-file", keyFile, "--upstream", upstream.baseURL, "--spool-dir",
                directory + "/spool",
            ],
            environment: environment
        ).run()
        environment["PROMPTLAYER_API_KEY"] = key
        let fromEnvironment = try await ChildProcess(
            BuildProducts.pltrackd, ["check-config", "--upstream", upstream.baseURL], environment: environment
        ).run()
        for (name, checked) in [("--api-key-file", fromFile), ("$PROMPTLAYER_API_KEY", fromEnvironment)] {
            #expect(checked.status == 0, "\(checked.standardError)")
            #expect(!checked.standardOutput.isEmpty)
            texts.append(("check-config with \(name)", Data((checked.standardOutput + checked.standardError).utf8)))
        }

        // The search finds the key where it is: in the file the daemon was given.
        let given = try #require(FileManager.default.contents(atPath: keyFile))
        #expect(Self.leaks(of: key, in: [("the key file", given)]) == ["the key file"])
        #expect(Self.leaks(of: key, in: texts) == [], "the API key leaked")

        // And it reached PromptLayer, in the X-API-KEY header of every request and nowhere else.
        let requests = upstream.requests
        #expect(requests.count >= 40)
        #expect(requests.allSatisfy { $0.apiKey == key })
        #expect(!requests.contains { $0.path.contains(key) || Data($0.body).range(of: Data(key.utf8)) != nil })
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        await upstream.stop()
    }
}
