#ifndef STAFETT_CCRC32C_H
#define STAFETT_CCRC32C_H
// CRC-32C (Castagnoli), for the journal's record framing: SSE4.2 when the CPU has it, tables otherwise.
// In C for the SSE4.2 CRC32 instruction behind a run-time CPU check (__builtin_cpu_supports), which
// Swift has no way to express.
#include <stddef.h>
#include <stdint.h>

// Pass 0 as `crc` for a fresh checksum; the result can be passed back in to continue over more bytes.
uint32_t stafett_crc32c(uint32_t crc, const void *data, size_t length);
#endif
