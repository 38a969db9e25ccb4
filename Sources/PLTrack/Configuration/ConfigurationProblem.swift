/// One thing wrong with the configuration, with where it came from: a flag, an environment
/// variable, or a file and line.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// `--workers`, `PLTRACKD_WORKERS`, or `/etc/pltrackd/pltrackd.toml:12 workers`.
    public var source: String
    public var message: String

    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(self.source): \(self.message)" }
}

/// Every problem found in one configuration, reported together.
public struct ConfigurationProblems: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ConfigurationProblem]

    public init(_ problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    public var description: String { self.problems.map(\.description).joined(separator: "\n") }
}
