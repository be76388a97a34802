// SPDX-License-Identifier: Apache-2.0
// map: lower | upper | trim — rewrites the value (ASCII case, surrounding whitespace).
#include <ctype.h>

#include "executor/operator.h"

typedef struct map_state {
	rl_fn fn;
} map_state;

static rl_err
map_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	((map_state *)state)->fn = step->s_fn;
	return RL_OK;
}

static rl_err
map_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	map_state *st = state;
	if (rec->r_is_num)
		return rl_chain_next(chain, next, rec);
	rl_rec out = *rec;
	if (st->fn == RL_FN_TRIM) {
		const uint8_t *p = rec->r_val, *e = rec->r_val + rec->r_val_len;
		while (p < e && isspace(*p))
			p++;
		while (e > p && isspace(e[-1]))
			e--;
		out.r_val = p;
		out.r_val_len = (size_t)(e - p);
	} else {
		uint8_t *buf = rl_arena_alloc(chain->c_scratch, rec->r_val_len);
		for (size_t i = 0; i < rec->r_val_len; i++)
			buf[i] = (uint8_t)(st->fn == RL_FN_LOWER ? tolower(rec->r_val[i])
			                                         : toupper(rec->r_val[i]));
		out.r_val = buf;
	}
	return rl_chain_next(chain, next, &out);
}

const rl_op_ops rl_op_map = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_MAP,
	.o_state_size = sizeof(map_state),
	.o_init = map_init,
	.o_push = map_push,
};
