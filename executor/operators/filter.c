// SPDX-License-Identifier: Apache-2.0
// filter: nonempty | {contains: S} | {regex: RE} — keeps the records whose value matches.
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "executor/operator.h"

typedef struct filter_state {
	rl_fn       fn;
	const char *needle;
	size_t      needle_len;
	regex_t     re;
	bool        re_ok;
} filter_state;

static rl_err
filter_init(void *state, const rl_step *step, char *errbuf, size_t errlen)
{
	filter_state *st = state;
	st->fn = step->s_fn;
	if (st->fn == RL_FN_CONTAINS) {
		st->needle = step->s_arg;
		st->needle_len = strlen(step->s_arg);
	} else if (st->fn == RL_FN_REGEX) {
		int rc = regcomp(&st->re, step->s_arg, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char why[128];
			regerror(rc, &st->re, why, sizeof(why));
			snprintf(errbuf, errlen, "filter regex '%s': %s", step->s_arg, why);
			return RL_ERR_INVAL;
		}
		st->re_ok = true;
	}
	return RL_OK;
}

static rl_err
filter_push(void *state, rl_rec *rec, rl_chain *chain, size_t next)
{
	filter_state  *st = state;
	const uint8_t *p;
	size_t         n;
	rl_rec_value_bytes(chain, rec, &p, &n);
	bool keep;
	switch (st->fn) {
	case RL_FN_NONEMPTY:
		keep = n > 0;
		break;
	case RL_FN_CONTAINS:
		keep = st->needle_len == 0 || memmem(p, n, st->needle, st->needle_len) != NULL;
		break;
	default: {
		// A record's bytes are a slice of the fetch buffer with no NUL after
		// them, and regexec's callers (sanitizers' interceptors included) may
		// look for one even with REG_STARTEND: match a terminated copy in the
		// chain's scratch space (released after the record). REG_STARTEND
		// still bounds the match, so a NUL inside the value does not end it.
		char *s = rl_arena_alloc(chain->c_scratch, n + 1);
		if (n > 0)
			memcpy(s, p, n);
		s[n] = '\0';
		regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)n };
		keep = regexec(&st->re, s, 1, &m, REG_STARTEND) == 0;
		break;
	}
	}
	return keep ? rl_chain_next(chain, next, rec) : RL_OK;
}

static void
filter_fini(void *state)
{
	filter_state *st = state;
	if (st->re_ok)
		regfree(&st->re);
}

const rl_op_ops rl_op_filter = {
	.o_version = RL_OP_OPS_VERSION,
	.o_kind = RL_OP_FILTER,
	.o_state_size = sizeof(filter_state),
	.o_init = filter_init,
	.o_push = filter_push,
	.o_fini = filter_fini,
};
