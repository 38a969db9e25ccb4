import ArgumentParser
import PLTrack

/// A duration option such as `50ms` or `10s`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration

    init(_ duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        guard let duration = HumanDuration.parse(argument) else {
            return nil
        }
        self.duration = duration
    }

    var defaultValueDescription: String { HumanDuration.format(self.duration) }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A size option such as `1MiB` or `65536`.
struct ByteSizeArgument: ExpressibleByArgument, Sendable {
    let bytes: Int

    init(_ bytes: Int) {
        self.bytes = bytes
    }

    init?(argument: String) {
        guard let bytes = HumanByteSize.parse(argument) else {
            return nil
        }
        self.bytes = bytes
    }

    var defaultValueDescription: String { HumanByteSize.format(self.bytes) }
}

/// Permission bits written in octal, such as `0660`.
struct FileModeArgument: ExpressibleByArgument, Sendable {
    let mode: UInt32

    init(_ mode: UInt32) {
        self.mode = mode
    }

    init?(argument: String) {
        guard let mode = UInt32(argument, radix: 8), mode <= 0o777 else {
            return nil
        }
        self.mode = mode
    }

    var defaultValueDescription: String { "0" + String(self.mode, radix: 8) }
}
