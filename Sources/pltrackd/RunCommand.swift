import ArgumentParser
import Foundation
import Logging
import PLTrack
import ServiceLifecycle
import UnixSignals

/// `pltrackd run` (the default): the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon (the default when no subcommand is given).",
        discussion: """
            Every option can also be set in the configuration file (key = value, dashes written \
            as underscores, e.g. coalesce_window = "50ms") or the environment (PLTRACKD_ and the \
            key in upper case, e.g. PLTRACKD_WORKERS=16). Flags win over the environment, the \
            environment over the file, the file over the defaults. Durations read like 50ms, 10s, \
            2m; sizes like 512KiB, 1MiB. Started by systemd with LISTEN_FDS, pltrackd serves the \
            sockets it is given (one named 'control' answers only stats, ping and flush) and \
            reports readiness, status and watchdog through sd_notify. SIGTERM or SIGINT stops it \
            gracefully; SIGHUP reloads the configuration file.
            """
    )

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let resolver = self.options.resolver
        let configuration: DaemonConfiguration
        switch resolver.resolve() {
        case .success(let resolved):
            configuration = resolved.configuration
        case .failure(let problems):
            throw ValidationError(problems.description)
        }
        let logLevel = LogLevelControl(configuration.logLevel)
        LoggingSystem.bootstrap { label in
            DaemonLogHandler.make(label: label, level: logLevel, environment: ProcessInfo.processInfo.environment)
        }
        let logger = Logger(label: "pltrackd")
        let daemon = try Daemon(configuration: configuration, logger: logger, logLevel: logLevel, reloader: resolver)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
