import Glibc

/// One connection to pltrackd's socket: frames out, frames in, every wait bounded by `timeout`.
///
/// Not thread-safe: ``PLTrackClient`` serialises its use.
public final class FrameConnection {
    /// Why the connection cannot be used; it is closed then.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private var descriptor: Int32
    private var received: [UInt8] = []

    /// Connects to the socket at `path`; connecting, every write and every wait for a reply
    /// give up after `timeout`.
    public init(path: String, timeout: Duration) throws(Failure) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot create a socket: \(String(cString: strerror(errno)))")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            _ = Glibc.close(descriptor)
            throw Failure(description: "the socket path is too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        var limit = timeval(
            tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            _ = Glibc.close(descriptor)
            throw Failure(description: "cannot connect to \(path): \(reason)")
        }
        self.descriptor = descriptor
    }

    deinit {
        self.close()
    }

    /// Whether the connection is still usable.
    public var isOpen: Bool { self.descriptor >= 0 }

    public func close() {
        if self.descriptor >= 0 {
            _ = Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }

    /// Writes `payload` (JSON text) as one frame. A write that fails or times out part-way
    /// closes the connection, since the daemon can no longer split the stream.
    public func send(_ payload: [UInt8]) throws(Failure) {
        var length = UInt32(payload.count).bigEndian
        var frame = withUnsafeBytes(of: &length) { Array($0) }
        frame += payload
        var offset = 0
        while offset < frame.count {
            let written = frame[offset...].withUnsafeBytes {
                Glibc.send(self.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                let error = errno
                if error == EINTR { continue }
                let reason =
                    error == EAGAIN ? "the write timed out (pltrackd is not reading)" : String(cString: strerror(error))
                self.close()
                throw Failure(description: "cannot write to pltrackd: \(reason)")
            }
            offset += written
        }
    }

    /// The next reply's payload, waiting at most the timeout.
    public func nextReply() throws(Failure) -> [UInt8] {
        while true {
            if let frame = self.takeFrame() {
                return frame
            }
            try self.receive(waiting: true)
        }
    }

    /// The replies already received, without waiting.
    public func repliesReceived() throws(Failure) -> [[UInt8]] {
        try self.receive(waiting: false)
        var frames: [[UInt8]] = []
        while let frame = self.takeFrame() {
            frames.append(frame)
        }
        return frames
    }

    private func takeFrame() -> [UInt8]? {
        guard self.received.count >= 4 else {
            return nil
        }
        let length = self.received[0..<4].reduce(0) { $0 << 8 | Int($1) }
        guard self.received.count >= 4 + length else {
            return nil
        }
        let frame = Array(self.received[4..<(4 + length)])
        self.received.removeFirst(4 + length)
        return frame
    }

    private func receive(waiting: Bool) throws(Failure) {
        guard self.descriptor >= 0 else {
            throw Failure(description: "the connection is closed")
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes {
                recv(self.descriptor, $0.baseAddress, $0.count, waiting ? 0 : Int32(MSG_DONTWAIT))
            }
            if count > 0 {
                self.received += chunk[0..<count]
                if waiting { return }
                continue
            }
            let error = errno
            if count < 0 && error == EINTR { continue }
            if count < 0 && error == EAGAIN && !waiting { return }
            self.close()
            if count == 0 {
                throw Failure(description: "pltrackd closed the connection")
            }
            throw Failure(
                description: error == EAGAIN ? "no reply from pltrackd in time" : String(cString: strerror(error)))
        }
    }
}
