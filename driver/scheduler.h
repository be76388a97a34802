// SPDX-License-Identifier: Apache-2.0
// Running one stage's tasks on the executors: placement (free cores, warm
// consumers first), asynchronous launches, retries on other executors.
#ifndef RL_SCHEDULER_H
#define RL_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rpc.h"
#include "driver/executors.h"
#include "rill.pb-c.h"

typedef struct rl_sched_task {
	Rill__TaskLaunch *t_launch; // caller's; the scheduler sets attempt
	int               t_preferred; // executor index, or -1
	// Results, once the stage succeeded:
	rl_msg                 *t_msg; // owns t_result; free with rl_msg_free
	const Rill__TaskResult *t_result;
	int                     t_exec; // executor index that ran it
	// The scheduler's own:
	int      t_state;
	int      t_attempts;
	int      t_excluded; // executor it last failed on, or -1
	int      t_on; // executor it runs on (while running)
	int64_t  t_told_ms; // when t_on was last told an input's executor is lost, or 0
	uint64_t t_checked_losses; // the pool's losses when its inputs were last looked at
} rl_sched_task;

typedef struct rl_sched_opts {
	int     max_attempts; // per task (Spark's spark.task.maxFailures: 4)
	int     task_timeout_ms; // a task not answered by then is retried; <= 0: no limit
	int64_t no_executor_timeout_ms; // how long to wait when none is alive
} rl_sched_opts;

// rl_sched_run runs every task and returns when all succeeded (RL_OK), when
// one failed for good (errbuf says which and why), or when a reduce task
// could not fetch a map output: RL_ERR_FETCH_FAILED with that map partition
// in *ret_failed_map, so the caller can recompute it. A reduce task running
// while the executor of one of its inputs is lost has its own executor told
// (ExecutorsLost, again every 2 s while it runs), so that its fetch fails at
// once rather than wait on a peer that went silent. Nothing of the run's
// tasks is in flight when it returns. @locality the driver's batch thread
rl_err rl_sched_run(rl_pool *pool, rl_sched_task *tasks, size_t n, const rl_sched_opts *opts,
    uint32_t *ret_failed_map, char *errbuf, size_t errlen);

// rl_sched_reset frees the results of tasks and makes them runnable again.
void rl_sched_reset(rl_sched_task *tasks, size_t n);

#endif
