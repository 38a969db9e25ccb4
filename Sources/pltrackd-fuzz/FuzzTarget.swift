import CFuzzer
import Foundation
import NIOCore
import NIOEmbedded
import PLTrack

/// libFuzzer's entry: each input is fed to the frame decoder as a byte stream and, whole, to
/// the validator as one payload. Beyond "no crash", it checks the documented outcomes:
///
/// - the validator answers exactly one of a message or an error with a documented code;
/// - an accepted tracking call's body is the input's object without `type`, `id`,
///   `request_ref`, a log's `ref` and members whose value is `null`: its members are a subsequence of the input's bytes (a slice, or the
///   members kept joined by the commas between them), and it parses to the same values;
/// - the decoder's frames and their length prefixes never add up to more than the input, and
///   `frame_too_large` comes last, once.
///
/// Built with `scripts/fuzz.sh` (`-sanitize=fuzzer -D FUZZING`), its main hands over to
/// libFuzzer's driver; without, it replays the files named on its command line, so a plain
/// `swift build` of every product links.
@main
enum FuzzTarget {
    static func main() {
        #if FUZZING
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                    FuzzTarget.check(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
                    return 0
                })
        #else
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                    exit(2)
                }
                Self.check(Array(data))
            }
        #endif
    }

    static func check(_ input: [UInt8]) {
        FuzzChecks.validate(input)
        FuzzChecks.decode(input)
    }
}

enum FuzzChecks {
    static let documentedCodes: Set<ProtocolError.Code> = [.invalidJSON, .invalidMessage, .unknownType]

    static func validate(_ input: [UInt8]) {
        switch MessageValidator().validate(ByteBuffer(bytes: input)) {
        case .rejected(let error, _):
            require(Self.documentedCodes.contains(error.code), "undocumented code \(error.code)")
            require(!error.message.isEmpty, "an error without a message")
        case .message(.track(let message)):
            let members = Array(message.body.members.readableBytesView)
            require(Self.isSubsequence(members, of: input), "the body's bytes are not the input's")
            Self.requireSameValues(body: message.body, input: input)
        case .message:
            break
        }
    }

    static func decode(_ input: [UInt8]) {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(FrameDecoder(maximumFrameLength: 4096)))
        defer { _ = try? channel.finish() }
        guard (try? channel.writeInbound(ByteBuffer(bytes: input))) != nil else {
            return
        }
        var consumed = 0
        var sawTooLarge = false
        while let frame = try? channel.readInbound(as: InboundFrame.self) {
            require(!sawTooLarge, "a frame after frame_too_large")
            switch frame {
            case .payload(let payload): consumed += 4 + payload.readableBytes
            case .tooLarge(let length): sawTooLarge = length > 4096
            }
        }
        require(consumed <= input.count, "frames longer than the input")
    }

    private static func isSubsequence(_ part: [UInt8], of whole: [UInt8]) -> Bool {
        var index = whole.startIndex
        for byte in part {
            guard let found = whole[index...].firstIndex(of: byte) else {
                return false
            }
            index = found + 1
        }
        return true
    }

    /// Where Foundation parses both, the body holds the input's members but `type`, `id` and
    /// those set to `null`, with equal values.
    private static func requireSameValues(body: TrackBody, input: [UInt8]) {
        guard let whole = try? JSONSerialization.jsonObject(with: Data(input)) as? [String: Any],
            let sent = try? JSONSerialization.jsonObject(with: Data(body.description.utf8)) as? [String: Any],
            !Self.mayHaveMergedKeys(whole)
        else {
            return
        }
        var expected = whole.filter { !($0.value is NSNull) }
        // Not sent: `type`, `id`, a call's `request_ref` (PromptLayer's id replaces it), a log's `ref`.
        if expected["type"] as? String == TrackKind.log.rawValue {
            expected["ref"] = nil
        }
        expected["type"] = nil
        expected["id"] = nil
        expected["request_ref"] = nil
        require(
            Self.canonical(expected) == Self.canonical(sent),
            "the body's values are not the input's: \(String(decoding: input, as: UTF8.self)) gave \(body)")
    }

    /// A value as JSON with every object's keys in byte order. Not Foundation's `.sortedKeys`:
    /// its order for some keys depends on the dictionary's iteration order, which changes with
    /// the process's hash seed, so equal objects were written differently.
    private static func canonical(_ value: Any) -> String {
        switch value {
        case let object as [String: Any]:
            let members = object.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            return "{" + members.map { Self.canonical($0.key) + ":" + Self.canonical($0.value) }.joined(separator: ",")
                + "}"
        case let array as [Any]:
            return "[" + array.map { Self.canonical($0) }.joined(separator: ",") + "]"
        default:
            let scalar = try? JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed)
            return scalar.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        }
    }

    /// Foundation keeps an object's members in a Swift dictionary, where canonically equivalent
    /// keys (`"é"` and `"e\u0301"`, `"K"` and the Kelvin sign) are one key, the last one's value
    /// winning. JSON and pltrackd keep them apart, so `{"é":1,"e\u0301":null}` keeps `"é":1`
    /// where Foundation has nothing left. A merged key is either not ASCII or holds one of the
    /// three ASCII characters another character is canonically equivalent to (`K`, `;`, `` ` ``).
    private static func mayHaveMergedKeys(_ object: [String: Any]) -> Bool {
        object.keys.contains { key in
            key.unicodeScalars.contains { !$0.isASCII || Self.asciiWithCanonicalSingletons.contains($0) }
        }
    }

    private static let asciiWithCanonicalSingletons: Set<Unicode.Scalar> = ["K", ";", "`"]

    private static func require(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition {
            FileHandle.standardError.write(Data("fuzz check failed: \(what())\n".utf8))
            abort()
        }
    }
}
