// SPDX-License-Identifier: Apache-2.0
// Growable byte buffer: the out-of-line parts.
#include "common/buf.h"

void
rl_buf_fini(rl_buf *b)
{
	rl_free(b->b_data);
	*b = RL_BUF_INIT;
}

void
rl_buf_grow(rl_buf *b, size_t extra)
{
	size_t cap = rl_growth(b->b_cap, b->b_len + extra, 256);
	b->b_data = rl_realloc(b->b_data, cap);
	b->b_cap = cap;
}

uint8_t *
rl_buf_steal(rl_buf *b, size_t *ret_len)
{
	uint8_t *p = b->b_data;
	*ret_len = b->b_len;
	*b = RL_BUF_INIT;
	return p;
}
