import ArgumentParser
import Foundation
import Glibc
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
            gracefully, and so does closing the terminal it runs in (or the reader of its standard \
            error going away); SIGHUP otherwise reloads the configuration file.
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
        // A reader of standard error that goes away is an EPIPE to handle, not a signal to die of.
        signal(SIGPIPE, SIG_IGN)
        let logLevel = LogLevelControl(configuration.logLevel)
        let standardError = StandardErrorStream()
        LoggingSystem.bootstrap { label in
            DaemonLogHandler.make(
                label: label, level: logLevel, environment: ProcessInfo.processInfo.environment, stream: standardError)
        }
        let logger = Logger(label: "pltrackd")
        let daemon = try Daemon(
            configuration: configuration, logger: logger, logLevel: logLevel, reloader: resolver,
            standardError: standardError)
        let group = ServiceGroup(
            configuration: .init(
                // The daemon returns on its own when its terminal is closed: a clean stop.
                services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
