import Foundation
import PLTrackClient
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The machine-readable contract in `protocol/`, run against a live daemon delivering to a
/// real HTTP server on loopback: every vector gets its reply and, when accepted, reaches
/// PromptLayer's endpoint with its body; every sequence makes the upstream calls it lists.
@Suite(.serialized)
struct ProtocolFilesTests {
    struct Sequence: Decodable, CustomTestStringConvertible, Sendable {
        struct Call: Decodable, Sendable, Equatable, CustomStringConvertible {
            var path: String
            var body: JSONValue
            var description: String { "\(self.path) \(self.body)" }
        }
        struct DeadLetter: Decodable, Sendable, Equatable {
            var reason: String
            var path: String
            var requestRef: String?

            enum CodingKeys: String, CodingKey {
                case reason, path
                case requestRef = "request_ref"
            }
        }
        var name: String
        var messages: [JSONValue]
        var upstream: [Call]
        var deadLetters: [DeadLetter]?
        var refTTLMilliseconds: Int?
        var testDescription: String { self.name }

        enum CodingKeys: String, CodingKey {
            case name, messages, upstream
            case deadLetters = "dead_letters"
            case refTTLMilliseconds = "ref_ttl_ms"
        }

        /// The expected calls with each `{"$id_of_log": N}` replaced by the id of the N-th log taken.
        func upstream(withLogIDs ids: [Int64]) -> [Call] {
            self.upstream.map { call in
                guard case .object(var members) = call.body,
                    case .integer(let index)? = members["request_id"]?["$id_of_log"]
                else {
                    return call
                }
                members["request_id"] = Int(index) < ids.count ? .integer(ids[Int(index)]) : .null
                return Call(path: call.path, body: .object(members))
            }
        }
    }

    static let sequences: [Sequence] = {
        struct File: Decodable { var sequences: [Sequence] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/sequences.json")
        return (try? JSONDecoder().decode(File.self, from: Data(contentsOf: url)).sequences) ?? []
    }()

    @Test func everyVectorIsAnsweredByTheDaemonAsSpecified() async throws {
        #expect(MessageValidatorTests.vectors.count > 60)
        #expect(Self.sequences.count >= 6)
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        // No window: every accepted call goes upstream as it is, one flush at a time.
        let daemon = try await DaemonHarness(upstream: upstream) { $0.coalescingWindow = .zero }
        defer { daemon.tearDown() }
        // Through the shipped Swift client's connection, as an app would send them.
        // Used by one thread at a time: each exchange is awaited before the next.
        nonisolated(unsafe) let connection = try FrameConnection(path: daemon.socketPath, timeout: .seconds(60))
        for vector in MessageValidatorTests.vectors {
            // The connection blocks: it is used on a thread of its own.
            let replies = try await blocking {
                try connection.send(Array(vector.payload.utf8))
                try connection.send(Array(#"{"type":"flush","id":"after-vector"}"#.utf8))
                var replies: [JSONValue] = []
                while case let reply = try JSONValue.parse(connection.nextReply()),
                    reply["id"] != .string("after-vector")
                {
                    replies.append(reply)
                }
                return replies
            }
            Self.check(replies, against: vector)
            if vector.expect.ok, vector.expect.kind == "track" {
                let last = upstream.succeeded.last
                #expect(last?.path == vector.expect.path, "\(vector.name)")
                if let body = vector.expect.body {
                    #expect(last.map { String(decoding: $0.body, as: UTF8.self) } == body, "\(vector.name)")
                }
                #expect(last?.apiKey == upstream.expectedAPIKey)
            }
        }
        connection.close()
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }

    private static func check(_ replies: [JSONValue], against vector: MessageValidatorTests.Vector) {
        let hasID = (try? JSONValue.parse(Array(vector.payload.utf8)))?["id"] != nil
        if vector.expect.ok {
            let expected = vector.expect.kind == "track" && !hasID ? 0 : 1
            #expect(replies.count == expected, "\(vector.name): \(replies)")
            #expect(replies.allSatisfy { $0["ok"] == .bool(true) }, "\(vector.name): \(replies)")
        } else {
            #expect(replies.count == 1, "\(vector.name): \(replies)")
            #expect(replies.first?["ok"] == .bool(false), "\(vector.name)")
            #expect(replies.first?["error"]?["code"]?.string == vector.expect.code, "\(vector.name): \(replies)")
            if let id = vector.expect.id {
                #expect(replies.first?["id"] == id, "\(vector.name)")
            }
        }
    }

    /// The lines of the daemon's dead-letter file.
    static func deadLetters(in daemon: DaemonHarness) throws -> [JSONValue] {
        let path = daemon.daemon.configuration.deadLetterPath
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return []
        }
        return try text.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
    }

    @Test(arguments: sequences)
    func eachSequenceMakesTheUpstreamCallsItLists(_ sequence: Sequence) async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        // A window longer than any test: the flush releases what coalesced.
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.coalescingWindow = .seconds(600)
            if let ttl = sequence.refTTLMilliseconds {
                $0.refTTL = .milliseconds(ttl)
            }
        }
        defer { daemon.tearDown() }
        let deadLetters = sequence.deadLetters ?? []
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for message in sequence.messages {
                try await client.send(message.jsonText)
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(
                stats?["coalesced"]?.integer
                    == Int64(sequence.messages.count - sequence.upstream.count - deadLetters.count))
            #expect(stats?["dead_lettered"]?.integer == Int64(deadLetters.count))
            #expect(stats?["ledger_balances"] == .bool(true))
        }
        let received = upstream.succeeded.map { Sequence.Call(path: $0.path, body: $0.json ?? .null) }
        let expected = sequence.upstream(withLogIDs: upstream.logged.map(\.id))
        #expect(received.count == expected.count, "\(received)")
        // Calls for one request in the order listed; logs (no request_id) in the order listed,
        // each before every call that names the id it was answered with.
        for request in Set(expected.compactMap { $0.body["request_id"] }) {
            #expect(
                received.filter { $0.body["request_id"] == request }
                    == expected.filter { $0.body["request_id"] == request })
        }
        #expect(received.filter { $0.body["request_id"] == nil } == expected.filter { $0.body["request_id"] == nil })
        for (log, id) in zip(received.indices.filter { received[$0].path == "/log-request" }, upstream.logged.map(\.id))
        {
            #expect(received[..<log].allSatisfy { $0.body["request_id"] != .integer(id) }, "log \(id) goes first")
        }
        let written = try Self.deadLetters(in: daemon)
        #expect(
            written.map {
                Sequence.DeadLetter(
                    reason: $0["reason"]?.string ?? "", path: $0["path"]?.string ?? "",
                    requestRef: $0["request_ref"]?.string)
            }
                == deadLetters)
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }
}
