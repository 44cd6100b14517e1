#ifndef STAFETT_CSHIMS_H
#define STAFETT_CSHIMS_H
// Functions for the OpenSSL macros Swift cannot import. Nothing else lives here.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/bio.h>

int stafett_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version);
int stafett_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version);
long stafett_ssl_ctx_set_mode(SSL_CTX *ctx, long mode);
long stafett_ssl_mode_release_buffers(void);
long stafett_ssl_mode_accept_moving_write_buffer(void);
long stafett_ssl_mode_enable_partial_write(void);
uint64_t stafett_ssl_op_no_renegotiation(void);
uint64_t stafett_ssl_op_no_compression(void);
uint64_t stafett_ssl_op_no_ticket(void);
uint64_t stafett_ssl_op_cipher_server_preference(void);
int stafett_ssl_set_tlsext_host_name(SSL *ssl, const char *name);
void stafett_openssl_free(void *p);
long stafett_bio_get_mem_data(BIO *bio, char **out);
int stafett_tls1_3_version(void);
int stafett_tls1_2_version(void);
int stafett_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, int mode);
int stafett_ssl_sess_cache_off(void);
unsigned long stafett_xn_flag_rfc2253(void);
// CRC-32C (Castagnoli), for the journal's record framing: SSE4.2 when the CPU has it, tables otherwise.
// Pass 0 as `crc` for a fresh checksum; the result can be passed back in to continue over more bytes.
uint32_t stafett_crc32c(uint32_t crc, const void *data, size_t length);
/// syncfs(2): one flush for a whole file system (needs _GNU_SOURCE, so it is not in Glibc's overlay).
int stafett_syncfs(int fd);
/// setfsuid(2) for the calling thread; returns the previous file-system uid. Tests use it to read
/// files as an unprivileged user would (a root fsuid bypasses permissions).
unsigned int stafett_set_fs_uid(unsigned int uid);
#endif
