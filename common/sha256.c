// SPDX-License-Identifier: Apache-2.0
// SHA-256 through OpenSSL's EVP interface.
#include "common/sha256.h"

#include <openssl/evp.h>
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
