import CCRC32C

/// CRC-32C (Castagnoli), the checksum of every spool record: it detects torn writes and
/// flipped bits on replay. Computed by the processor's CRC32 instruction (SSE 4.2) where it
/// has one, eight bytes per instruction, through the small C target `CCRC32C`.
enum CRC32C {
    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        pltrack_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { Self.checksum($0, continuing: crc) }
    }

    /// The same checksum computed with a table, byte by byte: what the accelerated one must match.
    static func portableChecksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { pltrack_crc32c_portable(crc, $0.baseAddress, $0.count) }
    }

    /// Whether ``checksum(_:continuing:)-(UnsafeRawBufferPointer,_)`` uses the processor's instruction.
    static var isAccelerated: Bool { pltrack_crc32c_is_accelerated() != 0 }
}
