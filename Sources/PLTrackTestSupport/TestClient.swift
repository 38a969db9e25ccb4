import Foundation
import PLTrack

/// A client connection for tests: sends JSON text as frames and reads replies as ``JSONValue``.
public struct TestClient {
    public let writer: FrameClient.Writer
    public let replies: FrameClient.Replies

    /// Connects to `path` and runs `body`.
    public static func connect<Result: Sendable>(
        to path: String,
        _ body: (TestClient) async throws -> Result
    ) async throws -> Result {
        try await FrameClient.withConnection(to: path) { writer, replies in
            try await body(TestClient(writer: writer, replies: replies))
        }
    }

    /// Pings `path` until a daemon answers (for up to a minute); a socket file left by a
    /// killed daemon refuses until then. Throws ``WaitTimedOut`` if none answered.
    public static func waitUntilServing(_ path: String) async throws {
        var lastError: (any Error)?
        let awaited = "a daemon answering ping on \(path)"
        do {
            try await waitUntil(awaited, limit: .seconds(60), polling: .milliseconds(25)) {
                do {
                    let pong = try await Self.connect(to: path) {
                        try await $0.request(#"{"type":"ping","id":"up"}"#)
                    }
                    return pong?["ok"] == .bool(true)
                } catch {
                    lastError = error
                    return false
                }
            }
        } catch let timeout as WaitTimedOut {
            throw WaitTimedOut(awaited: awaited, limit: timeout.limit, lastError: lastError)
        }
    }

    /// Sends one message.
    public func send(_ json: String) async throws {
        try await self.writer.send(Array(json.utf8))
    }

    /// The next reply, or `nil` when the daemon closed the connection.
    public func reply() async throws -> JSONValue? {
        guard let bytes = try await self.replies.next() else {
            return nil
        }
        return try JSONValue.parse(bytes)
    }

    /// Sends one message and reads the next reply.
    public func request(_ json: String) async throws -> JSONValue? {
        try await self.send(json)
        return try await self.reply()
    }

    /// Waits until every call accepted so far is delivered or dead-lettered, for as long as the
    /// daemon keeps settling calls: a flush that times out is asked again while
    /// `delivered + dead_lettered` moved during it. How fast the machine is decides only how
    /// long this takes; a daemon that settles nothing for a whole `stallLimit` after the first
    /// one ran out gets its `timeout` reply returned, so a wedged daemon fails the test (after
    /// two limits at most) instead of hanging it.
    @discardableResult
    public func flush(stallLimit: Duration = .seconds(120)) async throws -> JSONValue? {
        let milliseconds = Int(stallLimit.components.seconds * 1_000)
        // Counted only after a flush timed out, so a flush that completes sends one frame.
        var settled: Int64?
        while true {
            let reply = try await self.flush(timeoutMilliseconds: milliseconds)
            guard reply?["error"]?["code"]?.string == "timeout" else {
                return reply
            }
            let nowSettled = try await self.settledCalls()
            if let settled, nowSettled == settled {
                return reply
            }
            settled = nowSettled
        }
    }

    /// One flush: waits until every call accepted so far is delivered or dead-lettered, or
    /// answers `timeout` after `timeoutMilliseconds`.
    @discardableResult
    public func flush(timeoutMilliseconds: Int) async throws -> JSONValue? {
        try await self.request(#"{"type":"flush","id":"flush","timeout_ms":\#(timeoutMilliseconds)}"#)
    }

    /// Calls delivered or dead-lettered so far.
    private func settledCalls() async throws -> Int64? {
        let stats = try await self.stats()
        guard let delivered = stats?["delivered"]?.integer, let deadLettered = stats?["dead_lettered"]?.integer else {
            return nil
        }
        return delivered + deadLettered
    }

    /// The daemon's stats object.
    public func stats() async throws -> JSONValue? {
        try await self.request(#"{"type":"stats","id":"stats"}"#)?["stats"]
    }
}

extension JSONValue {
    /// The integer value, for counters.
    public var integer: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    /// The string value.
    public var string: String? {
        if case .string(let value) = self { value } else { nil }
    }
}
