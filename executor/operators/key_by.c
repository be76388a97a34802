// SPDX-License-Identifier: Apache-2.0
// key_by: value | {field: N, sep: S} — sets the key, keeps the value.
#include "executor/operator.h"

typedef struct key_by_state {
	const rl_step *step;
} key_by_state;

static rl_err
key_by_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	((key_by_state *)state)->step = step;
	return RL_OK;
}

static rl_err
key_by_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	const rl_step *step = ((key_by_state *)state)->step;
	const uint8_t *p;
	size_t         n;
	rl_rec_value_bytes(chain, rec, &p, &n);
	rl_rec out = *rec;
	if (step->s_fn == RL_FN_FIELD) {
		// A record without that field has no key: it is dropped, as awk would skip it.
		if (!rl_field_get(p, n, step->s_arg, step->s_field, &out.r_key, &out.r_key_len))
			return RL_OK;
	} else {
		out.r_key = p;
		out.r_key_len = n;
	}
	return rl_chain_next(chain, next, &out);
}

const rl_op_ops rl_op_key_by = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_KEY_BY,
	.o_state_size = sizeof(key_by_state),
	.o_init = key_by_init,
	.o_push = key_by_push,
};
