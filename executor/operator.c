// SPDX-License-Identifier: Apache-2.0
// The operator registry and the chain that links operators of one stage.
#include "executor/operator.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

static const rl_op_ops *const registry[] = {
	&rl_op_map,
	&rl_op_flat_map,
	&rl_op_filter,
	&rl_op_key_by,
	&rl_op_map_values,
	&rl_op_count_by_value,
	&rl_op_count_by_window,
};

// The same operators with a user function ({udf: NAME}, operators/udf.c).
static const rl_op_ops *const udf_registry[] = {
	&rl_op_udf_map,
	&rl_op_udf_flat_map,
	&rl_op_udf_filter,
	&rl_op_udf_key_by,
	&rl_op_udf_map_values,
};

const rl_op_ops *
rl_op_lookup(rl_op_kind kind)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (registry[i]->o_kind == kind)
			return registry[i];
	return NULL;
}

const rl_op_ops *
rl_op_lookup_step(const rl_step *step)
{
	if (step->s_fn != RL_FN_UDF)
		return rl_op_lookup(step->s_kind);
	for (size_t i = 0; i < sizeof(udf_registry) / sizeof(udf_registry[0]); i++)
		if (udf_registry[i]->o_kind == step->s_kind)
			return udf_registry[i];
	return NULL;
}

rl_err
rl_chain_init(rl_chain *c, const rl_step *const *steps, size_t nsteps, rl_arena *scratch,
    rl_emit_fn out, void *out_arg, char *errbuf, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->c_scratch = scratch;
	c->c_out = out;
	c->c_out_arg = out_arg;
	c->c_errbuf = errbuf;
	c->c_errlen = errlen;
	c->c_ops = rl_calloc(nsteps + 1, sizeof(*c->c_ops));
	c->c_states = rl_calloc(nsteps + 1, sizeof(*c->c_states));
	for (size_t i = 0; i < nsteps; i++) {
		const rl_op_ops *ops = rl_op_lookup_step(steps[i]);
		if (ops == NULL || ops->o_version != RL_OP_OPS_VERSION) {
			snprintf(errbuf, errlen, "operator %s has no implementation here",
			    rl_op_name(steps[i]->s_kind));
			rl_chain_fini(c);
			return RL_ERR_NOTSUP;
		}
		void  *state = rl_calloc(1, ops->o_state_size ? ops->o_state_size : 1);
		rl_err rv
		    = ops->o_init != NULL ? ops->o_init(state, steps[i], errbuf, errlen) : RL_OK;
		if (rv != RL_OK) {
			rl_free(state);
			rl_chain_fini(c);
			return rv;
		}
		c->c_ops[i] = ops;
		c->c_states[i] = state;
		c->c_nops = i + 1;
	}
	return RL_OK;
}

void
rl_chain_fini(rl_chain *c)
{
	for (size_t i = 0; i < c->c_nops; i++) {
		if (c->c_ops[i]->o_fini != NULL)
			c->c_ops[i]->o_fini(c->c_states[i]);
		rl_free(c->c_states[i]);
	}
	rl_free(c->c_ops);
	rl_free(c->c_states);
	memset(c, 0, sizeof(*c));
}

void
rl_rec_value_bytes(rl_chain *c, const rl_rec *rec, const uint8_t **ret, size_t *ret_len)
{
	if (!rec->r_is_num) {
		*ret = rec->r_val;
		*ret_len = rec->r_val_len;
		return;
	}
	rl_rec   v = { .r_num = rec->r_num, .r_is_num = true };
	uint8_t *buf = rl_arena_alloc(c->c_scratch, 24);
	*ret_len = rl_rec_format(&v, '\t', buf);
	*ret = buf;
}

bool
rl_field_get(const uint8_t *p, size_t n, const char *sep, int64_t field, const uint8_t **ret,
    size_t *ret_len)
{
	size_t         seplen = strlen(sep);
	const uint8_t *end = p + n;
	for (int64_t i = 1; i < field; i++) {
		const uint8_t *s = memmem(p, (size_t)(end - p), sep, seplen);
		if (s == NULL)
			return false;
		p = s + seplen;
	}
	const uint8_t *s = memmem(p, (size_t)(end - p), sep, seplen);
	*ret = p;
	*ret_len = (size_t)((s != NULL ? s : end) - p);
	return true;
}
