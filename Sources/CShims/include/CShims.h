#ifndef STAFETT_CSHIMS_H
#define STAFETT_CSHIMS_H
// Shims: C functions for what Swift cannot call directly, and nothing else. Each is one line in
// shims.c. Why each exists:
//
// OpenSSL macros (Swift imports no function-like or expression macros), for StafettTransport's TLS setup:
//   stafett_ssl_ctx_set_min_proto_version, stafett_ssl_ctx_set_max_proto_version   SSL_CTX_set_{min,max}_proto_version
//   stafett_ssl_ctx_set_mode                                                      SSL_CTX_set_mode
//   stafett_ssl_ctx_set_session_cache_mode                                        SSL_CTX_set_session_cache_mode
//   stafett_ssl_set_tlsext_host_name                                              SSL_set_tlsext_host_name (SNI)
// OpenSSL constants. Swift does not import macros that are expressions (SSL_OP_* are SSL_OP_BIT(n),
// XN_FLAG_RFC2253 is an OR of casts); the plain numbers beside them come through here too, so
// that one TLS setup reads its flags one way:
//   stafett_ssl_op_no_renegotiation, stafett_ssl_op_no_compression, stafett_ssl_op_no_ticket,
//   stafett_ssl_op_cipher_server_preference, stafett_ssl_mode_accept_moving_write_buffer,
//   stafett_tls1_3_version, stafett_tls1_2_version, stafett_ssl_sess_cache_off   (StafettTransport)
//   stafett_xn_flag_rfc2253   XN_FLAG_RFC2253, for certificate subject lines     (StafettCrypto)
// OpenSSL macros over functions, for StafettCrypto's PEM and DER buffers:
//   stafett_openssl_free      OPENSSL_free (a macro that passes file and line)
//   stafett_bio_get_mem_data  BIO_get_mem_data (a BIO_ctrl macro)
// Linux calls Glibc's Swift overlay leaves out (they need _GNU_SOURCE):
//   stafett_syncfs            syncfs(2): one flush for a whole spool file system   (StafettDaemon)
//   stafett_set_fs_uid        setfsuid(2) for the calling thread; tests read files as an
//                             unprivileged user would (a root fsuid bypasses permissions)
// glibc's mallopt(3), whose M_ARENA_MAX is a macro in <malloc.h>, which Glibc's overlay leaves out:
//   stafett_set_malloc_arena_max   caps malloc arenas for a thread-per-connection daemon (StafettDaemon)
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/bio.h>

int stafett_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version);
int stafett_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version);
long stafett_ssl_ctx_set_mode(SSL_CTX *ctx, long mode);
long stafett_ssl_mode_accept_moving_write_buffer(void);
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
int stafett_syncfs(int fd);
unsigned int stafett_set_fs_uid(unsigned int uid);
int stafett_set_malloc_arena_max(int arenas);
#endif
