// SPDX-License-Identifier: Apache-2.0
// SHA-256 and HMAC-SHA256 through OpenSSL's EVP interfaces.
#include "common/sha256.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// libcrypto fails these calls only when it cannot allocate, which rill treats
// as fatal everywhere (common/alloc.c).
static void
crypto_failed(const char *what)
{
	fprintf(stderr, "rill: libcrypto: %s failed\n", what);
	abort();
}

void
rl_sha256_init(rl_sha256 *s)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		crypto_failed("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		crypto_failed("EVP_DigestInit_ex");
	s->s_ctx = ctx;
}

void
rl_sha256_update(rl_sha256 *s, const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(s->s_ctx, data, len) != 1)
		crypto_failed("EVP_DigestUpdate");
}

void
rl_sha256_final(rl_sha256 *s, char hex[RL_SHA256_HEX_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0;
	if (EVP_DigestFinal_ex(s->s_ctx, md, &mdlen) != 1 || mdlen != 32)
		crypto_failed("EVP_DigestFinal_ex");
	EVP_MD_CTX_free(s->s_ctx);
	s->s_ctx = NULL;
	static const char digits[] = "0123456789abcdef";
	for (unsigned int i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * mdlen] = '\0';
}

void
rl_sha256_hex(const void *data, size_t len, char hex[RL_SHA256_HEX_LEN])
{
	rl_sha256 s;
	rl_sha256_init(&s);
	rl_sha256_update(&s, data, len);
	rl_sha256_final(&s, hex);
}

static EVP_MAC       *hmac_algorithm;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac_algorithm == NULL)
		crypto_failed("EVP_MAC_fetch(HMAC)");
}

void
rl_hmac_init(rl_hmac *h, const void *key, size_t key_len)
{
	pthread_once(&hmac_once, hmac_fetch);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_algorithm);
	if (ctx == NULL)
		crypto_failed("EVP_MAC_CTX_new");
	char       digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_init(ctx, key, key_len, params) != 1)
		crypto_failed("EVP_MAC_init");
	h->h_ctx = ctx;
}

void
rl_hmac_update(rl_hmac *h, const void *data, size_t len)
{
	if (len > 0 && EVP_MAC_update(h->h_ctx, data, len) != 1)
		crypto_failed("EVP_MAC_update");
}

void
rl_hmac_final(rl_hmac *h, unsigned char out[RL_HMAC_LEN])
{
	size_t outlen = 0;
	if (EVP_MAC_final(h->h_ctx, out, &outlen, RL_HMAC_LEN) != 1 || outlen != RL_HMAC_LEN)
		crypto_failed("EVP_MAC_final");
	EVP_MAC_CTX_free(h->h_ctx);
	h->h_ctx = NULL;
}

int
rl_hmac_equal(const unsigned char a[RL_HMAC_LEN], const unsigned char b[RL_HMAC_LEN])
{
	return CRYPTO_memcmp(a, b, RL_HMAC_LEN) == 0;
}
