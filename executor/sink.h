// SPDX-License-Identifier: Apache-2.0
// Sink writers: the task side of a sink (the driver commits the batch, see
// driver/commit.c). Each kind is a const ops table in executor/sinks/.
#ifndef RL_SINK_H
#define RL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "executor/record.h"

// Producers of the Kafka sink, kept by an executor across batches: one
// transactional producer per output task id (exactly-once), one plain
// producer per broker list (at-least-once).
typedef struct rl_txn_registry rl_txn_registry;

rl_txn_registry *rl_txn_registry_create(void);
void             rl_txn_registry_destroy(rl_txn_registry *reg);

// rl_txn_registry_finish commits (or aborts) the transaction that the sink
// task (job, partition) left prepared for batch_ms. Committing when no such
// transaction is prepared here (this executor restarted, or a newer attempt
// elsewhere fenced it) is an error; aborting then is not.
// @locality any thread
rl_err rl_txn_registry_finish(rl_txn_registry *reg, const char *job, uint32_t partition,
    int64_t batch_ms, bool commit, char *errbuf, size_t errlen);

// What a sink writer knows about the task it writes for.
typedef struct rl_sink_task {
	const rl_job    *t_job;
	int64_t          t_batch_ms;
	uint32_t         t_partition;
	uint32_t         t_attempt;
	rl_arena        *t_arena; // lives as long as the task's result
	rl_txn_registry *t_txns; // the executor's Kafka producers
	const char      *t_marker_topic; // exactly-once Kafka sink: the commit marker's
	int32_t          t_marker_partition; // topic and partition (from the launch)
} rl_sink_task;

// What the driver gets back: a few formatted records (print sink).
typedef struct rl_sink_result {
	const uint8_t **r_samples;
	size_t         *r_sample_lens;
	size_t          r_nsamples;
} rl_sink_result;

#define RL_SINK_OPS_VERSION 1

typedef struct rl_sink_ops {
	int          s_version;
	rl_sink_kind s_kind;
	size_t       s_state_size; // zeroed by the framework
	rl_err (*s_open)(void *state, const rl_sink *sink, const rl_sink_task *task, char *errbuf,
	    size_t errlen);
	rl_err (*s_write)(void *state, const rl_rec *rec);
	// s_commit makes the task's output durable where the driver's batch commit
	// will find it, and fills res.
	rl_err (*s_commit)(void *state, rl_sink_result *res, char *errbuf, size_t errlen);
	// s_abort discards what was written; also called after a failed s_commit.
	void (*s_abort)(void *state);
} rl_sink_ops;

const rl_sink_ops *rl_sink_lookup(rl_sink_kind kind);

extern const rl_sink_ops rl_sink_files;
extern const rl_sink_ops rl_sink_print;
extern const rl_sink_ops rl_sink_kafka;

#endif
