// SPDX-License-Identifier: Apache-2.0
// Per-task bump allocator: records and keys live here, never one malloc per record.
#ifndef RL_ARENA_H
#define RL_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl_arena_chunk rl_arena_chunk;

// The caller owns the struct (init/fini); the arena owns its chunks.
typedef struct rl_arena {
	rl_arena_chunk *a_chunks; // newest first
	uint8_t        *a_ptr; // next free byte in the newest chunk
	uint8_t        *a_end; // end of the newest chunk
	size_t          a_chunk_size; // size of a regular chunk
	size_t          a_reserved; // bytes of all chunks, for metrics
} rl_arena;

// A position to roll back to: everything allocated after it is released.
typedef struct rl_arena_mark {
	rl_arena_chunk *m_chunk;
	uint8_t        *m_ptr;
} rl_arena_mark;

void rl_arena_init(rl_arena *a, size_t chunk_size);
// rl_arena_fini releases every chunk; safe on a zeroed or finished arena.
void rl_arena_fini(rl_arena *a);
// rl_arena_reset releases everything but keeps the newest chunk for reuse.
void rl_arena_reset(rl_arena *a);

// rl_arena_alloc returns size bytes aligned to 8; aborts on out-of-memory.
void *rl_arena_alloc(rl_arena *a, size_t size);
void *rl_arena_memdup(rl_arena *a, const void *src, size_t size);

rl_arena_mark rl_arena_save(const rl_arena *a);
// rl_arena_restore frees all allocations made since mark was taken.
void rl_arena_restore(rl_arena *a, rl_arena_mark mark);

size_t rl_arena_reserved(const rl_arena *a);

#endif
