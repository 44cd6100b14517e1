#include "CCRC32C.h"

// CRC-32C for the journal. The hardware instruction does ~8 bytes per cycle; the table path keeps
// other CPUs working. Both give the standard CRC-32C (check value of "123456789" is 0xE3069283).
static uint32_t stafett_crc32c_table[8][256];
static int stafett_crc32c_table_ready = 0;

static void stafett_crc32c_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        stafett_crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = stafett_crc32c_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = stafett_crc32c_table[0][c & 0xFF] ^ (c >> 8);
            stafett_crc32c_table[t][i] = c;
        }
    }
    __atomic_store_n(&stafett_crc32c_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t stafett_crc32c_soft(uint32_t crc, const unsigned char *p, size_t n) {
    if (!__atomic_load_n(&stafett_crc32c_table_ready, __ATOMIC_ACQUIRE)) stafett_crc32c_init_table();
    while (n >= 8) {
        uint64_t v; __builtin_memcpy(&v, p, 8);
        v ^= crc;
        crc = stafett_crc32c_table[7][v & 0xFF] ^ stafett_crc32c_table[6][(v >> 8) & 0xFF]
            ^ stafett_crc32c_table[5][(v >> 16) & 0xFF] ^ stafett_crc32c_table[4][(v >> 24) & 0xFF]
            ^ stafett_crc32c_table[3][(v >> 32) & 0xFF] ^ stafett_crc32c_table[2][(v >> 40) & 0xFF]
            ^ stafett_crc32c_table[1][(v >> 48) & 0xFF] ^ stafett_crc32c_table[0][v >> 56];
        p += 8; n -= 8;
    }
    while (n--) crc = stafett_crc32c_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t stafett_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) { uint64_t v; __builtin_memcpy(&v, p, 8); c = __builtin_ia32_crc32di(c, v); p += 8; n -= 8; }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t stafett_crc32c(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~stafett_crc32c_hw(crc, p, length);
#endif
    return ~stafett_crc32c_soft(crc, p, length);
}
