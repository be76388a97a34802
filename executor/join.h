// SPDX-License-Identifier: Apache-2.0
// The reduce side of `join`: one reduce partition's records of both sides,
// joined by key (a hash table of the other side, every pair of equal keys).
#ifndef RL_JOIN_H
#define RL_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "executor/operator.h"
#include "executor/record.h"

typedef struct rl_join_block {
	const uint8_t *jb_data; // a copy in the join's arena
	size_t         jb_len;
	bool           jb_right; // the join's other input; else this stream
} rl_join_block;

typedef struct rl_join_value rl_join_value;

// One distinct key of the right side and its values, in arrival order.
typedef struct rl_join_key {
	uint64_t       k_hash;
	const uint8_t *k_key; // into a block copy
	size_t         k_key_len;
	rl_join_value *k_first; // NULL marks a free slot
	rl_join_value *k_last;
} rl_join_key;

// The caller owns the struct (init/fini). Blocks and values live in arena,
// which must outlive the join's use; the table itself grows by doubling.
typedef struct rl_join {
	rl_arena      *j_arena;
	bool           j_left; // kind left: a left record without a match is kept
	rl_join_block *j_blocks;
	size_t         j_nblocks, j_blocks_cap;
	rl_join_key   *j_slots;
	size_t         j_cap; // power of two
	size_t         j_count;
} rl_join;

void rl_join_init(rl_join *j, rl_arena *arena, bool left);
// rl_join_fini is safe on a zeroed join.
void rl_join_fini(rl_join *j);

// rl_join_add_block keeps a copy of one fetched shuffle block of a side
// (the fetch's bytes are only valid during its callback).
void rl_join_add_block(rl_join *j, bool right, const uint8_t *data, size_t len);

// rl_join_run indexes the right side's records by key, then pushes through
// chain, for each left record, one record per right record of its key:
// the key and the value "LEFT<TAB>RIGHT" (numbers in decimal); with kind
// left, a left record without one gives "LEFT<TAB>" (an empty right).
// *ret_records counts the records read, both sides. A malformed block or a
// record without a key is RL_ERR_PROTO; the chain's errors pass through.
rl_err rl_join_run(rl_join *j, rl_chain *chain, uint64_t *ret_records, char *errbuf, size_t errlen);

#endif
