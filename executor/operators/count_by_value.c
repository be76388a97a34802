// SPDX-License-Identifier: Apache-2.0
// count_by_value: the narrow half — (value, 1); the shuffle after it sums.
#include "executor/operator.h"

static rl_err
count_by_value_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	rl_rec out = { .r_is_num = true, .r_num = 1 };
	rl_rec_value_bytes(chain, rec, &out.r_key, &out.r_key_len);
	return rl_chain_next(chain, next, &out);
}

const rl_op_ops rl_op_count_by_value = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_COUNT_BY_VALUE,
	.o_push = count_by_value_push,
};
