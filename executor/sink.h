// SPDX-License-Identifier: Apache-2.0
// The executor half of a sink connector: a task's writer (the driver half
// commits the batch, see driver/sink.h). Each kind is a const ops table in
// executor/sinks/, found by its name.
#ifndef RL_SINK_H
#define RL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "executor/record.h"

// What a sink writer knows about the task it writes for.
typedef struct rl_sink_task {
	const rl_job *t_job;
	int64_t       t_batch_ms;
	uint32_t      t_partition;
	uint32_t      t_attempt;
	rl_arena     *t_arena; // lives as long as the task's result
	void         *t_shared; // the executor's resource of this sink kind, or NULL
} rl_sink_task;

// What the driver gets back: a few formatted records (print sink).
typedef struct rl_sink_result {
	const uint8_t **r_samples;
	size_t         *r_sample_lens;
	size_t          r_nsamples;
} rl_sink_result;

#define RL_SINK_OPS_VERSION 2

typedef struct rl_sink_ops {
	int         s_version;
	const char *s_name; // the connector's name, as in the job file
	size_t      s_state_size; // zeroed by the framework
	// s_open readies the task's writer; conf is the sink's settings (the
	// type its grammar defines), borrowed for the task.
	rl_err (*s_open)(
	    void *state, const void *conf, const rl_sink_task *task, char *errbuf, size_t errlen);
	rl_err (*s_write)(void *state, const rl_rec *rec);
	// s_commit makes the task's output durable where the driver's batch commit
	// will find it, and fills res.
	rl_err (*s_commit)(void *state, rl_sink_result *res, char *errbuf, size_t errlen);
	// s_abort discards what was written; also called after a failed s_commit.
	void (*s_abort)(void *state);
	// A resource one executor keeps for every task of this kind (Kafka:
	// its producers), made when the executor starts (optional).
	void *(*s_shared_create)(void);
	void (*s_shared_destroy)(void *shared);
	// s_finish is a two-phase sink's second phase: commit (or abort) what
	// the task of (job, partition) left prepared here for batch_ms.
	// Committing what is not prepared here (this executor restarted, or a
	// newer attempt elsewhere fenced it) is an error; aborting then is not.
	// @locality any thread
	rl_err (*s_finish)(void *shared, const char *job, uint32_t partition, int64_t batch_ms,
	    bool commit, char *errbuf, size_t errlen);
} rl_sink_ops;

// rl_sink_exec_find returns the executor half of the sink kind name, or
// NULL. rl_sink_exec_add registers one RL_SINK_LIST does not name (a
// test's); call before any executor starts. @locality not thread-safe
const rl_sink_ops *rl_sink_exec_find(const char *name);
void               rl_sink_exec_add(const rl_sink_ops *ops);

// Every sink kind's shared resource on one executor.
typedef struct rl_sink_shared rl_sink_shared;

rl_sink_shared *rl_sink_shared_create(void);
void            rl_sink_shared_destroy(rl_sink_shared *shared);
// rl_sink_shared_get returns the resource of ops's kind, or NULL if it has
// none. @locality any thread
void *rl_sink_shared_get(rl_sink_shared *shared, const rl_sink_ops *ops);

#endif
