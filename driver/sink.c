// SPDX-License-Identifier: Apache-2.0
// The driver halves of sinks: their registry, and the second phase of a
// two-phase sink, which the executors holding its prepared output carry out.
#include "driver/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/connector.h"
#include "common/log.h"
#include "common/rpc.h"

size_t
rl_sink_finish(rl_pool *pool, const rl_job *job, const char *sink, uint64_t epoch, int64_t batch_ms,
    uint32_t stage, const rl_sched_task *tasks, size_t n, bool commit, bool *failed)
{
	size_t    nfailed = 0;
	uint32_t *parts = rl_calloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		failed[i] = tasks[i].t_result != NULL; // until an executor says otherwise
	// One request per executor, for all the partitions it holds.
	for (size_t i = 0; i < n; i++) {
		int e = tasks[i].t_exec;
		if (tasks[i].t_result == NULL || e < 0)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= tasks[k].t_result != NULL && tasks[k].t_exec == e;
		if (seen)
			continue;
		size_t np = 0;
		for (size_t k = i; k < n; k++)
			if (tasks[k].t_result != NULL && tasks[k].t_exec == e)
				parts[np++] = tasks[k].t_launch->partition;
		Rill__SinkFinish f = RILL__SINK_FINISH__INIT;
		f.job = job->j_name;
		f.batch_time_ms = batch_ms;
		f.stage = stage;
		f.partitions = parts;
		f.n_partitions = np;
		f.commit = commit;
		f.sink = (char *)(uintptr_t)sink;
		f.epoch = epoch;
		Rill__Envelope env = RILL__ENVELOPE__INIT;
		env.body_case = RILL__ENVELOPE__BODY_SINK_FINISH;
		env.sink_finish = &f;
		rl_msg *reply = NULL;
		char    why[512], id[RL_POOL_ID_MAX] = "?";
		if (rl_pool_call(pool, e, &env, 60000, &reply, why, sizeof(why)) != RL_OK
		    || reply->m_env->body_case != RILL__ENVELOPE__BODY_SINK_FINISHED) {
			rl_pool_exec_id(pool, e, id, sizeof(id));
			rl_warn("driver", "cannot finish sink transactions",
			    "batch_ms=%" PRId64 " executor=%s commit=%d", batch_ms, id, commit);
			rl_msg_free(reply);
			continue;
		}
		const Rill__SinkFinished *done = reply->m_env->sink_finished;
		for (size_t r = 0; r < done->n_results; r++)
			for (size_t k = i; k < n; k++)
				if (tasks[k].t_exec == e
				    && tasks[k].t_launch->partition == done->results[r]->partition)
					failed[k] = !done->results[r]->ok;
		rl_msg_free(reply);
	}
	for (size_t i = 0; i < n; i++)
		nfailed += failed[i];
	rl_free(parts);
	return nfailed;
}

// ---- the registry of driver halves ----

#define RL_SINK_DECL(name) extern const rl_sink_driver_ops rl_sink_##name##_driver;
RL_SINK_LIST(RL_SINK_DECL)
#undef RL_SINK_DECL

#define RL_SINK_ENTRY(name) &rl_sink_##name##_driver,
static const rl_sink_driver_ops *builtin[] = { RL_SINK_LIST(RL_SINK_ENTRY) };
#undef RL_SINK_ENTRY

#define MAX_ADDED 8
static const rl_sink_driver_ops *added[MAX_ADDED];
static size_t                    nadded;

const rl_sink_driver_ops *
rl_sink_driver_find(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i]->sk_name, name) == 0)
			return builtin[i];
	for (size_t i = 0; i < nadded; i++)
		if (strcmp(added[i]->sk_name, name) == 0)
			return added[i];
	return NULL;
}

void
rl_sink_driver_add(const rl_sink_driver_ops *ops)
{
	if (nadded < MAX_ADDED && rl_sink_driver_find(ops->sk_name) == NULL)
		added[nadded++] = ops;
}
