import CSystemd
import Glibc

/// What a listening socket is for.
public enum ListenerRole: String, Sendable, Equatable {
    /// Tracking calls and everything else.
    case tracking
    /// Only `stats`, `ping` and `flush`; a tracking call is answered `forbidden`.
    case control
}

/// A listening socket handed over by systemd (`LISTEN_FDS`), with its `FileDescriptorName=`.
public struct InheritedSocket: Sendable, Equatable {
    public var descriptor: Int32
    public var name: String

    /// The socket named `control` is the control socket; any other serves tracking.
    public var role: ListenerRole { self.name == "control" ? .control : .tracking }

    /// Why the inherited descriptors cannot be served.
    public struct ActivationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the sockets systemd passed to this process, checking each is a listening Unix stream
    /// socket. Empty when the process was not socket-activated. The `LISTEN_*` variables are
    /// unset, so they do not leak to children.
    public static func take() throws -> [InheritedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        defer {
            if let names {
                for index in 0..<Int(max(count, 0)) {
                    free(names[index])
                }
                free(names)
            }
        }
        guard count >= 0 else {
            throw ActivationError(
                description: "cannot read the sockets passed by systemd: \(String(cString: strerror(-count)))")
        }
        var sockets: [InheritedSocket] = []
        for index in 0..<Int(count) {
            let descriptor = SD_LISTEN_FDS_START + Int32(index)
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
                throw ActivationError(
                    description:
                        "socket \(descriptor) (\(name)) passed by systemd is not a listening Unix stream socket; use ListenStream= with a path"
                )
            }
            sockets.append(InheritedSocket(descriptor: descriptor, name: name))
        }
        return sockets
    }
}
