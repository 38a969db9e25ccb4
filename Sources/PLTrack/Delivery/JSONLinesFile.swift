import Glibc
import NIOConcurrencyHelpers

/// An append-only file of JSON lines (the outbox and the dead letters).
///
/// Each line is written with one `write(2)` on a descriptor opened with `O_APPEND`, so lines
/// from concurrent workers never interleave and a reader sees whole lines. A synchronous file
/// (`O_DSYNC`) has each line on stable storage before ``append(_:)`` returns: with
/// `--fsync always`, a call the spool records as resolved must not lose its line to a power
/// failure.
public final class JSONLinesFile: Sendable {
    /// Why a JSON-lines file could not be opened or written.
    public struct FileError: Error, CustomStringConvertible {
        public var path: String
        public var operation: String
        public var errno: Int32

        public var description: String {
            "cannot \(self.operation) \(self.path): \(String(cString: strerror(self.errno)))"
        }
    }

    public let path: String
    private let descriptor: NIOLockedValueBox<Int32>

    /// Opens (creating with `mode` if needed) `path` for appending; `synchronous` waits for
    /// the disk on every line.
    public init(path: String, mode: mode_t = 0o640, synchronous: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (synchronous ? O_DSYNC : 0), mode)
        guard fd >= 0 else {
            throw FileError(path: path, operation: "open", errno: errno)
        }
        self.path = path
        self.descriptor = NIOLockedValueBox(fd)
    }

    /// Appends `line` and a newline.
    public func append(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        try self.descriptor.withLockedValue { fd in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: self.path, operation: "write", errno: errno)
                }
                offset += written
            }
        }
    }

    /// Closes the file; later appends fail.
    public func close() {
        self.descriptor.withLockedValue { fd in
            if fd >= 0 {
                _ = Glibc.close(fd)
                fd = -1
            }
        }
    }
}
