// SPDX-License-Identifier: Apache-2.0
// map_values: one | length | {field: N, sep: S} — a keyless record is keyed by its value first.
#include "executor/operator.h"

typedef struct map_values_state {
	const rl_step *step;
} map_values_state;

static rl_err
map_values_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	((map_values_state *)state)->step = step;
	return RL_OK;
}

static rl_err
map_values_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	const rl_step *step = ((map_values_state *)state)->step;
	const uint8_t *p;
	size_t         n;
	rl_rec_value_bytes(chain, rec, &p, &n);
	rl_rec out = { .r_key = rec->r_key, .r_key_len = rec->r_key_len };
	if (out.r_key == NULL) {
		out.r_key = p;
		out.r_key_len = n;
	}
	switch (step->s_fn) {
	case RL_FN_ONE:
		out.r_is_num = true;
		out.r_num = 1;
		break;
	case RL_FN_LENGTH:
		out.r_is_num = true;
		out.r_num = (int64_t)n;
		break;
	default:
		if (!rl_field_get(p, n, step->s_arg, step->s_field, &out.r_val, &out.r_val_len))
			return RL_OK;
		break;
	}
	return rl_chain_next(chain, next, &out);
}

const rl_op_ops rl_op_map_values = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_MAP_VALUES,
	.o_state_size = sizeof(map_values_state),
	.o_init = map_values_init,
	.o_push = map_values_push,
};
