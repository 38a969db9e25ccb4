// CRC-32C for the spool records: the SSE 4.2 instruction eight bytes at a time where the
// processor has it (chosen once, at load), a byte-at-a-time table otherwise.
#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static uint32_t table[256];

static uint32_t crc32c_table(uint32_t crc, const uint8_t *bytes, size_t length) {
    for (size_t i = 0; i < length; i++) {
        crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *bytes, size_t length) {
    uint64_t wide = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, sizeof word);
        wide = _mm_crc32_u64(wide, word);
        bytes += 8;
        length -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    while (length > 0) {
        narrow = _mm_crc32_u8(narrow, *bytes);
        bytes++;
        length--;
    }
    return narrow;
}
#endif

static uint32_t (*implementation)(uint32_t, const uint8_t *, size_t) = crc32c_table;

__attribute__((constructor)) static void crc32c_prepare(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t crc = index;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        table[index] = crc;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        implementation = crc32c_sse42;
    }
#endif
}

uint32_t pltrack_crc32c(uint32_t crc, const void *data, size_t length) {
    return ~implementation(~crc, (const uint8_t *)data, length);
}

uint32_t pltrack_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    return ~crc32c_table(~crc, (const uint8_t *)data, length);
}

int pltrack_crc32c_is_accelerated(void) {
    return implementation != crc32c_table;
}
