import Foundation
import PLTrack
import PLTrackTestSupport
import Testing

/// The Python and Node.js clients in `protocol/clients/`, written from `protocol/SPEC.md` alone, run
/// their own checks against a real daemon.
struct ClientExampleTests {
    @Test(
        .enabled(
            if: BuildProducts.onPath("python3") != nil && BuildProducts.onPath("node") != nil,
            "needs python3 and node; scripts/test.sh installs them"),
        arguments: [("python3", "protocol/clients/python/example.py"), ("node", "protocol/clients/node/example.js")])
    func theClientExamplePassesItsChecks(_ interpreter: String, _ script: String) async throws {
        let program = try #require(BuildProducts.onPath(interpreter))
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        let outcome = try await ChildProcess(
            program,
            [
                BuildProducts.packageRoot.appendingPathComponent(script).path, "--socket", daemon.socketPath, "--count",
                "50",
            ]
        ).run()
        let summary = outcome.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        #expect(outcome.status == 0, "\(outcome.standardOutput)\(outcome.standardError)")
        #expect(summary.hasSuffix(" 0 failed"), "\(summary)")
        #expect(summary.hasPrefix("example: "))
        let outbox = try daemon.jsonLines(daemon.daemon.configuration.outboxPath)
        #expect(outbox.count >= 50)
        try await daemon.stop()
    }
}
