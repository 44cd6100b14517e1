#ifndef STAFETT_COPENSSL_SHIM_H
#define STAFETT_COPENSSL_SHIM_H
// Keep deprecated APIs (EC_KEY_*, SHA256_Init) out of Swift's reach.
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/asn1.h>
#include <openssl/obj_mac.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#endif
