// SPDX-License-Identifier: Apache-2.0
// Bump allocator in chunks, with save/restore marks for per-record scratch space.
#include "common/arena.h"

#include <string.h>

#include "common/alloc.h"

struct rl_arena_chunk {
	rl_arena_chunk *c_next;
	size_t          c_size; // usable bytes after the header
	uint8_t         c_data[]; // 8-aligned: the header is three words
};

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

void
rl_arena_init(rl_arena *a, size_t chunk_size)
{
	memset(a, 0, sizeof(*a));
	a->a_chunk_size = chunk_size < 256 ? 256 : chunk_size;
}

void
rl_arena_fini(rl_arena *a)
{
	rl_arena_chunk *c = a->a_chunks;
	while (c != NULL) {
		rl_arena_chunk *next = c->c_next;
		rl_free(c);
		c = next;
	}
	a->a_chunks = NULL;
	a->a_ptr = a->a_end = NULL;
	a->a_reserved = 0;
}

static void
release_newer_than(rl_arena *a, rl_arena_chunk *keep)
{
	while (a->a_chunks != NULL && a->a_chunks != keep) {
		rl_arena_chunk *c = a->a_chunks;
		a->a_chunks = c->c_next;
		a->a_reserved -= c->c_size;
		rl_free(c);
	}
}

void
rl_arena_reset(rl_arena *a)
{
	if (a->a_chunks == NULL)
		return;
	// Keep the newest chunk (usually the largest), drop the rest.
	rl_arena_chunk *keep = a->a_chunks;
	rl_arena_chunk *c = keep->c_next;
	while (c != NULL) {
		rl_arena_chunk *next = c->c_next;
		a->a_reserved -= c->c_size;
		rl_free(c);
		c = next;
	}
	keep->c_next = NULL;
	a->a_ptr = keep->c_data;
	a->a_end = keep->c_data + keep->c_size;
}

void *
rl_arena_alloc(rl_arena *a, size_t size)
{
	size = ALIGN8(size == 0 ? 1 : size);
	if ((size_t)(a->a_end - a->a_ptr) < size || a->a_ptr == NULL) {
		size_t          csize = size > a->a_chunk_size ? size : a->a_chunk_size;
		rl_arena_chunk *c = rl_malloc(sizeof(*c) + csize);
		c->c_size = csize;
		c->c_next = a->a_chunks;
		a->a_chunks = c;
		a->a_ptr = c->c_data;
		a->a_end = c->c_data + csize;
		a->a_reserved += csize;
	}
	void *p = a->a_ptr;
	a->a_ptr += size;
	return p;
}

void *
rl_arena_memdup(rl_arena *a, const void *src, size_t size)
{
	void *p = rl_arena_alloc(a, size);
	if (size > 0)
		memcpy(p, src, size);
	return p;
}

rl_arena_mark
rl_arena_save(const rl_arena *a)
{
	return (rl_arena_mark) { .m_chunk = a->a_chunks, .m_ptr = a->a_ptr };
}

void
rl_arena_restore(rl_arena *a, rl_arena_mark mark)
{
	if (mark.m_chunk == NULL) {
		rl_arena_reset(a);
		if (a->a_chunks != NULL)
			a->a_ptr = a->a_chunks->c_data;
		return;
	}
	release_newer_than(a, mark.m_chunk);
	a->a_ptr = mark.m_ptr;
	a->a_end = mark.m_chunk->c_data + mark.m_chunk->c_size;
}

size_t
rl_arena_reserved(const rl_arena *a)
{
	return a->a_reserved;
}
