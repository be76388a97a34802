// SPDX-License-Identifier: Apache-2.0
// count_by_window: the narrow half — every record becomes (RL_COUNT_KEY, 1);
// the shuffle after it sums, and the window stage emits the count keyless.
#include "executor/operator.h"

static rl_err
count_by_window_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	(void)state;
	(void)rec;
	rl_rec out = {
		.r_key = (const uint8_t *)RL_COUNT_KEY,
		.r_key_len = sizeof(RL_COUNT_KEY) - 1,
		.r_is_num = true,
		.r_num = 1,
	};
	return rl_chain_next(chain, next, &out);
}

const rl_op_ops rl_op_count_by_window = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_COUNT_BY_WINDOW,
	.o_push = count_by_window_push,
};
