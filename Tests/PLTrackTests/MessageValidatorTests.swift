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
            var path: String?
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
        #expect(Self.vectors.count > 60)
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
                #expect(track.kind.path == vector.expect.path)
                if let body = vector.expect.body {
                    #expect(track.body.description == body)
                }
            case .stats: #expect(vector.expect.kind == "stats")
            case .ping: #expect(vector.expect.kind == "ping")
            case .flush: #expect(vector.expect.kind == "flush")
            case .requestID: #expect(vector.expect.kind == "request_id")
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

    @Test(arguments: [
        #"{"type":"track.prompt","id":1,"prompt_name":"p","request_id":5}"#,
        #"{"prompt_name":"p","request_id":5,"id":1,"type":"track.prompt"}"#,
        #"{"id":1,"prompt_name":"p","request_id":5,"type":"track.prompt"}"#,
    ])
    func aBodyWhoseMembersLieTogetherIsASliceOfTheFrame(payload: String) {
        let frame = ByteBuffer(string: payload)
        guard case .message(.track(let message)) = MessageValidator().validate(frame) else {
            Issue.record("must be accepted")
            return
        }
        #expect(message.body.description == #"{"prompt_name":"p","request_id":5}"#)
        #expect(Self.lies(message.body.members, inside: frame), "the members are not copied")
    }

    @Test func aBodyWithTypeOrIDBetweenItsMembersIsJoinedInAFreshBuffer() {
        let frame = ByteBuffer(string: #"{"prompt_name":"p", "type":"track.prompt","request_id":5}"#)
        guard case .message(.track(let message)) = MessageValidator().validate(frame) else {
            Issue.record("must be accepted")
            return
        }
        #expect(message.body.description == #"{"prompt_name":"p","request_id":5}"#)
        #expect(!Self.lies(message.body.members, inside: frame))
    }

    @Test func aCompactedBodyLetsGoOfTheLargerBufferItWasReadIn() {
        var read = ByteBuffer(string: String(repeating: " ", count: 60_000))
        read.writeString(#"{"type":"track.prompt","prompt_name":"p","request_id":5}"#)
        read.moveReaderIndex(forwardBy: 60_000)
        guard case .message(.track(let message)) = MessageValidator().validate(read) else {
            Issue.record("must be accepted")
            return
        }
        let compacted = message.body.compacted()
        #expect(compacted == message.body)
        #expect(message.body.members.storageCapacity >= 60_000)
        #expect(compacted.members.storageCapacity < 1_000)
        #expect(compacted.compacted().members.storageCapacity == compacted.members.storageCapacity)
    }

    /// Whether the bytes of `part` are bytes of `whole` (a slice), not a copy of them.
    private static func lies(_ part: ByteBuffer, inside whole: ByteBuffer) -> Bool {
        whole.withUnsafeReadableBytes { outer in
            part.withUnsafeReadableBytes { inner in
                guard let outerStart = outer.baseAddress, let innerStart = inner.baseAddress else { return false }
                return innerStart >= outerStart && innerStart + inner.count <= outerStart + outer.count
            }
        }
    }
}
