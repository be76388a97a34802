// SPDX-License-Identifier: Apache-2.0
// Growable byte buffer with varint encoding, for shuffle blocks and sink output.
#ifndef RL_BUF_H
#define RL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"

// The caller owns the struct; b_data is owned by the buffer until rl_buf_steal.
typedef struct rl_buf {
	uint8_t *b_data;
	size_t   b_len;
	size_t   b_cap;
} rl_buf;

#define RL_BUF_INIT ((rl_buf) { 0 })

void rl_buf_fini(rl_buf *b);
// rl_buf_grow makes room for extra more bytes; aborts on out-of-memory.
void rl_buf_grow(rl_buf *b, size_t extra);
// rl_buf_steal hands the bytes to the caller (free with rl_free) and empties b.
uint8_t *rl_buf_steal(rl_buf *b, size_t *ret_len);

static inline void
rl_buf_append(rl_buf *b, const void *p, size_t n)
{
	if (b->b_cap - b->b_len < n)
		rl_buf_grow(b, n);
	if (n > 0)
		memcpy(b->b_data + b->b_len, p, n);
	b->b_len += n;
}

static inline void
rl_buf_putc(rl_buf *b, uint8_t c)
{
	if (b->b_cap == b->b_len)
		rl_buf_grow(b, 1);
	b->b_data[b->b_len++] = c;
}

static inline void
rl_buf_put_uvarint(rl_buf *b, uint64_t v)
{
	if (b->b_cap - b->b_len < 10)
		rl_buf_grow(b, 10);
	uint8_t *p = b->b_data + b->b_len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	b->b_len = (size_t)(p - b->b_data);
}

static inline void
rl_buf_put_svarint(rl_buf *b, int64_t v)
{
	rl_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

// Fixed-width big-endian integers, as frame and file headers carry them.
static inline uint32_t
rl_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void
rl_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t
rl_be64_get(const uint8_t *p)
{
	return (uint64_t)rl_be32_get(p) << 32 | rl_be32_get(p + 4);
}

static inline void
rl_be64_put(uint8_t *p, uint64_t v)
{
	rl_be32_put(p, (uint32_t)(v >> 32));
	rl_be32_put(p + 4, (uint32_t)v);
}

// A read cursor over bytes it does not own. Every getter checks bounds and
// returns false on truncated or malformed input, leaving the cursor unusable.
typedef struct rl_reader {
	const uint8_t *r_pos;
	const uint8_t *r_end;
} rl_reader;

static inline rl_reader
rl_reader_make(const void *p, size_t n)
{
	return (rl_reader) { .r_pos = p, .r_end = (const uint8_t *)p + n };
}

static inline bool
rl_reader_done(const rl_reader *r)
{
	return r->r_pos == r->r_end;
}

static inline bool
rl_get_uvarint(rl_reader *r, uint64_t *ret)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->r_pos >= r->r_end)
			return false;
		uint8_t c = *r->r_pos++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			*ret = v;
			return true;
		}
	}
	return false;
}

static inline bool
rl_get_svarint(rl_reader *r, int64_t *ret)
{
	uint64_t u;
	if (!rl_get_uvarint(r, &u))
		return false;
	*ret = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return true;
}

static inline bool
rl_get_u8(rl_reader *r, uint8_t *ret)
{
	if (r->r_pos >= r->r_end)
		return false;
	*ret = *r->r_pos++;
	return true;
}

// rl_get_bytes returns a pointer into the input (no copy) of n bytes.
static inline bool
rl_get_bytes(rl_reader *r, size_t n, const uint8_t **ret)
{
	if ((size_t)(r->r_end - r->r_pos) < n)
		return false;
	*ret = r->r_pos;
	r->r_pos += n;
	return true;
}

#endif
