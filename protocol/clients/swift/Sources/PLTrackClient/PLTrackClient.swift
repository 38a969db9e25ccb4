import Foundation
import Synchronization

/// Sends PromptLayer tracking calls to the local pltrackd instead of the network: the SDK's
/// `track` calls, one line to move.
///
/// ```swift
/// let promptLayer = PLTrackClient()
/// promptLayer.track.prompt(.init(requestID: 42, promptName: "welcome", promptInputVariables: ["name": "Ada"]))
/// ```
///
/// It connects on the first call and again after the daemon restarts. No call blocks longer
/// than `timeout`, and none throws: each returns `true` when the call was handed to the daemon
/// (taken, when `acknowledged`) and `false` otherwise, counted in ``lost`` or ``rejected`` and
/// reported to `onLost`. Safe to share between threads.
public final class PLTrackClient: Sendable {
    /// A call the daemon refused, with its error code and message.
    public struct Refusal: Sendable, Equatable {
        public var code: String
        public var message: String
    }

    private struct State {
        var connection: FrameConnection?
        var nextID: Int64 = 1
        var lost = 0
        var rejected = 0
        var refusals: [Refusal] = []
    }

    public let socketPath: String
    public let timeout: Duration
    public let acknowledged: Bool
    private let onLost: (@Sendable (_ type: String, _ reason: String) -> Void)?
    private let state = Mutex(State())

    /// - Parameters:
    ///   - socketPath: the daemon's socket; else `$PLTRACKD_SOCKET`, else
    ///     `$XDG_RUNTIME_DIR/pltrackd.sock`, else `/run/pltrackd/pltrackd.sock`.
    ///   - timeout: the most one call blocks: connecting, writing, and the answer when acknowledged.
    ///   - acknowledged: wait for the daemon to take each call; by default calls are handed over
    ///     without waiting.
    ///   - onLost: told the message type and the reason of every call not handed over.
    public init(
        socketPath: String? = nil, timeout: Duration = .milliseconds(250), acknowledged: Bool = false,
        onLost: (@Sendable (_ type: String, _ reason: String) -> Void)? = nil
    ) {
        self.socketPath = socketPath ?? Self.defaultSocketPath()
        self.timeout = timeout
        self.acknowledged = acknowledged
        self.onLost = onLost
    }

    /// The SDK's four calls: `client.track.prompt(…)`, `.metadata`, `.score`, `.group`.
    public var track: Track { Track(client: self) }

    /// Calls that could not be handed over.
    public var lost: Int { self.state.withLock { $0.lost } }
    /// Calls the daemon answered with an error.
    public var rejected: Int { self.state.withLock { $0.rejected } }
    /// The last refusals (at most 100), oldest first.
    public var refusals: [Refusal] { self.state.withLock { $0.refusals } }

    /// Waits until every call handed over so far is delivered or dead-lettered (at most
    /// `timeoutMilliseconds`, and the client's timeout for the answer on top).
    @discardableResult
    public func flush(timeoutMilliseconds: Int = 30_000) -> Bool {
        self.exchange(#"{"type":"flush","timeout_ms":\#(timeoutMilliseconds)"#, extraWait: timeoutMilliseconds) != nil
    }

    /// Hands the SDK's `log_request(…)` to pltrackd, which logs the request with PromptLayer;
    /// returns its ref at once (name the request in track calls with `.ref(ref)`), or `nil`
    /// when it could not be handed over.
    @discardableResult
    public func logRequest(_ call: PLTrackCall.LogRequest) -> String? {
        self.handOver("log.request", call) ? call.ref : nil
    }

    /// The id PromptLayer answered the log with `ref` with, waiting for its answer at most
    /// `timeoutMilliseconds` (and the client's timeout on top); `nil` when it did not come, or
    /// the log failed. Track calls never need it: they name the ref.
    public func requestID(forRef ref: String, timeoutMilliseconds: Int = 30_000) -> Int64? {
        let query = #"{"type":"request_id","ref":\#(Self.quoted(ref)),"timeout_ms":\#(timeoutMilliseconds)"#
        guard let reply = self.exchange(query, extraWait: timeoutMilliseconds),
            let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any]
        else {
            return nil
        }
        return (object["request_id"] as? NSNumber)?.int64Value
    }

    public struct Track: Sendable {
        let client: PLTrackClient

        @discardableResult
        public func prompt(_ call: PLTrackCall.Prompt) -> Bool { self.client.handOver("track.prompt", call) }
        @discardableResult
        public func metadata(_ call: PLTrackCall.Metadata) -> Bool { self.client.handOver("track.metadata", call) }
        @discardableResult
        public func score(_ call: PLTrackCall.Score) -> Bool { self.client.handOver("track.score", call) }
        @discardableResult
        public func group(_ call: PLTrackCall.Group) -> Bool { self.client.handOver("track.group", call) }
    }

