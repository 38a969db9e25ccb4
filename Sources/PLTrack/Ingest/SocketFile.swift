import Glibc

/// Prepares the path a Unix socket is bound at: replaces a stale socket file, refuses a live
/// one, and never touches a file that is not a socket.
enum SocketFile {
    /// Why the socket path cannot be used.
    struct PathError: Error, CustomStringConvertible {
        var description: String
    }

    /// Makes `path` free to bind: creates its directory if needed and removes a socket file
    /// nobody is listening on.
    static func prepare(_ path: String) throws {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw PathError(
                description: "socket path \(path) is longer than the 107 bytes a Unix socket address allows")
        }
        try Self.createParentDirectory(of: path)
        var status = stat()
        guard lstat(path, &status) == 0 else {
            return
        }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else {
            throw PathError(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        if Self.isAnswering(path) {
            throw PathError(
                description: "another process is already serving on \(path); stop it or choose another --socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw PathError(description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the socket file the daemon bound, when it stops.
    static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Sets the permission bits of the bound socket.
    static func setMode(_ path: String, _ mode: UInt32) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            throw PathError(
                description: "cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))"
            )
        }
    }

    private static func createParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
            return
        }
        let directory = String(path[..<slash])
        var status = stat()
        if stat(directory, &status) == 0 {
            return
        }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw PathError(
                description: "cannot create the socket directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether something accepts connections on the socket at `path`.
    private static func isAnswering(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return false
        }
        defer { close(fd) }
        return UnixSocketAddress.withAddress(of: path) { connect(fd, $0, $1) } == 0
    }
}
