// libFuzzer's driver, which `-sanitize=fuzzer` links in: the fuzz target calls it from its
// own main (SwiftPM gives every executable one). Only referenced when built with FUZZING.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
