import ArgumentParser

/// `pltrackd-bench`: the load generator and HTTP sink that `scripts/bench.sh` runs beside
/// pltrackd and syslog-ng. Each subcommand prints one JSON object on standard output.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pltrackd-bench",
        abstract: "Load generator and HTTP sink for benchmarking pltrackd (see scripts/bench/README.md).",
        subcommands: [IngestCommand.self, RateCommand.self, SinkCommand.self, WaitCommand.self]
    )
}
