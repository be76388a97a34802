// SPDX-License-Identifier: Apache-2.0
// The driver half of a sink connector: preparing a batch's output, publishing
// it once every task succeeded, and, for a two-phase sink, finding after a
// crash which tasks' output committed and fencing earlier runs' leftovers.
#ifndef RL_DRIVER_SINK_H
#define RL_DRIVER_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "driver/scheduler.h"

#define RL_SINK_DRIVER_VERSION 1

// The tasks of a batch's last stage, which wrote to the sink, and their results.
typedef struct rl_sink_batch {
	int64_t              sb_time_ms;
	const rl_sched_task *sb_tasks;
	size_t               sb_ntasks;
} rl_sink_batch;

// What the host gives a sink.
typedef struct rl_sink_env {
	FILE *se_print_out; // where a sink that prints writes
} rl_sink_env;

// The ops of one sink kind. The framework allocates sk_state_size zeroed
// bytes per job; calls come from the job's batch loop only (one thread).
//
// A one-phase sink publishes a batch in sk_commit. A two-phase sink (its
// sk_open says so) has its tasks leave their output prepared on their
// executors (executor/sink.h); the batch loop records the batch as
// prepared, has every executor commit what it holds (SinkFinish), and asks
// sk_committed about a partition whose executor could not confirm, running
// its task again if it did not commit. Optional ops may be NULL.
typedef struct rl_sink_driver_ops {
	int         sk_version; // RL_SINK_DRIVER_VERSION
	const char *sk_name; // the connector's name, as in the job file
	size_t      sk_state_size;
	// sk_open checks the sink can be written (job is borrowed and outlives
	// the state) and says whether it commits in two phases.
	rl_err (*sk_open)(void *state, const rl_job *job, const rl_sink_env *env,
	    bool *ret_two_phase, char *errbuf, size_t errlen);
	void (*sk_close)(void *state); // also after a failed sk_open
	// sk_fence makes what sink tasks [0, width) of an earlier run left open
	// unable to commit, and releases it (optional; two-phase sinks).
	void (*sk_fence)(void *state, uint32_t width);
	// sk_prepare clears what an earlier attempt of the batch left behind
	// and makes room for it, before any task runs (optional).
	rl_err (*sk_prepare)(void *state, int64_t batch_ms, char *errbuf, size_t errlen);
	// sk_commit publishes the batch (optional; one-phase sinks).
	rl_err (*sk_commit)(void *state, const rl_sink_batch *batch, char *errbuf, size_t errlen);
	// sk_committed tells whether the sink task of partition committed
	// batch_ms (two-phase sinks).
	rl_err (*sk_committed)(void *state, uint32_t partition, int64_t batch_ms, bool *ret,
	    char *errbuf, size_t errlen);
	// sk_task_id names a sink task's prepared output for the checkpoint
	// (Kafka: its transactional.id); optional.
	void (*sk_task_id)(void *state, uint32_t partition, char *buf, size_t len);
} rl_sink_driver_ops;

// rl_sink_driver_find returns the driver half of the sink kind name, or
// NULL. rl_sink_driver_add registers one that RL_SINK_LIST does not name (a
// test's); call before any job starts. @locality not thread-safe
const rl_sink_driver_ops *rl_sink_driver_find(const char *name);
void                      rl_sink_driver_add(const rl_sink_driver_ops *ops);

// rl_sink_finish asks the executors that ran tasks[0..n) of the last stage
// (which wrote to the sink named sink) for the leader of epoch to commit (or abort) what those
// tasks left prepared for batch_ms. failed[i] says which did not report success (their executor is
// gone, or it no longer had the output); returns how many.
size_t rl_sink_finish(rl_pool *pool, const rl_job *job, const char *sink, uint64_t epoch,
    int64_t batch_ms, uint32_t stage, const rl_sched_task *tasks, size_t n, bool commit,
    bool *failed);

#endif
