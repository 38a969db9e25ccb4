import Foundation
import Glibc
import PLTrackTestSupport
import Testing

/// pltrackd under the real systemd tools: `systemd-socket-activate` passes the sockets, a
/// `NOTIFY_SOCKET` listener hears what the daemon tells the service manager.
@Suite(
    .enabled(
        if: BuildProducts.onPath("systemd-socket-activate") != nil,
        "needs systemd-socket-activate (Debian package systemd; scripts/test.sh installs it)"))
struct SystemdTests {
    /// A daemon started by `systemd-socket-activate` in a fresh directory.
    final class ActivatedDaemon: Sendable {
        let directory: String
        let tracking: String
        let control: String
        let notify: NotifyListener
        let process: ChildProcess.Running

        /// Starts the daemon. `systemd-socket-activate` execs it on the first connection: unless
        /// `activate` is false, a `ping` on the control socket does that before returning.
        init(watchdogMicroseconds: Int? = nil, extraArguments: [String] = [], activate: Bool = true) async throws {
            let tool = try #require(
                BuildProducts.onPath("systemd-socket-activate"), "systemd-socket-activate is missing (package systemd)")
            let directory = "/tmp/pltrackd-sa-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            self.directory = directory
            self.tracking = directory + "/pltrackd.sock"
            self.control = directory + "/control.sock"
            self.notify = try NotifyListener(path: directory + "/notify.sock")
            var arguments = [
                "-l", self.tracking, "-l", self.control, "--fdname=tracking:control",
                "-E", "NOTIFY_SOCKET=\(self.notify.path)",
            ]
            if let watchdogMicroseconds {
                arguments += ["-E", "WATCHDOG_USEC=\(watchdogMicroseconds)"]
            }
            arguments +=
                [
                    BuildProducts.pltrackd, "run", "--outbox", directory + "/outbox.jsonl",
                    "--dead-letter", directory + "/dead-letters.jsonl",
                ] + extraArguments
            self.process = try ChildProcess(tool, arguments, currentDirectory: directory).start()
            do {
                try await Self.waitForFile(self.control)
                if activate {
                    // The socket file exists once bound, which may be before it listens: a
                    // connection refused then is retried (one that is accepted activates).
                    try await TestClient.waitUntilServing(self.control)
                }
            } catch {
                self.tearDown()
                throw error
            }
        }

