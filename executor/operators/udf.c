// SPDX-License-Identifier: Apache-2.0
// map, flat_map, filter, key_by, map_values: {udf: NAME} — a user function
// (include/rill.h) called on each record's value; what it emits goes on at
// once, so nothing is copied or allocated per record.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rill.h>

#include "executor/operator.h"

// Scratch asked of rill_scratch beyond this is refused (NULL).
#define SCRATCH_MAX ((size_t)64 << 20)

typedef struct udf_state {
	const rill_udf *u;
	void           *udata;
	rl_op_kind      op;
} udf_state;

// One call's output handle: rill_out first, so the host's emit finds the rest.
typedef struct udf_call {
	rill_out         out;
	const udf_state *st;
	rl_chain        *chain;
	size_t           next;
	const rl_rec    *in; // the record the function was called on
	rill_slice       in_val; // its value as bytes, as the function got it
	unsigned         emitted;
	rl_err           rv; // the first error downstream or of the function
} udf_call;

static rl_err
udf_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	udf_state *st = state;
	if (step->s_udf == NULL) {
		snprintf(errbuf, errlen, "%s: {udf: %s} is not bound to the job's artifact",
		    rl_op_name(step->s_kind), step->s_arg != NULL ? step->s_arg : "");
		return RL_ERR_INTERNAL;
	}
	st->u = step->s_udf;
	st->udata = step->s_udf_data;
	st->op = step->s_kind;
	return RL_OK;
}

// as_text is an integer as decimal bytes (in the chain's scratch space).
static void
as_text(udf_call *c, int64_t num, const uint8_t **ret, size_t *ret_len)
{
	rl_rec v = { .r_num = num, .r_is_num = true };
	rl_rec_value_bytes(c->chain, &v, ret, ret_len);
}

// pass builds the record that leaves the step for one emitted value and
// pushes it on.
static int
pass(udf_call *c, const uint8_t *bytes, size_t len, int64_t num, bool is_num)
{
	if (c->rv != RL_OK)
		return RILL_ERROR; // a function that emits again after an error
	if (c->st->op == RL_OP_FILTER) {
		snprintf(c->chain->c_errbuf, c->chain->c_errlen,
		    "filter: {udf: %s} emitted a value (a filter returns 1 to keep the record, 0 "
		    "to drop it)",
		    c->st->u->name);
		c->rv = RL_ERR_INVAL;
		return RILL_ERROR;
	}
	if (++c->emitted > 1 && c->st->op != RL_OP_FLAT_MAP) {
		snprintf(c->chain->c_errbuf, c->chain->c_errlen,
		    "%s: {udf: %s} emitted more than once for one record (only flat_map may)",
		    rl_op_name(c->st->op), c->st->u->name);
		c->rv = RL_ERR_INVAL;
		return RILL_ERROR;
	}
	const rl_rec *in = c->in;
	rl_rec        out;
	switch (c->st->op) {
	case RL_OP_FLAT_MAP: // keyless pieces, as the built-in flat_map's
		out = (rl_rec) {
			.r_val = bytes, .r_val_len = len, .r_num = num, .r_is_num = is_num
		};
		break;
	case RL_OP_KEY_BY: // the emitted bytes are the key; the value stays
		out = *in;
		if (is_num)
			as_text(c, num, &bytes, &len);
		out.r_key = bytes != NULL ? bytes : (const uint8_t *)"";
		out.r_key_len = len;
		break;
	case RL_OP_MAP_VALUES: // a keyless record is keyed by its value first
		out = (rl_rec) { .r_key = in->r_key,
			.r_key_len = in->r_key_len,
			.r_val = bytes,
			.r_val_len = len,
			.r_num = num,
			.r_is_num = is_num };
		if (out.r_key == NULL) {
			out.r_key = c->in_val.ptr;
			out.r_key_len = c->in_val.len;
		}
		break;
	default: // map: a new value, the key kept
		out = *in;
		out.r_val = bytes;
		out.r_val_len = len;
		out.r_num = num;
		out.r_is_num = is_num;
		break;
	}
	if (!out.r_is_num && out.r_val == NULL)
		out.r_val = (const uint8_t *)"";
	rl_err rv = rl_chain_next(c->chain, c->next, &out);
	if (rv != RL_OK) {
		c->rv = rv; // the step downstream has explained it in the chain's errbuf
		return RILL_ERROR;
	}
	return RILL_OK;
}

static int
host_emit(rill_out *out, const void *bytes, size_t len)
{
	return pass((udf_call *)out, bytes, len, 0, false);
}

static int
host_emit_int(rill_out *out, int64_t value)
{
	udf_call *c = (udf_call *)out;
	if (c->st->op == RL_OP_MAP_VALUES || c->st->op == RL_OP_KEY_BY)
		return pass(c, NULL, 0, value, true);
	// Elsewhere values are bytes: the integer as decimal text.
	const uint8_t *text;
	size_t         len;
	as_text(c, value, &text, &len);
	return pass(c, text, len, 0, false);
}

static void *
host_scratch(rill_out *out, size_t size)
{
	udf_call *c = (udf_call *)out;
	if (size > SCRATCH_MAX)
		return NULL;
	return rl_arena_alloc(c->chain->c_scratch, size > 0 ? size : 1);
}

static int
host_fail(rill_out *out, const char *message)
{
	udf_call *c = (udf_call *)out;
	if (c->rv == RL_OK) {
		snprintf(c->chain->c_errbuf, c->chain->c_errlen, "%s: {udf: %s}: %s",
		    rl_op_name(c->st->op), c->st->u->name, message != NULL ? message : "failed");
		c->rv = RL_ERR_INVAL;
	}
	return RILL_ERROR;
}

static const rill_out_api host_api = {
	.emit = host_emit,
	.emit_int = host_emit_int,
	.scratch = host_scratch,
	.fail = host_fail,
};

static rl_err
udf_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	const udf_state *st = state;
	udf_call         c = {
		        .out = { .api = &host_api, .key = { rec->r_key, rec->r_key_len } },
		        .st = st,
		        .chain = chain,
		        .next = next,
		        .in = rec,
	};
	rl_rec_value_bytes(chain, rec, &c.in_val.ptr, &c.in_val.len);
	int rc = st->u->fn(st->udata, c.in_val, &c.out);
	if (c.rv != RL_OK)
		return c.rv;
	if (rc < 0) {
		snprintf(chain->c_errbuf, chain->c_errlen, "%s: {udf: %s} failed (returned %d)",
		    rl_op_name(st->op), st->u->name, rc);
		return RL_ERR_INVAL;
	}
	if (st->op == RL_OP_FILTER && rc > 0)
		return rl_chain_next(chain, next, rec);
	return RL_OK;
}

#define UDF_OPS(NAME, KIND)                                                                        \
	const rl_op_ops rl_op_udf_##NAME = {                                                       \
		.o_version = RL_OP_OPS_VERSION,                                                    \
		.o_kind = KIND,                                                                    \
		.o_state_size = sizeof(udf_state),                                                 \
		.o_init = udf_init,                                                                \
		.o_push = udf_push,                                                                \
	};

UDF_OPS(map, RL_OP_MAP)
UDF_OPS(flat_map, RL_OP_FLAT_MAP)
UDF_OPS(filter, RL_OP_FILTER)
UDF_OPS(key_by, RL_OP_KEY_BY)
UDF_OPS(map_values, RL_OP_MAP_VALUES)
