#ifndef PLTRACK_CRC32C_H
#define PLTRACK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes at `data`, continuing from `crc` (0 to start).
/// Uses the processor's CRC32 instruction (SSE 4.2) where it has one, else a table.
uint32_t pltrack_crc32c(uint32_t crc, const void *data, size_t length);

/// The same checksum, always computed with the table: for tests that compare the two.
uint32_t pltrack_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// Whether pltrack_crc32c uses the processor's instruction.
int pltrack_crc32c_is_accelerated(void);

#endif
