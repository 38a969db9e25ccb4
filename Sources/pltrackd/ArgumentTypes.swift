import ArgumentParser
import PLTrack

/// An option value written the way people write it, read by one parser and shown back in
/// `--help` by its formatter.
protocol WrittenValueArgument: ExpressibleByArgument, Sendable {
    associatedtype Value: Sendable
    var value: Value { get }
    init(_ value: Value)
    static func parse(_ text: String) -> Value?
    static func format(_ value: Value) -> String
}

extension WrittenValueArgument {
    init?(argument: String) {
        guard let value = Self.parse(argument) else {
            return nil
        }
        self.init(value)
    }

    var defaultValueDescription: String { Self.format(self.value) }
}

/// A duration option such as `50ms` or `10s`.
struct DurationArgument: WrittenValueArgument {
    let value: Duration

    init(_ value: Duration) { self.value = value }

    static func parse(_ text: String) -> Duration? { HumanDuration.parse(text) }
    static func format(_ value: Duration) -> String { HumanDuration.format(value) }
}

/// A size option such as `1MiB` or `65536`.
struct ByteSizeArgument: WrittenValueArgument {
    let value: Int

    init(_ value: Int) { self.value = value }

    static func parse(_ text: String) -> Int? { HumanByteSize.parse(text) }
    static func format(_ value: Int) -> String { HumanByteSize.format(value) }
}

/// Permission bits written in octal, such as `0660`.
struct FileModeArgument: WrittenValueArgument {
    let value: UInt32

    init(_ value: UInt32) { self.value = value }

    static func parse(_ text: String) -> UInt32? { UInt32(text, radix: 8).flatMap { $0 <= 0o777 ? $0 : nil } }
    static func format(_ value: UInt32) -> String { "0" + String(value, radix: 8) }
}
