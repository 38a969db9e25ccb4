import Foundation
import Glibc
import NIOConcurrencyHelpers
import PLTrack

/// A `NOTIFY_SOCKET` stand-in: a Unix datagram socket that records every `sd_notify` message
/// a daemon sends.
///
/// A thread of its own reads the socket all the time, as systemd does: a Unix datagram socket
/// queues only `net.unix.max_dgram_qlen` (10) messages, and a daemon whose `sd_notify` finds the
/// queue full waits, so a listener read only when a test looks would stall a daemon that a
/// slow test leaves running for ten `STATUS=` refreshes.
public final class NotifyListener: Sendable {
    /// One assignment, e.g. `READY=1` or `STATUS=…`.
    public struct Message: Sendable {
        public var text: String
    }

    public let path: String
    private let descriptor: Int32
    private let messages = NIOLockedValueBox<[Message]>([])
    private let isClosed = NIOLockedValueBox(false)

    /// Binds a non-blocking datagram socket at `path`.
    public init(path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        let descriptor = socket(
            AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = UnixSocketAddress.withAddress(of: path) { bind(descriptor, $0, $1) }
        guard descriptor >= 0, bound == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.path = path
        self.descriptor = descriptor
        let reader = Thread { [self] in
            self.readUntilClosed()
        }
        reader.start()
    }

    /// Everything received so far.
    public var received: [Message] {
        self.drain()
        return self.messages.withLockedValue { $0 }
    }

    /// Waits (polling) until `count` messages satisfy `predicate` and returns them; throws
    /// ``WaitTimedOut`` naming `awaited` (and what was received) if they did not come within `limit`.
    @discardableResult
    public func waitFor(
        _ awaited: String,
        count: Int = 1,
        limit: Duration = .seconds(120),
        where predicate: (String) -> Bool
    ) async throws -> [Message] {
        do {
            return try await PLTrackTestSupport.waitFor(awaited, limit: limit) {
                let matching = self.received.filter { predicate($0.text) }
                return matching.count >= count ? matching : nil
            }
        } catch let timeout as WaitTimedOut {
            let last = self.received.suffix(5).map(\.text)
            throw WaitTimedOut(
                awaited: "\(count) × \(awaited) on \(self.path) (last received: \(last))", limit: timeout.limit)
        }
    }

    /// Stops listening; the reading thread closes the socket on its way out.
    public func close() {
        self.isClosed.withLockedValue { $0 = true }
        try? FileManager.default.removeItem(atPath: self.path)
    }

    /// Waits for datagrams (a tenth of a second at a time, to notice ``close()``) and reads them.
    private func readUntilClosed() {
        while !self.isClosed.withLockedValue({ $0 }) {
            var waiting = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, 100) > 0 {
                self.drain()
            }
        }
        _ = Glibc.close(self.descriptor)
    }

    /// Reads every datagram waiting; each line of one becomes its own message.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes {
                recv(self.descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
            }
            guard count > 0 else {
                return
            }
            let lines = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").map(String.init)
            self.messages.withLockedValue { messages in
                messages += lines.map { Message(text: $0) }
            }
        }
    }
}
