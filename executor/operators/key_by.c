// SPDX-License-Identifier: Apache-2.0
// key_by: value | {field: N, sep: S} | {json: PATH} — sets the key, keeps the value.
#include "common/json.h"
#include "executor/operator.h"

typedef struct key_by_state {
	const rl_step *step;
	rl_json        json; // {json: PATH}: the tokens, reused record after record
} key_by_state;

static rl_err
key_by_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	key_by_state *st = state;
	st->step = step;
	rl_json_init(&st->json);
	return RL_OK;
}

static void
key_by_fini(void *state)
{
	rl_json_fini(&((key_by_state *)state)->json);
}

// json_key sets out's key to the field at the step's path: a string's text
// (escapes decoded), a number's or a boolean's text as written, an object's
// or an array's JSON text. False when the record has none (no such field,
// null, or a value that is not a JSON object).
static bool
json_key(key_by_state *st, rl_chain *chain, const uint8_t *p, size_t n, rl_rec *out)
{
	rl_json_value v;
	switch (rl_json_get(&st->json, p, n, st->step->s_arg, &v)) {
	case RL_JSON_FOUND:
		break;
	case RL_JSON_MISSING:
		chain->c_missing++;
		return false;
	default:
		chain->c_malformed++;
		return false;
	}
	out->r_key = v.v;
	out->r_key_len = v.v_len;
	if (v.v_escaped) {
		uint8_t *buf = rl_arena_alloc(chain->c_scratch, v.v_len + 1);
		long     len = rl_json_unescape(v.v, v.v_len, buf);
		if (len < 0) {
			chain->c_malformed++;
			return false;
		}
		out->r_key = buf;
		out->r_key_len = (size_t)len;
	}
	return true;
}

static rl_err
key_by_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	key_by_state  *st = state;
	const rl_step *step = st->step;
	const uint8_t *p;
	size_t         n;
	rl_rec_value_bytes(chain, rec, &p, &n);
	rl_rec out = *rec;
	if (step->s_fn == RL_FN_FIELD) {
		// A record without that field has no key: it is dropped, as awk would skip it.
		if (!rl_field_get(p, n, step->s_arg, step->s_field, &out.r_key, &out.r_key_len)) {
			chain->c_missing++;
			return RL_OK;
		}
	} else if (step->s_fn == RL_FN_JSON) {
		if (!json_key(st, chain, p, n, &out))
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
	.o_fini = key_by_fini,
};
