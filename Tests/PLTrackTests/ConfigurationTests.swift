import Foundation
import Logging
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The configuration file format, the layers (flags, environment, file, defaults) and reload.
struct ConfigurationTests {
    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "pltrackd-config-\(UUID().uuidString.prefix(8)).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsKeysValuesAndComments() throws {
        let text = """
            # pltrackd
            workers = 16            # more
            coalesce_window = "20ms"
            socket = "/tmp/with # hash.sock"
            queue-capacity = 1_000
            """
        let file = try ConfigurationFile.parse(text, path: "p.toml").get()
        #expect(file.entries.map(\.key) == ["workers", "coalesce_window", "socket", "queue-capacity"])
        #expect(file.entries.map(\.value) == ["16", "20ms", "/tmp/with # hash.sock", "1000"])
        #expect(file.entries.map(\.line) == [2, 3, 4, 5])
    }

    @Test func reportsEveryMalformedLineWithItsNumber() {
        let text = "workers = 8\n[server]\nnonsense\nworkers = 9\nsocket = \"open\nretry_base = 100ms\n"
        guard case .failure(let problems) = ConfigurationFile.parse(text, path: "p.toml") else {
            Issue.record("a broken file was accepted")
            return
        }
        #expect(
            problems.problems.map(\.source) == [
                "p.toml:2", "p.toml:3", "p.toml:4", "p.toml:5 socket", "p.toml:6 retry_base",
            ])
        #expect(problems.problems[0].message.contains("sections"))
        #expect(problems.problems[2].message.contains("line 1"))
        #expect(problems.problems[4].message.contains("quote it"))
    }

    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
        let path = try Self.file(
            "workers = 3\nqueue_capacity = 30\ncoalesce_window = \"30ms\"\nflush_timeout = \"3s\"\n")
        let resolver = ConfigurationResolver(
            flags: ["workers": "1"],
            environment: [
                "PLTRACKD_WORKERS": "2", "PLTRACKD_QUEUE_CAPACITY": "20", "PLTRACKD_COALESCE_WINDOW": "20ms",
            ],
            configPath: path
        )
        let resolved = try resolver.resolve().get()
        #expect(resolved.configuration.maximumInFlight == 1)
        #expect(resolved.configuration.queueCapacity == 20)
        #expect(resolved.configuration.coalescingWindow == .milliseconds(20))
        #expect(resolved.configuration.flushTimeout == .seconds(3))
        #expect(resolved.configuration.drainTimeout == .seconds(10))
        #expect(resolved.sources["workers"] == "--workers")
        #expect(resolved.sources["queue-capacity"] == "PLTRACKD_QUEUE_CAPACITY")
        #expect(resolved.sources["flush-timeout"] == "\(path):4 flush_timeout")
    }

    @Test func everyErrorNamesWhereItCameFrom() throws {
        let path = try Self.file("workers = 0\nbogus_key = 1\nretry_cap = \"1ms\"\n")
        let resolver = ConfigurationResolver(
            flags: ["coalesce-window": "5parsecs"],
            environment: ["PLTRACKD_MAX_FRAME_LENGTH": "lots"],
            configPath: path
        )
        guard case .failure(let problems) = resolver.resolve() else {
            Issue.record("a broken configuration was accepted")
            return
        }
        let text = problems.description
        #expect(text.contains("\(path):2: unknown key bogus_key"))
        #expect(text.contains("\(path):1 workers: \"0\" is not a whole number from 1 to 1024"))
        #expect(text.contains("--coalesce-window: \"5parsecs\" is not a duration"))
        #expect(text.contains("PLTRACKD_MAX_FRAME_LENGTH: \"lots\" is not a size"))
        #expect(text.contains("retry_cap: must be at least retry-base"))
    }

    @Test func spoolOffRunsWithoutASpoolEvenUnderSystemd() throws {
        let state = ["STATE_DIRECTORY": "/var/lib/pltrackd"]
        let empty = try Self.file("")
        let underSystemd = ConfigurationResolver(flags: [:], environment: state, configPath: empty)
        #expect(try underSystemd.resolve().get().configuration.spoolDirectory == "/var/lib/pltrackd")
        let path = try Self.file("spool = \"off\"\n")
        let off = ConfigurationResolver(flags: [:], environment: state, configPath: path)
        #expect(try off.resolve().get().configuration.spoolDirectory == nil)
        let both = ConfigurationResolver(flags: ["spool-dir": "/tmp/spool"], environment: state, configPath: path)
        guard case .failure(let problems) = both.resolve() else {
            Issue.record("spool-dir and spool = off were both accepted")
            return
        }
        #expect(problems.problems.map(\.source) == ["--spool-dir"])
        #expect(problems.problems.first?.message.contains("spool is off") == true)
        let wrong = ConfigurationResolver(flags: ["spool": "maybe"], environment: [:], configPath: empty)
        guard case .failure(let wrongProblems) = wrong.resolve() else {
            Issue.record("spool = maybe was accepted")
            return
        }
        #expect(wrongProblems.problems.first?.message.contains("not on or off") == true)
        let asBoolean = ConfigurationResolver(
            flags: [:], environment: state, configPath: try Self.file("spool = false\n"))
        #expect(try asBoolean.resolve().get().configuration.spoolDirectory == nil)
    }

    @Test func theKeyComesFromTheFileThenTheCredentialThenTheEnvironment() throws {
        let credentials = NSTemporaryDirectory() + "pltrackd-cred-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "from-credential\n".write(toFile: credentials + "/promptlayer-api-key", atomically: true, encoding: .utf8)
        let keyFile = try Self.file("from-file\n")
        let environment = ["CREDENTIALS_DIRECTORY": credentials, "PROMPTLAYER_API_KEY": "from-environment"]
        let none = ConfigurationResolver(flags: [:], environment: [:], configPath: nil)
        #expect(try none.resolve().get().configuration.apiKey == nil)
        let fromFile = ConfigurationResolver(
            flags: ["api-key-file": keyFile], environment: environment, configPath: nil)
        #expect(try fromFile.resolve().get().configuration.apiKey?.secret == "from-file")
        let fromCredential = ConfigurationResolver(flags: [:], environment: environment, configPath: nil)
        #expect(try fromCredential.resolve().get().configuration.apiKey?.secret == "from-credential")
        // The packaged unit's fallback credential is a lone newline: no key.
        try "\n".write(toFile: credentials + "/promptlayer-api-key", atomically: true, encoding: .utf8)
        let emptyCredential = ConfigurationResolver(flags: [:], environment: environment, configPath: nil)
        #expect(try emptyCredential.resolve().get().configuration.apiKey?.secret == "from-environment")
        let report = try fromFile.resolve().get().report
        #expect(!report.contains("from-file") || report.contains("file \(keyFile)"))
        #expect(report.contains("<redacted>"))
        #expect(!report.contains("from-credential"))
    }

    @Test func reloadAppliesWhatItCanAndNamesWhatNeedsARestart() {
        var old = DaemonConfiguration(socketPath: "/tmp/a.sock")
        old.queueCapacity = 10
        let live = LiveConfiguration(old)
        var new = old
        new.queueCapacity = 20
        new.maximumInFlight = 4
        new.logLevel = .debug
        let outcome = live.reload(from: new)
        #expect(outcome.applied == ["queue-capacity", "log-level"])
        #expect(outcome.needRestart == ["max-in-flight", "workers"])
        #expect(live.current.queueCapacity == 20)
        #expect(live.current.maximumInFlight == 512)
    }

    @Test func workersIsTheOldNameOfMaxInFlight() throws {
        let byNewName = ConfigurationResolver(flags: ["max-in-flight": "64"], environment: [:], configPath: nil)
        #expect(try byNewName.resolve().get().configuration.maximumInFlight == 64)
        let byOldName = ConfigurationResolver(flags: [:], environment: [:], configPath: try Self.file("workers = 16\n"))
        #expect(try byOldName.resolve().get().configuration.maximumInFlight == 16)
        #expect(DaemonConfiguration(socketPath: "/unused").maximumInFlight == 512)
    }

    @Test func checkConfigPrintsTheEffectiveConfigurationWithoutTheKey() async throws {
        let path = try Self.file("workers = 5\n")
        let keyFile = try Self.file("sk-very-secret\n")
        let outcome = try await ChildProcess(
            BuildProducts.pltrackd,
            ["check-config", "--config", path, "--api-key-file", keyFile]
        ).run()
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.contains("workers = \"5\"  # \(path):1 workers"))
        #expect(outcome.standardOutput.contains("coalesce_window = \"50ms\"  # default"))
        #expect(outcome.standardOutput.contains("<redacted>"))
        #expect(!outcome.standardOutput.contains("sk-very-secret"))
        let broken = try Self.file("workers = many\n[x]\n")
        let failed = try await ChildProcess(BuildProducts.pltrackd, ["check-config", "--config", broken]).run()
        #expect(failed.status == 1)
        let errors = failed.standardError.split(separator: "\n")
        #expect(errors.count == 2)
        #expect(errors.first?.contains("\(broken):1 workers") == true)
        #expect(errors.last?.contains("\(broken):2") == true)
    }
}
