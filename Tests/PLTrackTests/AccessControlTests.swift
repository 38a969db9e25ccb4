import Foundation
import Glibc
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// `--allow-uid` and `--allow-gid`: each connection's peer is checked with `SO_PEERCRED`; a
/// refused one is answered `forbidden`, closed and counted, and the lists reload.
struct AccessControlTests {
    /// A uid and gid nobody here runs as.
    static let stranger: UInt32 = 4_000_000_000

    @Test func aPeerOnNeitherListIsAnsweredForbiddenClosedAndCounted() async throws {
        let daemon = try await DaemonHarness { $0.allowedUIDs = [Self.stranger] }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            let reply = try await client.reply()
            #expect(reply?["ok"] == .bool(false))
            #expect(reply?["error"]?["code"]?.string == "forbidden")
            #expect(reply?["error"]?["message"]?.string?.contains("uid \(getuid())") == true)
            #expect(try await client.reply() == nil, "then the connection is closed")
        }
        let stats = daemon.daemon.statsSnapshot()
        #expect(stats.connectionsForbidden == 1)
        #expect(stats.rejected["forbidden"] == 1)
        #expect(stats.connectionsOpen == 0)
        try await daemon.stop()
    }

    struct Lists: Sendable, CustomTestStringConvertible {
        var uids: [UInt32]?
        var gids: [UInt32]?
        var testDescription: String { "uids \(self.uids ?? []), gids \(self.gids ?? [])" }
    }

    @Test(arguments: [
        Lists(uids: [getuid()], gids: nil),
        Lists(uids: [Self.stranger], gids: [getgid()]),
        Lists(uids: nil, gids: [getgid(), Self.stranger]),
    ])
    func aPeerOnEitherListIsServed(_ lists: Lists) async throws {
        let (uids, gids) = (lists.uids, lists.gids)
        let daemon = try await DaemonHarness { configuration in
            configuration.allowedUIDs = uids
            configuration.allowedGIDs = gids
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        #expect(daemon.daemon.statsSnapshot().connectionsForbidden == 0)
        try await daemon.stop()
    }

    @Test func theListsReloadAndApplyToTheNextConnection() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        var narrower = daemon.daemon.live.current
        narrower.allowedUIDs = [Self.stranger]
        #expect(daemon.daemon.live.reload(from: narrower).applied == ["allow-uid"])
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.reply()?["error"]?["code"]?.string == "forbidden")
        }
        try await daemon.stop()
    }

    @Test func theListsAreReadRepeatedOrCommaSeparatedAndBadIDsAreNamed() throws {
        let resolved = try ConfigurationResolver(
            flags: ["allow-uid": "1000, 1001,1000"], environment: ["PLTRACKD_ALLOW_GID": "50"], configPath: nil
        ).resolve().get()
        #expect(resolved.configuration.allowedUIDs == [1000, 1001, 1000])
        #expect(Settings.named("allow-uid")?.value(in: resolved.configuration) == "1000,1001")
        #expect(resolved.configuration.allowedGIDs == [50])
        guard
            case .failure(let problems) = ConfigurationResolver(
                flags: ["allow-uid": "1000,alice"], environment: [:], configPath: nil
            ).resolve()
        else {
            Issue.record("a bad uid was accepted")
            return
        }
        #expect(problems.description.contains("--allow-uid"))
        #expect(problems.description.contains("\"alice\" is not a numeric id"))
    }
}
