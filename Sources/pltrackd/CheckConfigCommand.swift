import ArgumentParser
import PLTrack

/// `pltrackd check-config`: shows the effective configuration, or every error in it.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Print the effective configuration (the API key redacted), or every error with where it is.",
        discussion: "Takes the same options as 'run'; exits 1 when the configuration has errors."
    )

    @OptionGroup var options: DaemonOptions

    func run() throws {
        switch self.options.resolver.resolve() {
        case .success(let resolved):
            Terminal.write(resolved.report)
        case .failure(let problems):
            for problem in problems.problems {
                Terminal.writeError("error: \(problem)")
            }
            throw ExitCode(1)
        }
    }
}
