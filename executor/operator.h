// SPDX-License-Identifier: Apache-2.0
// Narrow operators (map, flat_map, filter, key_by, …) as const ops tables, and
// the push-based chain that runs a stage's operators over each record.
#ifndef RL_OPERATOR_H
#define RL_OPERATOR_H

#include <stddef.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "executor/record.h"

typedef struct rl_chain rl_chain;

#define RL_OP_OPS_VERSION 1

typedef struct rl_op_ops {
	int        o_version;
	rl_op_kind o_kind;
	size_t     o_state_size; // zeroed by the framework before o_init
	// o_init prepares state for step (compiles a regex…). Errors name the step.
	rl_err (*o_init)(void *state, const rl_step *step, char *errbuf, size_t errlen);
	// o_push handles rec and passes 0…n records on with rl_chain_next(chain, next, …).
	rl_err (*o_push)(void *state, rl_rec *rec, rl_chain *chain, size_t next);
	// o_fini releases what o_init made; may be NULL.
	void (*o_fini)(void *state);
} rl_op_ops;

// Receives each record that leaves the last operator.
typedef rl_err (*rl_emit_fn)(void *arg, rl_rec *rec);

struct rl_chain {
	size_t            c_nops;
	const rl_op_ops **c_ops;
	void            **c_states;
	rl_arena         *c_scratch; // space for derived bytes; rolled back after each input record
	rl_emit_fn        c_out;
	void             *c_out_arg;
	char             *c_errbuf; // where an operator explains a failure
	size_t            c_errlen;
	// Records dropped for want of a key: key_by found no such field
	// (c_missing), or the value was not what the function reads, e.g. not
	// JSON (c_malformed). Counted for the task's metrics.
	uint64_t c_missing;
	uint64_t c_malformed;
};

// rl_op_lookup returns the ops for a narrow operator kind, or NULL.
const rl_op_ops *rl_op_lookup(rl_op_kind kind);
// rl_op_lookup_step returns the ops for step: its kind's built-in operator,
// or with {udf: NAME} the one that calls the user function; NULL if none.
const rl_op_ops *rl_op_lookup_step(const rl_step *step);

// rl_chain_init builds the chain for steps (borrowed: they must outlive it).
rl_err rl_chain_init(rl_chain *c, const rl_step *const *steps, size_t nsteps, rl_arena *scratch,
    rl_emit_fn out, void *out_arg, char *errbuf, size_t errlen);
// rl_chain_fini is safe on a zeroed or half-built chain.
void rl_chain_fini(rl_chain *c);

static inline rl_err
rl_chain_next(rl_chain *c, size_t idx, rl_rec *rec)
{
	if (idx == c->c_nops)
		return c->c_out(c->c_out_arg, rec);
	return c->c_ops[idx]->o_push(c->c_states[idx], rec, c, idx + 1);
}

// rl_chain_push runs one input record through every operator; scratch space
// used on its behalf is released afterwards.
static inline rl_err
rl_chain_push(rl_chain *c, rl_rec *rec)
{
	rl_arena_mark mark = rl_arena_save(c->c_scratch);
	rl_err        rv = rl_chain_next(c, 0, rec);
	rl_arena_restore(c->c_scratch, mark);
	return rv;
}

// rl_rec_value_bytes gives the value as bytes, formatting a number into the
// chain's scratch space.
void rl_rec_value_bytes(rl_chain *c, const rl_rec *rec, const uint8_t **ret, size_t *ret_len);

// rl_field_get finds the 1-based field of p[0..n) split on sep.
bool rl_field_get(const uint8_t *p, size_t n, const char *sep, int64_t field, const uint8_t **ret,
    size_t *ret_len);

extern const rl_op_ops rl_op_map;
extern const rl_op_ops rl_op_flat_map;
extern const rl_op_ops rl_op_filter;
extern const rl_op_ops rl_op_key_by;
extern const rl_op_ops rl_op_map_values;
extern const rl_op_ops rl_op_count_by_value;
extern const rl_op_ops rl_op_count_by_window;

// The one key count_by_window counts under between its two halves (the
// window stage emits the count without it).
#define RL_COUNT_KEY "count"
extern const rl_op_ops rl_op_udf_map;
extern const rl_op_ops rl_op_udf_flat_map;
extern const rl_op_ops rl_op_udf_filter;
extern const rl_op_ops rl_op_udf_key_by;
extern const rl_op_ops rl_op_udf_map_values;

#endif