    // MARK: Internals

    private func handOver(_ type: String, _ call: some Encodable) -> Bool {
        let fields: [UInt8]
        do {
            fields = Array(try JSONEncoder().encode(call))
        } catch {
            return self.lose(type, "cannot encode the call: \(error)")
        }
        let opening = Array(#"{"type":"\#(type)""#.utf8)
        let prefix = fields.count > 2 ? opening + [UInt8(ascii: ",")] : opening
        let message = prefix + fields.dropFirst()
        if self.acknowledged {
            return self.exchange(String(decoding: message.dropLast(), as: UTF8.self), extraWait: 0, type: type) != nil
        }
        var reason = "not sent"
        for _ in 0..<2 {  // once more on a fresh connection: the daemon may have restarted
            do throws(FrameConnection.Failure) {
                try self.state.withLock { state throws(FrameConnection.Failure) in
                    let connection = try self.connected(&state)
                    try connection.send(message)
                    try self.note(connection.repliesReceived(), &state)
                }
                return true
            } catch {
                reason = error.description
                self.state.withLock { $0.connection = nil }
            }
        }
        return self.lose(type, reason)
    }

    /// Sends `object` (JSON text without its closing brace) with an `id` and waits for the
    /// answer; returns it when it is a success.
    private func exchange(_ object: String, extraWait milliseconds: Int, type: String? = nil) -> [UInt8]? {
        var reason = "not sent"
        for _ in 0..<2 {
            do throws(FrameConnection.Failure) {
                return try self.state.withLock { state throws(FrameConnection.Failure) in
                    let connection = try self.connected(&state)
                    let id = state.nextID
                    state.nextID += 1
                    try connection.send(Array((object + #","id":\#(id)}"#).utf8))
                    let deadline = ContinuousClock.now + .milliseconds(milliseconds) + self.timeout
                    while true {
                        let reply = try connection.nextReply()
                        if let taken = Self.answer(reply, id: id) {
                            if Self.isShuttingDown(reply) {
                                // That daemon is going away: try its successor on a fresh connection.
                                connection.close()
                                throw FrameConnection.Failure(description: "pltrackd is shutting down")
                            }
                            if !taken {
                                self.note([reply], &state)
                            }
                            return taken ? reply : nil
                        }
                        self.note([reply], &state)
                        if ContinuousClock.now > deadline {
                            throw FrameConnection.Failure(description: "no answer from pltrackd in time")
                        }
                    }
                }
            } catch {
                reason = error.description
                self.state.withLock { $0.connection = nil }
            }
        }
        if let type {
            _ = self.lose(type, reason)
        }
        return nil
    }

    /// `text` as a JSON string.
    private static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private func connected(_ state: inout State) throws(FrameConnection.Failure) -> FrameConnection {
        if let connection = state.connection, connection.isOpen {
            return connection
        }
        let connection = try FrameConnection(path: self.socketPath, timeout: self.timeout)
        state.connection = connection
        return connection
    }

    /// Files error replies as refusals.
    private func note(_ replies: [[UInt8]], _ state: inout State) {
        for reply in replies {
            guard let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
                object["ok"] as? Bool != true
            else {
                continue
            }
            let error = object["error"] as? [String: Any]
            state.rejected += 1
            state.refusals.append(
                Refusal(code: error?["code"] as? String ?? "unknown", message: error?["message"] as? String ?? ""))
            state.refusals = Array(state.refusals.suffix(100))
        }
    }

    private func lose(_ type: String, _ reason: String) -> Bool {
        self.state.withLock { $0.lost += 1 }
        self.onLost?(type, reason)
        return false
    }

    /// Whether `reply` answers `id` with success; `nil` when it answers something else.
    private static func answer(_ reply: [UInt8], id: Int64) -> Bool? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
            (object["id"] as? NSNumber)?.int64Value == id
        else {
            return nil
        }
        return object["ok"] as? Bool == true
    }

    private static func isShuttingDown(_ reply: [UInt8]) -> Bool {
        let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any]
        return (object?["error"] as? [String: Any])?["code"] as? String == "shutting_down"
    }

    private static func defaultSocketPath() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["PLTRACKD_SOCKET"], !path.isEmpty {
            return path
        }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return runtime + "/pltrackd.sock"
        }
        return "/run/pltrackd/pltrackd.sock"
    }
}
