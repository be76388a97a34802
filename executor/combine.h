// SPDX-License-Identifier: Apache-2.0
// Per-key aggregation (sum|min|max|count) in an open-addressing hash table:
// map-side combine before a shuffle, and the merge after it.
#ifndef RL_COMBINE_H
#define RL_COMBINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "executor/record.h"

typedef struct rl_combine_entry {
	uint64_t       e_hash;
	const uint8_t *e_key; // in the combiner's arena; NULL marks a free slot
	size_t         e_key_len;
	int64_t        e_acc;
	int64_t        e_aux; // the caller's (map_with_state: the batch a key was last seen)
} rl_combine_entry;

// The caller owns the struct (init/fini); keys are copied into arena, once per
// distinct key.
// A user function's reduce (include/rill.h's rill_reduce_fn), for RL_FN_UDF.
typedef int64_t (*rl_reduce_udf)(void *udata, int64_t a, int64_t b);

typedef struct rl_combiner {
	rl_fn             c_fn;
	rl_reduce_udf     c_udf; // RL_FN_UDF: the fold
	void             *c_udf_data;
	const char       *c_udf_name; // for messages
	rl_arena         *c_arena;
	rl_combine_entry *c_slots;
	size_t            c_cap; // power of two
	size_t            c_count;
} rl_combiner;

void rl_combiner_init(rl_combiner *c, rl_fn fn, rl_arena *arena);
// rl_combiner_init_udf is init for a user function's reduce (fn RL_FN_UDF):
// values fold with udf(udata, acc, value); name is for messages (borrowed).
void rl_combiner_init_udf(
    rl_combiner *c, rl_reduce_udf udf, void *udata, const char *name, rl_arena *arena);
void rl_combiner_fini(rl_combiner *c);
// rl_combiner_clear forgets every entry and keeps the fold (built-in or
// user function) and the arena, whose keys the caller may then release.
void rl_combiner_clear(rl_combiner *c);

// rl_combiner_add folds one record in: count adds 1; sum, min and max need a
// numeric value (a decimal byte value is parsed). A record without a key, or
// with a value that is not an integer, is RL_ERR_INVAL with a reason in errbuf.
rl_err rl_combiner_add(rl_combiner *c, const rl_rec *rec, char *errbuf, size_t errlen);

// rl_combiner_merge folds a partial result (from another combiner) in with
// the merge function of fn (count partials are summed), and returns the
// key's value after it.
int64_t rl_combiner_merge(rl_combiner *c, const uint8_t *key, size_t key_len, int64_t partial);

// rl_combiner_get finds key's value without adding the key.
bool rl_combiner_get(const rl_combiner *c, const uint8_t *key, size_t key_len, int64_t *ret);

// rl_combiner_entry finds key's entry, adding it (acc and aux 0) if absent;
// *fresh tells which. The entry is valid until the next insert or remove.
rl_combine_entry *rl_combiner_entry(
    rl_combiner *c, const uint8_t *key, size_t key_len, bool *fresh);

// rl_combiner_fold is the merge of fn on two values: acc with partial
// folded in, as rl_combiner_merge folds a key that has a value.
int64_t rl_combiner_fold(const rl_combiner *c, int64_t acc, int64_t partial);

// rl_combiner_remove takes key out (its bytes stay in the arena until the
// arena goes); false when it was not there.
bool rl_combiner_remove(rl_combiner *c, const uint8_t *key, size_t key_len);

// rl_combiner_put sets key's value, whatever it was.
void rl_combiner_put(rl_combiner *c, const uint8_t *key, size_t key_len, int64_t value);

// rl_combiner_grows says whether a new key would double the table now (for
// a moment the old table and the new one twice its size are both there).
static inline bool
rl_combiner_grows(const rl_combiner *c)
{
	return (c->c_count + 1) * 4 > c->c_cap * 3;
}

// Iteration: for (size_t i = 0; i < c->c_cap; i++) if (c->c_slots[i].e_key) …
static inline size_t
rl_combiner_count(const rl_combiner *c)
{
	return c->c_count;
}

#endif
