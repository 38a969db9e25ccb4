import CSystemd  // the module `struct iovec` is found in, through sys/uio.h
import Glibc
import NIOCore

/// The `iovec`s of a ``RecordGather``, for `writev(2)`: each piece's bytes are pointed at
/// where they lie, and their storage is kept alive until ``release()``.
struct IOVectors {
    /// `IOV_MAX` on Linux: the most vectors one `writev(2)` takes.
    static let limit = 1024

    /// Each piece's bytes, in file order.
    private var spans: [(base: UnsafeMutableRawPointer?, count: Int)] = []
    private var storages: [Unmanaged<AnyObject>] = []
    /// The first vector not yet written in full.
    private var next = 0

    init(framing: ByteBuffer, pieces: [RecordGather.Piece]) {
        self.spans.reserveCapacity(pieces.count)
        let framingBase = self.retain(framing)
        for piece in pieces {
            switch piece {
            case .framing(let range):
                self.spans.append((framingBase.map { $0 + range.lowerBound }, range.count))
            case .members(let members):
                self.spans.append((self.retain(members), members.readableBytes))
            }
        }
    }

    /// The vectors for the next `writev(2)`: at most `IOV_MAX` of those not yet written.
    func nextBatch() -> [iovec]? {
        guard self.next < self.spans.count else {
            return nil
        }
        return self.spans[self.next..<min(self.spans.count, self.next + Self.limit)].map {
            iovec(iov_base: $0.base, iov_len: $0.count)
        }
    }

    /// Marks `count` more bytes written: a short write resumes inside the vector it stopped in.
    mutating func advance(by count: Int) {
        var remaining = count
        while remaining > 0, self.next < self.spans.count {
            let length = self.spans[self.next].count
            if remaining >= length {
                remaining -= length
                self.next += 1
            } else {
                self.spans[self.next].base = self.spans[self.next].base.map { $0 + remaining }
                self.spans[self.next].count = length - remaining
                remaining = 0
            }
        }
        while self.next < self.spans.count, self.spans[self.next].count == 0 {
            self.next += 1
        }
    }

    /// Lets go of the pieces' storage.
    mutating func release() {
        for storage in self.storages {
            storage.release()
        }
        self.storages.removeAll()
    }

    /// The address of `buffer`'s readable bytes, valid until ``release()``.
    private mutating func retain(_ buffer: ByteBuffer) -> UnsafeMutableRawPointer? {
        buffer.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
            self.storages.append(storage.retain())
            return bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) }
        }
    }
}
