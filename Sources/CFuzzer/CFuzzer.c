// The declarations are in include/CFuzzer.h; libFuzzer defines them.
