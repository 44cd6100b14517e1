#define _GNU_SOURCE 1
#include <unistd.h>
#include <sys/fsuid.h>
#include <malloc.h>
#include "CShims.h"

int stafett_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int stafett_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
long stafett_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long stafett_ssl_mode_accept_moving_write_buffer(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }
uint64_t stafett_ssl_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
uint64_t stafett_ssl_op_no_compression(void) { return SSL_OP_NO_COMPRESSION; }
uint64_t stafett_ssl_op_no_ticket(void) { return SSL_OP_NO_TICKET; }
uint64_t stafett_ssl_op_cipher_server_preference(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
int stafett_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
void stafett_openssl_free(void *p) { OPENSSL_free(p); }
long stafett_bio_get_mem_data(BIO *bio, char **out) { return BIO_get_mem_data(bio, out); }
int stafett_tls1_3_version(void) { return TLS1_3_VERSION; }
int stafett_tls1_2_version(void) { return TLS1_2_VERSION; }
int stafett_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, int mode) { return (int)SSL_CTX_set_session_cache_mode(ctx, mode); }
int stafett_ssl_sess_cache_off(void) { return SSL_SESS_CACHE_OFF; }
unsigned long stafett_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }

int stafett_syncfs(int fd) { return syncfs(fd); }
unsigned int stafett_set_fs_uid(unsigned int uid) { return (unsigned int)setfsuid((uid_t)uid); }
int stafett_set_malloc_arena_max(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
