// SPDX-License-Identifier: Apache-2.0
// print sink, task side: keeps the first num+1 records as "(key,value)" for
// the driver, which prints num of them per batch (and "..." if there are more).
#include "common/sinks/print.h"
#include "common/alloc.h"
#include "executor/sink.h"

typedef struct print_state {
	size_t          limit;
	rl_arena       *arena;
	const uint8_t **samples;
	size_t         *lens;
	size_t          n;
} print_state;

static rl_err
print_open(void *state, const void *conf, const rl_sink_task *task, char *errbuf, size_t errlen)
{
	const rl_print_sink *sink = conf;
	print_state         *st = state;
	st->limit = (size_t)sink->p_num + 1;
	st->arena = task->t_arena;
	st->samples = rl_arena_alloc(st->arena, st->limit * sizeof(*st->samples));
	st->lens = rl_arena_alloc(st->arena, st->limit * sizeof(*st->lens));
	return RL_OK;
}

static rl_err
print_write(void *state, const rl_rec *rec)
{
	print_state *st = state;
	if (st->n == st->limit)
		return RL_OK;
	uint8_t *buf = rl_arena_alloc(st->arena, rl_rec_format_max(rec) + 2);
	size_t   len = 0;
	if (rec->r_key != NULL)
		buf[len++] = '(';
	len += rl_rec_format(rec, ',', buf + len);
	if (rec->r_key != NULL)
		buf[len++] = ')';
	st->samples[st->n] = buf;
	st->lens[st->n] = len;
	st->n++;
	return RL_OK;
}

static rl_err
print_commit(void *state, rl_sink_result *res, char *errbuf, size_t errlen)
{
	print_state *st = state;
	res->r_samples = st->samples;
	res->r_sample_lens = st->lens;
	res->r_nsamples = st->n;
	return RL_OK;
}

static void
print_abort(void *state)
{
	(void)state;
}

const rl_sink_ops rl_sink_print_exec = {
	.s_version = RL_SINK_OPS_VERSION,
	.s_name = "print",
	.s_state_size = sizeof(print_state),
	.s_open = print_open,
	.s_write = print_write,
	.s_commit = print_commit,
	.s_abort = print_abort,
};
