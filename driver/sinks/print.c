// SPDX-License-Identifier: Apache-2.0
// The print sink's driver half: the first records of every batch, Spark-style.
#include <inttypes.h>
#include <stdio.h>

#include "common/sinks/print.h"
#include "driver/sink.h"

typedef struct print_sink {
	FILE   *p_out;
	int64_t p_num;
} print_sink;

static rl_err
print_open(void *state, const rl_job *job, const rl_sink_env *env, bool *ret_two_phase,
    char *errbuf, size_t errlen)
{
	print_sink *ps = state;
	ps->p_out = env->se_print_out != NULL ? env->se_print_out : stdout;
	ps->p_num = ((const rl_print_sink *)job->j_sink.c_conf)->p_num;
	*ret_two_phase = false;
	return RL_OK;
}

static void
print_close(void *state)
{
}

// print_commit writes the first records of the last stage's tasks (each
// task sent a sample), in partition order.
static rl_err
print_commit(void *state, const rl_sink_batch *batch, char *errbuf, size_t errlen)
{
	const print_sink    *ps = state;
	FILE                *out = ps->p_out;
	const rl_sched_task *tasks = batch->sb_tasks;
	size_t               n = batch->sb_ntasks;
	size_t               shown = 0;
	bool                 more = false;
	fprintf(out,
	    "-------------------------------------------\n"
	    "Time: %" PRId64 " ms\n"
	    "-------------------------------------------\n",
	    batch->sb_time_ms);
	for (size_t i = 0; i < n && !more; i++) {
		const Rill__TaskResult *res = tasks[i].t_result;
		for (size_t k = 0; res != NULL && k < res->n_sample; k++) {
			if (shown == (size_t)ps->p_num) {
				more = true;
				break;
			}
			fwrite(res->sample[k].data, 1, res->sample[k].len, out);
			fputc('\n', out);
			shown++;
		}
	}
	if (more)
		fputs("...\n", out);
	fputc('\n', out);
	fflush(out);
	return RL_OK;
}

const rl_sink_driver_ops rl_sink_print_driver = {
	.sk_version = RL_SINK_DRIVER_VERSION,
	.sk_name = "print",
	.sk_state_size = sizeof(print_sink),
	.sk_open = print_open,
	.sk_close = print_close,
	.sk_commit = print_commit,
};
