// SPDX-License-Identifier: Apache-2.0
// Running one task: input (a range of a source's split, or shuffle blocks)
// -> operators -> output (combined shuffle buckets or the sink).
#ifndef RL_TASK_H
#define RL_TASK_H

#include "common/arena.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "common/plan.h"
#include "executor/shuffle.h"
#include "executor/sink.h"
#include "executor/source.h"
#include "executor/state.h"
#include "rill.pb-c.h"

// Receives a fetched shuffle block of map output map_partition; the bytes
// are valid during the call only.
typedef rl_err (*rl_block_cb)(void *arg, uint32_t map_partition, const uint8_t *data, size_t len);

// The map outputs of one shuffle input that one executor holds.
typedef struct rl_fetch_group {
	const char     *g_url;
	const uint32_t *g_maps;
	size_t          g_nmaps;
} rl_fetch_group;

// How a task gets the blocks of its reduce partition from every group: the
// local group straight from the store, each remote one in one request, all
// remote ones at once. cb runs on the calling thread, once per block.
// RL_ERR_FETCH_FAILED (with *ret_failed_map) when an output cannot be had.
typedef rl_err (*rl_fetch_fn)(void *arg, const rl_fetch_group *groups, size_t ngroups,
    const rl_map_output_id *id, uint32_t reduce_partition, rl_block_cb cb, void *cb_arg,
    uint32_t *ret_failed_map, char *errbuf, size_t errlen);

// What a task borrows from its executor.
typedef struct rl_task_ctx {
	const rl_job             *t_job;
	const rl_plan            *t_plan;
	const rl_source_exec_ops *t_source; // stage 0: the job's source
	void                     *t_source_shared; // and its resource on this executor
	rl_shuffle_store         *t_shuffle; // where map outputs go
	rl_fetch_fn               t_fetch;
	void                     *t_fetch_arg;
	rl_sink_shared           *t_sinks; // the executor's resources of every sink kind
	rl_state_cache           *t_state; // warm state partitions, or NULL: none kept
	const char *t_spill_dir; // where state past the job's budget goes (RocksDB), or NULL
	int         t_source_idle_timeout_ms;
} rl_task_ctx;

// rl_task_run runs the task described by launch and fills res (already
// initialised; strings and arrays are allocated from arena, which must live
// until res is sent). Never fails as a call: failures are res->status.
// @locality a server worker thread; tasks run concurrently.
void rl_task_run(
    const rl_task_ctx *ctx, const Rill__TaskLaunch *launch, rl_arena *arena, Rill__TaskResult *res);

#endif
