// SPDX-License-Identifier: Apache-2.0
// flat_map: words | {split: SEP} — one keyless record per piece of the value, no copy.
#include <string.h>

#include "executor/operator.h"

typedef struct flat_map_state {
	rl_fn       fn;
	const char *sep;
	size_t      seplen;
} flat_map_state;

static rl_err
flat_map_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	flat_map_state *st = state;
	st->fn = step->s_fn;
	st->sep = step->s_arg;
	st->seplen = st->sep != NULL ? strlen(st->sep) : 0;
	return RL_OK;
}

static inline bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Each piece is a new record of its own: it has no key (as Spark's flatMap on values).
static rl_err
emit_piece(const uint8_t *p, size_t n, rl_chain *chain, size_t next)
{
	rl_rec out = { .r_val = p, .r_val_len = n };
	return rl_chain_next(chain, next, &out);
}

static rl_err
flat_map_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	flat_map_state *st = state;
	const uint8_t  *p, *end;
	size_t          n;
	rl_rec_value_bytes(chain, rec, &p, &n);
	end = p + n;
	rl_err rv = RL_OK;
	if (st->fn == RL_FN_WORDS) {
		while (p < end && rv == RL_OK) {
			while (p < end && is_space(*p))
				p++;
			const uint8_t *w = p;
			while (p < end && !is_space(*p))
				p++;
			if (p > w)
				rv = emit_piece(w, (size_t)(p - w), chain, next);
		}
		return rv;
	}
	for (;;) {
		const uint8_t *s = memmem(p, (size_t)(end - p), st->sep, st->seplen);
		if (s == NULL)
			return emit_piece(p, (size_t)(end - p), chain, next);
		if ((rv = emit_piece(p, (size_t)(s - p), chain, next)) != RL_OK)
			return rv;
		p = s + st->seplen;
	}
}

const rl_op_ops rl_op_flat_map = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_FLAT_MAP,
	.o_state_size = sizeof(flat_map_state),
	.o_init = flat_map_init,
	.o_push = flat_map_push,
};
