import Foundation
import Glibc
import Synchronization
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The socket side: errors, limits and the socket file, over real Unix sockets.
struct IngestTests {
    @Test func aBadMessageGetsAClearErrorAndTheConnectionStaysUsable() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            let reply = try await client.request(#"{"type":"track.prompt","id":7,"request_id":1}"#)
            #expect(reply?["id"] == .integer(7))
            #expect(reply?["ok"] == .bool(false))
            #expect(reply?["error"]?["code"]?.string == "invalid_message")
            #expect(reply?["error"]?["message"]?.string?.contains("prompt_name") == true)
            // Without an id, errors are still answered; accepted calls are not.
            try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":1}"#)
            let broken = try await client.request("{\"type\":")
            #expect(broken?["error"]?["code"]?.string == "invalid_json")
            #expect(
                try await client.request(#"{"type":"ping","id":"still here"}"#)
                    == .object(["id": .string("still here"), "ok": .bool(true)]))
            let stats = try await client.stats()
            #expect(stats?["accepted"]?.integer == 1)
            #expect(stats?["rejected"]?["invalid_message"]?.integer == 1)
            #expect(stats?["rejected"]?["invalid_json"]?.integer == 1)
        }
        try await daemon.stop()
    }

    @Test func anEmptyFrameIsInvalidJSONAndFramingContinues() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request("")?["error"]?["code"]?.string == "invalid_json")
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await daemon.stop()
    }

    @Test func anOversizedFrameIsRefusedAndTheConnectionClosed() async throws {
        let daemon = try await DaemonHarness { $0.maximumFrameLength = 64 }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            let big = #"{"type":"track.prompt","prompt_name":"\#(String(repeating: "x", count: 100))","request_id":1}"#
            let reply = try await client.request(big)
            #expect(reply?["error"]?["code"]?.string == "frame_too_large")
            #expect(reply?["error"]?["message"]?.string?.contains("64") == true)
            #expect(try await client.reply() == nil)
        }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.stats()?["rejected"]?["frame_too_large"]?.integer == 1)
        }
        try await daemon.stop()
    }

    @Test func aFrameSplitAcrossWritesIsReassembled() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            var frame = ByteBuffer()
            frame.writeFrame(bytes: Array(#"{"type":"ping","id":"split"}"#.utf8))
            let bytes = Array(frame.readableBytesView)
            for byte in bytes {
                try await client.writer.sendRaw([byte])
            }
            #expect(try await client.reply()?["id"] == .string("split"))
        }
        try await daemon.stop()
    }

    @Test func connectionsBeyondTheLimitAreAnsweredOverloaded() async throws {
        let daemon = try await DaemonHarness { $0.maximumConnections = 1 }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { first async throws in
            #expect(try await first.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
            try await TestClient.connect(to: daemon.socketPath) { second async throws in
                #expect(try await second.reply()?["error"]?["code"]?.string == "overloaded")
                #expect(try await second.reply() == nil)
            }
            #expect(try await first.stats()?["connections_refused"]?.integer == 1)
        }
        try await daemon.stop()
    }

    @Test func framesSentBeforeAHalfCloseAreStillHandled() async throws {
        let daemon = try await DaemonHarness()
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":1,"id":"last"}"#)
            client.writer.finish()
            #expect(try await client.reply()?["id"] == .string("last"))
        }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.stats()?["accepted"]?.integer == 1)
        }
        try await daemon.stop()
    }

    @Test func theSocketFileGetsTheConfiguredMode() async throws {
        let daemon = try await DaemonHarness { $0.socketMode = 0o600 }
        defer { daemon.tearDown() }
        var status = stat()
        #expect(stat(daemon.socketPath, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(status.st_mode & S_IFMT == S_IFSOCK)
        try await daemon.stop()
        #expect(access(daemon.socketPath, F_OK) != 0, "the socket file is removed on stop")
    }

    @Test func aStaleSocketFileIsReplaced() async throws {
        let first = try await DaemonHarness()
        defer { first.tearDown() }
        let path = first.socketPath
        try await first.stop()
        // Leave a socket file nobody listens on, as a crashed daemon would.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let bound = UnixSocketAddress.withAddress(of: path) { bind(fd, $0, $1) }
        #expect(bound == 0)
        close(fd)
        let second = try await DaemonHarness { $0.socketPath = path }
        defer { second.tearDown() }
        try await TestClient.connect(to: path) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await second.stop()
    }

    @Test func aLiveSocketIsAClearStartupError() async throws {
        let first = try await DaemonHarness()
        defer { first.tearDown() }
        await #expect {
            _ = try await DaemonHarness { $0.socketPath = first.socketPath }
        } throws: { error in
            String(describing: error).contains("already serving")
        }
        try await TestClient.connect(to: first.socketPath) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await first.stop()
    }

    @Test func aPathThatIsNotASocketIsNeverReplaced() async throws {
        let first = try await DaemonHarness()
        defer { first.tearDown() }
        try await first.stop()
        let path = first.directory.appendingPathComponent("precious.txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        await #expect {
            _ = try await DaemonHarness { $0.socketPath = path }
        } throws: { error in
            String(describing: error).contains("is not a socket")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
    }

    @Test func aClientThatDoesNotReadItsRepliesIsNotReadEitherAndStallsNobodyElse() async throws {
        // Not a test of --frame-timeout (StalledClientTests is): on a machine slow enough, as
        // under ThreadSanitizer, this process's own writer can be starved past the default.
        let daemon = try await DaemonHarness { $0.frameTimeout = .seconds(600) }
        defer { daemon.tearDown() }
        let count = 50_000
        try await TestClient.connect(to: daemon.socketPath) { greedy async throws in
            let writer = greedy.writer
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The replies to these far outgrow the socket buffers while nobody reads them.
                    let frames = (0..<count).map { Array(#"{"type":"ping","id":\#($0)}"#.utf8) }
                    for start in stride(from: 0, to: count, by: 5_000) {
                        try await writer.send(contentsOf: Array(frames[start..<start + 5_000]))
                    }
                }
                // Another client is served meanwhile, and sees the daemon stop reading the greedy one:
                // nobody reads the greedy client's replies yet, so it must come to that. (The writer
                // may finish first, its frames still in socket buffers; the wait throws if it never comes.)
                try await TestClient.connect(to: daemon.socketPath) { other async throws in
                    try await waitUntil("the daemon to stop reading the client that reads no replies") {
                        (try await other.stats()?["slow_reader_pauses"]?.integer ?? 0) > 0
                    }
                }
                for expected in 0..<count {
                    let reply = try await greedy.reply()
                    if reply?["id"]?.integer != Int64(expected) {
                        Issue.record("reply \(expected) was \(String(describing: reply))")
                        break
                    }
                }
                try await group.waitForAll()
            }
        }
        try await daemon.stop()
    }
}