        var outbox: [JSONValue] {
            let data = FileManager.default.contents(atPath: self.directory + "/outbox.jsonl") ?? Data()
            return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONValue.parse($0) }
        }

        /// Stops the daemon with SIGTERM and returns how it ended.
        func stop() async -> ChildProcess.Outcome {
            self.process.signal(SIGTERM)
            return await self.process.wait()
        }

        /// Kills the daemon unless ``stop()`` stopped it, stops listening and removes the
        /// directory: for `defer`, so a test that throws leaves no daemon behind.
        func tearDown() {
            self.process.killIfRunning()
            self.notify.close()
            try? FileManager.default.removeItem(atPath: self.directory)
        }

        /// Waits for `systemd-socket-activate` to bind `path`; throws if it did not within two minutes.
        static func waitForFile(_ path: String) async throws {
            try await waitUntil(
                "systemd-socket-activate to bind \(path)", polling: .milliseconds(25)
            ) {
                FileManager.default.fileExists(atPath: path)
            }
        }
    }

    @Test func theMessageThatActivatesTheDaemonIsDelivered() async throws {
        let daemon = try await ActivatedDaemon(activate: false)
        defer { daemon.tearDown() }
        // The daemon is started by this very connection; its first frame must not be lost.
        try await TestClient.connect(to: daemon.tracking) { client async throws in
            let reply = try await client.request(
                #"{"type":"track.prompt","prompt_name":"first","request_id":1,"id":"a"}"#)
            #expect(reply?["ok"] == .bool(true))
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        #expect(daemon.outbox.first?["body"]?["prompt_name"]?.string == "first")
        let ready = try await daemon.notify.waitFor("READY=1") { $0 == "READY=1" }
        #expect(ready.count == 1)
        let outcome = await daemon.stop()
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(daemon.notify.received.contains { $0.text == "STOPPING=1" })
        #expect(FileManager.default.fileExists(atPath: daemon.tracking), "the socket file belongs to systemd")
    }

    @Test func theControlSocketAnswersStatsButRefusesTrackingCalls() async throws {
        let daemon = try await ActivatedDaemon()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.control) { control async throws in
            let refused = try await control.request(#"{"type":"track.prompt","prompt_name":"p","request_id":1,"id":9}"#)
            #expect(refused?["error"]?["code"]?.string == "forbidden")
            #expect(refused?["id"] == .integer(9))
            #expect(try await control.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
            #expect(try await control.flush()?["ok"] == .bool(true))
            let stats = try await control.stats()
            #expect(stats?["accepted"]?.integer == 0)
            #expect(stats?["rejected"]?["forbidden"]?.integer == 1)
        }
        _ = await daemon.stop()
    }

    @Test func readinessStatusAndStoppingReachTheServiceManager() async throws {
        let daemon = try await ActivatedDaemon()
        defer { daemon.tearDown() }
        try await daemon.notify.waitFor("READY=1") { $0 == "READY=1" }
        let before = try await daemon.notify.waitFor("a status line for an idle daemon") {
            $0.hasPrefix("STATUS=accepted 0 ·")
        }
        #expect(!before.isEmpty)
        try await TestClient.connect(to: daemon.tracking) { client async throws in
            for requestID in 1...25 {
                try await client.send(#"{"type":"track.prompt","prompt_name":"load","request_id":\#(requestID)}"#)
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        // The status line follows the load within a refresh or two.
        let after = try await daemon.notify.waitFor("a status line counting the 25 calls") {
            $0.hasPrefix("STATUS=accepted 25 · delivered 25 ·")
        }
        #expect(!after.isEmpty, "\(daemon.notify.received.map(\.text).suffix(3))")
        #expect(after.first?.text.contains(" on their way (limit ") == true)
        let outcome = await daemon.stop()
        #expect(outcome.status == 0)
        let texts = daemon.notify.received.map(\.text)
        #expect(texts.last == "STOPPING=1" || texts.contains("STOPPING=1"))
    }

    /// With `WATCHDOG_USEC` set, keep-alives keep reaching the service manager; their interval,
    /// half the timeout, is `WatchdogHealthTests.keepAlivesAreSentAtHalfTheWatchdogTimeout`.
    @Test func theWatchdogIsFedAtHalfItsInterval() async throws {
        let daemon = try await ActivatedDaemon(watchdogMicroseconds: 400_000)
        defer { daemon.tearDown() }
        let beats = try await daemon.notify.waitFor("WATCHDOG=1", count: 6) { $0 == "WATCHDOG=1" }
        #expect(beats.count >= 6)
        #expect(beats.allSatisfy { $0.text == "WATCHDOG=1" })
        let outcome = await daemon.stop()
        #expect(outcome.status == 0)
    }

    @Test func withoutAWatchdogNoKeepAlivesAreSent() async throws {
        let daemon = try await ActivatedDaemon()
        defer { daemon.tearDown() }
        try await daemon.notify.waitFor("a status line") { $0.hasPrefix("STATUS=") }
        _ = await daemon.stop()
        #expect(!daemon.notify.received.contains { $0.text == "WATCHDOG=1" })
    }

    @Test func sighupReloadsTheFileAndABrokenFileIsRefused() async throws {
        let directory = "/tmp/pltrackd-reload-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/pltrackd.toml"
        try "queue_capacity = 100\ncoalesce_window = \"10ms\"\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let daemon = try await ActivatedDaemon(extraArguments: ["--config", config])
        defer { daemon.tearDown() }
        func capacity() async throws -> Int64? {
            try await TestClient.connect(to: daemon.control) { try await $0.stats()?["queue_capacity"]?.integer }
        }
        #expect(try await capacity() == 100)

        try "queue_capacity = 250\ncoalesce_window = \"10ms\"\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        daemon.process.signal(SIGHUP)
        try await daemon.notify.waitFor("RELOADING=1") { $0 == "RELOADING=1" }
        try await daemon.notify.waitFor("READY=1 after the reload", count: 2) { $0 == "READY=1" }
        #expect(daemon.notify.received.contains { $0.text.hasPrefix("MONOTONIC_USEC=") })
        #expect(try await capacity() == 250)

        try "queue_capacity = \"many\"\n[section]\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.process.signal(SIGHUP)
        try await daemon.notify.waitFor("READY=1 after the refused reload", count: 3) { $0 == "READY=1" }
        let refusal = try await daemon.notify.waitFor("a status line saying the reload was refused") {
            $0.hasPrefix("STATUS=reload refused")
        }
        #expect(refusal.first?.text.contains("pltrackd.toml:2") == true, "\(refusal.map(\.text))")
        #expect(try await capacity() == 250, "the previous configuration stays")
        try await TestClient.connect(to: daemon.tracking) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        let outcome = await daemon.stop()
        #expect(outcome.status == 0)
        #expect(outcome.standardError.contains("reload refused"))
    }
}
