import Glibc
import Synchronization

/// Standard error as the daemon writes its log lines to it, where losing the reader is not
/// fatal.
///
/// When the reader of a pipe goes away a write fails with `EPIPE`; when the terminal it was
/// started from is closed, the kernel hangs the terminal up and writes fail with `EIO`.
/// Foundation's `FileHandle.write` stops the process on either. Here the line is dropped
/// instead, every later line too (nobody is reading), and ``lost()`` returns, so the daemon
/// can stop as it does on SIGTERM: delivering what it holds and removing its socket.
public final class StandardErrorStream: Sendable {
    private let descriptor: Int32
    private let state = Mutex(State())
    private let loss: AsyncStream<Never>
    private let lossContinuation: AsyncStream<Never>.Continuation

    private struct State {
        var isLost = false
        var droppedLines = 0
    }

    /// - Parameter descriptor: the file descriptor written to; standard error unless a test
    ///   says otherwise.
    public init(descriptor: Int32 = STDERR_FILENO) {
        self.descriptor = descriptor
        (self.loss, self.lossContinuation) = AsyncStream<Never>.makeStream()
    }

    /// Lines dropped because standard error could no longer be written.
    public var droppedLines: Int {
        self.state.withLock { $0.droppedLines }
    }

    /// Writes `line` with as few `write(2)` calls as it takes (one for a log line); the
    /// syscalls happen outside the lock, which only records what was dropped.
    public func write(_ line: String) {
        let isLost = self.state.withLock { state in
            if state.isLost {
                state.droppedLines += 1
            }
            return state.isLost
        }
        guard !isLost else {
            return
        }
        var line = line
        let failure = line.withUTF8 { bytes in Self.writeAll(bytes, to: self.descriptor) }
        guard let failure else {
            return
        }
        // EPIPE: the pipe's reader is gone; EIO: the terminal was hung up. Anything else
        // (a full non-blocking pipe, a descriptor closed from the start) costs this line only.
        let readerIsGone = failure == EPIPE || failure == EIO
        self.state.withLock {
            $0.droppedLines += 1
            $0.isLost = $0.isLost || readerIsGone
        }
        if readerIsGone {
            self.lossContinuation.finish()
        }
    }

    /// Returns once a write has failed for good, or when the calling task is cancelled.
    public func lost() async {
        for await _ in self.loss {}
    }

    /// Writes all of `bytes`, retrying on `EINTR` and short writes; returns the `errno` of a
    /// write that failed, or `nil`.
    static func writeAll(_ bytes: UnsafeBufferPointer<UInt8>, to descriptor: Int32) -> Int32? {
        guard var next = bytes.baseAddress else {
            return nil
        }
        var remaining = bytes.count
        while remaining > 0 {
            let result = Glibc.write(descriptor, next, remaining)
            if result < 0 {
                if errno == EINTR {
                    continue
                }
                return errno
            }
            next += result
            remaining -= result
        }
        return nil
    }
}
