#ifndef STAFETT_CLIBFUZZER_H
#define STAFETT_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer): parses libFuzzer's flags from
// argv and fuzzes `callback`. Declared only: stafett-fuzz calls it in the build scripts/fuzz.sh
// makes, so a normal build never needs the symbol.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
