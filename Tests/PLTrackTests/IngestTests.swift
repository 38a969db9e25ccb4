import Foundation
import Glibc
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The socket side: errors, limits and the socket file, over real Unix sockets.
struct IngestTests {
    @Test func aBadMessageGetsAClearErrorAndTheConnectionStaysUsable() async throws {
        let daemon = try await DaemonHarness()
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
        daemon.removeFiles()
    }

    @Test func anEmptyFrameIsInvalidJSONAndFramingContinues() async throws {
        let daemon = try await DaemonHarness()
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request("")?["error"]?["code"]?.string == "invalid_json")
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await daemon.stop()
        daemon.removeFiles()
    }

    @Test func anOversizedFrameIsRefusedAndTheConnectionClosed() async throws {
        let daemon = try await DaemonHarness { $0.maximumFrameLength = 64 }
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
        daemon.removeFiles()
    }

    @Test func aFrameSplitAcrossWritesIsReassembled() async throws {
        let daemon = try await DaemonHarness()
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
        daemon.removeFiles()
    }

    @Test func connectionsBeyondTheLimitAreAnsweredOverloaded() async throws {
        let daemon = try await DaemonHarness { $0.maximumConnections = 1 }
        try await TestClient.connect(to: daemon.socketPath) { first async throws in
            #expect(try await first.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
            try await TestClient.connect(to: daemon.socketPath) { second async throws in
                #expect(try await second.reply()?["error"]?["code"]?.string == "overloaded")
                #expect(try await second.reply() == nil)
            }
            #expect(try await first.stats()?["connections_refused"]?.integer == 1)
        }
        try await daemon.stop()
        daemon.removeFiles()
    }

    @Test func framesSentBeforeAHalfCloseAreStillHandled() async throws {
        let daemon = try await DaemonHarness()
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            try await client.send(#"{"type":"track.prompt","prompt_name":"p","request_id":1,"id":"last"}"#)
            client.writer.finish()
            #expect(try await client.reply()?["id"] == .string("last"))
        }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.stats()?["accepted"]?.integer == 1)
        }
        try await daemon.stop()
        daemon.removeFiles()
    }

    @Test func theSocketFileGetsTheConfiguredMode() async throws {
        let daemon = try await DaemonHarness { $0.socketMode = 0o600 }
        var status = stat()
        #expect(stat(daemon.socketPath, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(status.st_mode & S_IFMT == S_IFSOCK)
        try await daemon.stop()
        #expect(access(daemon.socketPath, F_OK) != 0, "the socket file is removed on stop")
        daemon.removeFiles()
    }

    @Test func aStaleSocketFileIsReplaced() async throws {
        let first = try await DaemonHarness()
        let path = first.socketPath
        try await first.stop()
        // Leave a socket file nobody listens on, as a crashed daemon would.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        close(fd)
        let second = try await DaemonHarness { $0.socketPath = path }
        try await TestClient.connect(to: path) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await second.stop()
        first.removeFiles()
    }

    @Test func aLiveSocketIsAClearStartupError() async throws {
        let first = try await DaemonHarness()
        await #expect {
            _ = try await DaemonHarness { $0.socketPath = first.socketPath }
        } throws: { error in
            String(describing: error).contains("already serving")
        }
        try await TestClient.connect(to: first.socketPath) { client async throws in
            #expect(try await client.request(#"{"type":"ping","id":1}"#)?["ok"] == .bool(true))
        }
        try await first.stop()
        first.removeFiles()
    }

    @Test func aPathThatIsNotASocketIsNeverReplaced() async throws {
        let first = try await DaemonHarness()
        try await first.stop()
        let path = first.directory.appendingPathComponent("precious.txt").path
        FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        await #expect {
            _ = try await DaemonHarness { $0.socketPath = path }
        } throws: { error in
            String(describing: error).contains("is not a socket")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
        first.removeFiles()
    }
}
