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
        var name: String
        var messages: [JSONValue]
        var upstream: [Call]
        var testDescription: String { self.name }
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
        let connection = try FrameConnection(path: daemon.socketPath, timeout: .seconds(60))
        for vector in MessageValidatorTests.vectors {
            try connection.send(Array(vector.payload.utf8))
            try connection.send(Array(#"{"type":"flush","id":"after-vector"}"#.utf8))
            var replies: [JSONValue] = []
            while case let reply = try JSONValue.parse(connection.nextReply()), reply["id"] != .string("after-vector") {
                replies.append(reply)
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

    @Test(arguments: sequences)
    func eachSequenceMakesTheUpstreamCallsItLists(_ sequence: Sequence) async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        // A window longer than any test: the flush releases what coalesced.
        let daemon = try await DaemonHarness(upstream: upstream) { $0.coalescingWindow = .seconds(600) }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for message in sequence.messages {
                try await client.send(message.jsonText)
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(stats?["coalesced"]?.integer == Int64(sequence.messages.count - sequence.upstream.count))
            #expect(stats?["ledger_balances"] == .bool(true))
        }
        let received = upstream.succeeded.map { Sequence.Call(path: $0.path, body: $0.json ?? .null) }
        #expect(received.count == sequence.upstream.count, "\(received)")
        for request in Set(sequence.upstream.compactMap { $0.body["request_id"] }) {
            #expect(
                received.filter { $0.body["request_id"] == request }
                    == sequence.upstream.filter { $0.body["request_id"] == request })
        }
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }
}
