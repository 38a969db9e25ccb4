/// Where the daemon listens and clients connect, when no `--socket` is given.
public enum SocketLocation {
    /// The system-wide path, used by the packaged systemd units.
    public static let systemPath = "/run/pltrackd/pltrackd.sock"

    /// `$XDG_RUNTIME_DIR/pltrackd.sock` for a user session, else ``systemPath``.
    public static func daemonDefault(environment: [String: String]) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return runtime.hasSuffix("/") ? runtime + "pltrackd.sock" : runtime + "/pltrackd.sock"
        }
        return Self.systemPath
    }

    /// For clients: `--socket`, else `PLTRACKD_SOCKET`, else the daemon's default.
    public static func clientPath(option: String?, environment: [String: String]) -> String {
        if let option, !option.isEmpty {
            return option
        }
        if let variable = environment["PLTRACKD_SOCKET"], !variable.isEmpty {
            return variable
        }
        return Self.daemonDefault(environment: environment)
    }
}
