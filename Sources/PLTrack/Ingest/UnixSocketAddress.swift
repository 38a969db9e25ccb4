import Glibc

/// Builds `sockaddr_un` values for the few places that use Unix sockets below SwiftNIO
/// (checking whether a socket file is live; test stand-ins for systemd's sockets).
public enum UnixSocketAddress {
    /// Calls `body` with `path` as a socket address and its length; `path` must fit in
    /// `sun_path` (107 bytes), which callers check first.
    public static func withAddress<Result>(
        of path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result
    ) -> Result {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 {
                buffer[index] = byte
            }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
