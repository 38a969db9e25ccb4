import Glibc

/// The terminal pltrackd was started from, if any, and whether it has gone away.
///
/// Closing a terminal window or ending an SSH session hangs the terminal up: the kernel
/// makes every descriptor on it fail with `EIO` and sends SIGHUP to the session. SIGHUP also
/// means "reload" (`systemctl reload`, `kill -HUP`), so the signal alone cannot tell the two
/// apart; the terminal can. Under systemd there is no terminal and SIGHUP always reloads.
public struct ControllingTerminal: Sendable {
    /// The first of standard input, output and error that was a terminal at start.
    private let descriptor: Int32?

    /// Notes which standard descriptor, if any, is a terminal now.
    public init() {
        self.descriptor = [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO].first { isatty($0) == 1 }
    }

    /// Whether pltrackd was started from a terminal that has since been hung up.
    public var hasHungUp: Bool {
        guard let descriptor = self.descriptor else {
            return false
        }
        var attributes = termios()
        return tcgetattr(descriptor, &attributes) != 0 && errno == EIO
    }
}
