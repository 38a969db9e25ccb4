import Glibc

/// Which call each worker has on its way upstream, kept in a small file beside the spool's
/// segments so that a restart can tell which replayed calls PromptLayer may have already.
///
/// The file holds one 8-byte big-endian slot per worker: the sequence number of the call in
/// flight or, between calls, of the last one sent (its outcome is then in the spool), or 0. A slot is overwritten in place (`pwrite`, no `fsync`): a kill of the daemon
/// leaves the bytes with the kernel, and the file stays `8 × workers` bytes however long an
/// outage lasts, unlike a record per attempt in the spool. A call named in a slot when the
/// daemon died, and still pending in the spool, may arrive twice.
final class InFlightSlots: Sendable {
    static let fileName = "in-flight.pltslots"
    private static let slotBytes = 8

    /// The sequence numbers the previous run left in its slots.
    let previous: Set<UInt64>
    private let descriptor: Int32

    /// Reads the slots the previous run left in `directory`, then starts afresh with `workers`
    /// empty ones.
    init(directory: String, workers: Int) throws {
        let path = directory + "/" + Self.fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SpoolWriter.WriteError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        self.previous = Self.read(descriptor)
        let cleared = ftruncate(descriptor, 0) == 0 && ftruncate(descriptor, off_t(workers * Self.slotBytes)) == 0
        guard cleared else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw SpoolWriter.WriteError(description: "cannot reset \(path): \(reason)")
        }
    }

    deinit {
        close(self.descriptor)
    }

    /// Notes that `worker` has call `sequence` on its way (0: none).
    func set(_ worker: Int, to sequence: UInt64) {
        var bytes = sequence.bigEndian
        // A failed write only makes the count of possible duplicates after a crash inexact.
        _ = pwrite(self.descriptor, &bytes, Self.slotBytes, off_t(worker * Self.slotBytes))
    }

    private static func read(_ descriptor: Int32) -> Set<UInt64> {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size > 0 else {
            return []
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            return []
        }
        var sequences = Set<UInt64>()
        for start in stride(from: 0, to: count - Self.slotBytes + 1, by: Self.slotBytes) {
            let sequence = bytes[start..<start + Self.slotBytes].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if sequence != 0 {
                sequences.insert(sequence)
            }
        }
        return sequences
    }
}
