import ArgumentParser
import Foundation
import PLTrack

/// How the clients find the daemon.
struct ClientOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon's socket. Default: $PLTRACKD_SOCKET, else $XDG_RUNTIME_DIR/pltrackd.sock, else /run/pltrackd/pltrackd.sock.",
            valueName: "path"
        )
    )
    var socket: String?

    var socketPath: String {
        SocketLocation.clientPath(option: self.socket, environment: ProcessInfo.processInfo.environment)
    }
}
