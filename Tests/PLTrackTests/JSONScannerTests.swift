import NIOCore
import Testing

@testable import PLTrack

/// Byte-level JSON checks: every malformed payload is `invalid_json`, with where and why.
struct JSONScannerTests {
    static let malformed: [(String, [UInt8])] = [
        ("empty frame", []),
        ("only white space", Array("  \n".utf8)),
        ("trailing bytes", Array(#"{"type":"ping"} x"#.utf8)),
        ("two values", Array(#"{"type":"ping"}{"type":"ping"}"#.utf8)),
        ("bad escape", Array(#"{"type":"pi\qg"}"#.utf8)),
        ("short unicode escape", Array(#"{"type":"\u12"}"#.utf8)),
        ("unpaired high surrogate", Array(#"{"type":"\ud800"}"#.utf8)),
        ("unpaired low surrogate", Array(#"{"type":"\udc00"}"#.utf8)),
        ("invalid UTF-8 byte", [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]),
        ("overlong UTF-8", [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D]),
        ("UTF-8 surrogate", [0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D]),
        ("truncated UTF-8", [0x7B, 0x22, 0xE2, 0x82, 0x22, 0x3A, 0x31, 0x7D]),
        ("raw control character", Array("{\"type\":\"a\u{01}\"}".utf8)),
        ("unterminated string", Array(#"{"type":"ping"#.utf8)),
        ("missing colon", Array(#"{"type" "ping"}"#.utf8)),
        ("trailing comma", Array(#"{"type":"ping",}"#.utf8)),
        ("leading zero", Array(#"{"n":01}"#.utf8)),
        ("bare minus", Array(#"{"n":-}"#.utf8)),
        ("fraction without digits", Array(#"{"n":1.}"#.utf8)),
        ("single quotes", Array("{'type':'ping'}".utf8)),
        ("bad literal", Array(#"{"a":tru}"#.utf8)),
        ("too deep", Array((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8)),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedJSON(_ name: String, _ bytes: [UInt8]) {
        let verdict = MessageValidator().validate(ByteBuffer(bytes: bytes))
        guard case .rejected(let error, _) = verdict else {
            Issue.record("\(name) was accepted")
            return
        }
        #expect(error.code == .invalidJSON, "\(name): \(error.message)")
        #expect(error.message.contains("at byte"))
    }

    @Test func decodesEscapesAndCountsScalars() throws {
        let bytes = Array(#"{"k":"a\u00e9\ud83d\ude00\n\"é"}"#.utf8)
        let document = try bytes.withUnsafeBytes { try JSONScanner.scan($0) }
        guard case .object(let members) = document, case .string(let value) = members.first?.kind else {
            Issue.record("not an object with a string")
            return
        }
        #expect(bytes.withUnsafeBytes { value.text(in: $0) } == "aé😀\n\"é")
        #expect(bytes.withUnsafeBytes { value.equals("aé😀\n\"é", in: $0) })
        #expect(value.scalarCount == 6)
    }

    @Test func recordsWhereEachMemberLies() throws {
        let text = #" { "a" : 1 , "b":[true,null,{"c":-2.5e3}] } "#
        let bytes = Array(text.utf8)
        let document = try bytes.withUnsafeBytes { try JSONScanner.scan($0) }
        guard case .object(let members) = document else {
            Issue.record("not an object")
            return
        }
        #expect(bytes.withUnsafeBytes { raw in members.map { $0.key.text(in: raw) } } == ["a", "b"])
        #expect(bytes.withUnsafeBytes { members[1].key.equals("b", in: $0) && !members[1].key.equals("bb", in: $0) })
        #expect(String(decoding: bytes[members[0].memberRange], as: UTF8.self) == #""a" : 1"#)
        #expect(String(decoding: bytes[members[1].valueRange], as: UTF8.self) == #"[true,null,{"c":-2.5e3}]"#)
        #expect(members[1].kind == .array)
    }
}
