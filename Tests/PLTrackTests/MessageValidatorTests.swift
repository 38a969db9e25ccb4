import Foundation
import NIOCore
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// The validation rules, driven by `protocol/vectors.json` (the vectors clients use too).
struct MessageValidatorTests {
    struct Vector: Decodable, CustomTestStringConvertible, Sendable {
        struct Expectation: Decodable, Sendable {
            var ok: Bool
            var kind: String?
            var body: String?
            var code: String?
            var messageMentions: String?
            var id: JSONValue?
        }

        var name: String
        var payload: String
        var expect: Expectation

        var testDescription: String { self.name }
    }

    static let vectors: [Vector] = {
        struct File: Decodable { var vectors: [Vector] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/vectors.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return (try? decoder.decode(File.self, from: Data(contentsOf: url)).vectors) ?? []
    }()

    @Test func theVectorsAreThere() {
        #expect(Self.vectors.count > 30)
    }

    @Test(arguments: vectors)
    func answersEachVectorAsSpecified(_ vector: Vector) throws {
        let verdict = MessageValidator().validate(ByteBuffer(string: vector.payload))
        switch verdict {
        case .message(let message):
            #expect(vector.expect.ok, "accepted, but the vector expects \(vector.expect.code ?? "")")
            switch message {
            case .track(let track):
                #expect(vector.expect.kind == "track")
                if let body = vector.expect.body {
                    #expect(String(buffer: track.body) == body)
                }
            case .stats: #expect(vector.expect.kind == "stats")
            case .ping: #expect(vector.expect.kind == "ping")
            case .flush: #expect(vector.expect.kind == "flush")
            }
        case .rejected(let error, let id):
            #expect(!vector.expect.ok, "rejected: \(error.message)")
            #expect(error.code.rawValue == vector.expect.code)
            if let mention = vector.expect.messageMentions {
                #expect(error.message.contains(mention), "\(error.message)")
            }
            if let expectedID = vector.expect.id {
                #expect(try JSONValue.parse(Array((id?.json ?? "null").utf8)) == expectedID)
            }
        }
    }

    @Test func keepsTheIDTextExactly() {
        let verdict = MessageValidator().validate(ByteBuffer(string: #"{"type":"ping","id":12345678901234567}"#))
        #expect(verdict == .message(.ping(id: ReplyID(json: "12345678901234567"))))
    }

    @Test func keysRequestsByTheirRequestID() {
        let integer = MessageValidator().validate(
            ByteBuffer(string: #"{"type":"track.prompt","prompt_name":"p","request_id":5}"#))
        let string = MessageValidator().validate(
            ByteBuffer(string: #"{"type":"track.prompt","prompt_name":"p","request_id":"5"}"#))
        guard case .message(.track(let a)) = integer, case .message(.track(let b)) = string else {
            Issue.record("both must be accepted")
            return
        }
        #expect(a.coalescingKey.requestID == .integer(5))
        #expect(b.coalescingKey.requestID == .string("5"))
    }
}
