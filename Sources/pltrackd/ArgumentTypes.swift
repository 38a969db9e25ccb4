import ArgumentParser
import PLTrack

/// A duration option such as `50ms` or `10s`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let value: Duration

    init(_ value: Duration) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = HumanDuration.parse(argument) else {
            return nil
        }
        self.value = value
    }

    var defaultValueDescription: String { HumanDuration.format(self.value) }
}
