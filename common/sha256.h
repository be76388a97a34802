// SPDX-License-Identifier: Apache-2.0
// SHA-256 digests (OpenSSL's libcrypto; this is the only module that includes
// it): the names under which the cluster stores job artifacts, and the
// HMAC-SHA256 that proves a message was sent by a holder of the cluster secret.
#ifndef RL_SHA256_H
#define RL_SHA256_H

#include <stddef.h>

// A digest in lowercase hex, as sha256sum prints it, with its NUL.
#define RL_SHA256_HEX_LEN 65

// An incremental digest; the caller allocates it (init) and ends it with
// rl_sha256_final, which also frees what init took.
typedef struct rl_sha256 {
	void *s_ctx;
} rl_sha256;

void rl_sha256_init(rl_sha256 *s);
void rl_sha256_update(rl_sha256 *s, const void *data, size_t len);
// rl_sha256_final writes the digest of everything updated to hex.
void rl_sha256_final(rl_sha256 *s, char hex[RL_SHA256_HEX_LEN]);

// rl_sha256_hex digests data[0 .. len) in one call.
void rl_sha256_hex(const void *data, size_t len, char hex[RL_SHA256_HEX_LEN]);

// The length of an HMAC-SHA256 in bytes.
#define RL_HMAC_LEN 32

// An incremental HMAC-SHA256; init copies what it needs of key, final frees
// what init took.
typedef struct rl_hmac {
	void *h_ctx;
} rl_hmac;

void rl_hmac_init(rl_hmac *h, const void *key, size_t key_len);
void rl_hmac_update(rl_hmac *h, const void *data, size_t len);
void rl_hmac_final(rl_hmac *h, unsigned char out[RL_HMAC_LEN]);

// rl_hmac_equal compares two MACs in constant time.
int rl_hmac_equal(const unsigned char a[RL_HMAC_LEN], const unsigned char b[RL_HMAC_LEN]);

#endif
