// SPDX-License-Identifier: Apache-2.0
// One job's batch loop: the batch clock, split ranges, stages, task
// scheduling, the sink's commit and recovery from the checkpoint. A host
// (driver/driver.c for local mode and a standalone driver) owns the
// executor pool and drives the loop's lifecycle: create, start (or run on
// its own thread), stop, join, destroy.
#ifndef RL_RUNNER_H
#define RL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "common/zk.h"
#include "driver/executors.h"

typedef struct rl_runner rl_runner;

// The steps of one batch, as rl_runner_batch times them.
typedef enum rl_batch_phase {
	RL_PHASE_REFRESH, // the splits' latest positions, from the source
	RL_PHASE_PLAN, // shuffle width, ranges and stage-0 tasks
	RL_PHASE_RECORD_PLANNED, // the planned record in the batch log
	RL_PHASE_STAGES, // every stage's tasks planned, placed, launched and answered
	RL_PHASE_COMMIT, // the sink's commit (two-phase: with its prepared record)
	RL_PHASE_RECORD_DONE, // the done record
	RL_PHASE_ADVANCE, // positions, state pruning, progress outside the log
	RL_PHASE_COUNT,
} rl_batch_phase;

// What one batch that ran did and how long each step took, for a host that
// watches the loop (opts.on_batch).
typedef struct rl_runner_batch {
	int64_t  rb_batch_ms;
	uint64_t rb_records;
	size_t   rb_splits; // input splits when the batch was planned
	size_t   rb_ranges; // non-empty ranges among them
	size_t   rb_map_tasks; // stage-0 tasks (a task may read several small ranges)
	size_t   rb_tasks; // tasks of every stage
	uint32_t rb_shuffle_partitions; // the batch's shuffle width
	int64_t  rb_us[RL_PHASE_COUNT]; // monotonic microseconds per step
} rl_runner_batch;

typedef struct rl_runner_opts {
	bool        available_now; // process what is there at start, then return
	int64_t     run_for_ms; // stop gracefully after this long; 0 = no limit
	int         min_executors; // wait for this many before the first batch
	uint64_t    epoch; // stamped on every task (fencing)
	FILE       *print_out; // the print sink's output (default stdout)
	const char *checkpoint_dir; // NULL: no checkpoint, no recovery
	int         checkpoint_keep; // done batches kept (default 100)
	// The batch log to use instead of checkpoint_dir's (e.g. the job's log in
	// ZooKeeper, rl_batch_log_open_zk); borrowed: it must outlive the runner.
	// A stateful job still needs checkpoint_dir or state_dir for its state
	// snapshots.
	struct rl_batch_log *batch_log;
	// Where a stateful job's state snapshots go instead of CHECKPOINT/state
	// (created if missing); executors write there too, so in a cluster it is
	// a path every host shares. NULL: checkpoint_dir's.
	const char *state_dir;
	// Progress goes to ZooKeeper too (driver/progress.h), every write fenced
	// by an epoch, when one of these is set. zk_connect: a session of the
	// runner's own, which claims the job's epoch (rl_fence_claim: `rill run
	// --zk`). zk: a cluster host's session (borrowed; it must outlive the
	// runner), fenced by `epoch`, the job's epoch node's version. A write
	// refused for a newer epoch ends the run with RL_ERR_STALE_EPOCH (the
	// batch is done; its progress is not written); other failures to write
	// progress are warnings.
	const char *zk_connect;
	rl_zk      *zk;
	// in_charge, when set, is asked before every durable step (a record, a
	// sink commit, progress): false means this host no longer leads the job
	// (its lease is gone), and the run stops there at once, leaving the
	// batch for the next leader, and returns RL_ERR_STALE_EPOCH.
	// @locality the runner's thread
	bool (*in_charge)(void *arg);
	void *in_charge_arg;
	// on_batch, when set, is told about every batch that ran, once it is
	// done. @locality the runner's thread
	void (*on_batch)(void *arg, const rl_runner_batch *batch);
	void *on_batch_arg;
	// The sha256 (lowercase hex) of the job's artifact, its user functions
	// (include/rill.h), which the host serves from the pool
	// (rl_pool_add_artifact) for the executors to fetch; NULL: none, and a
	// job naming a {udf: NAME} is refused.
	const char *artifact_sha256;
} rl_runner_opts;

// Totals of a run, for the host's summary.
typedef struct rl_runner_stats {
	uint64_t batches;
	uint64_t records;
	int64_t  elapsed_ms;
	uint64_t late_records; // an event-time window's late records, dropped
} rl_runner_stats;

// rl_runner_create opens the job's source and sink (their driver halves)
// and the checkpoint directory (if any and no opts->batch_log is given). job
// and pool are borrowed and must outlive the runner; the pool's executors run
// its tasks.
rl_err rl_runner_create(const rl_job *job, rl_pool *pool, const rl_runner_opts *opts,
    rl_runner **ret, char *errbuf, size_t errlen);
// rl_runner_splits is how many input splits the job reads now.
size_t rl_runner_splits(rl_runner *r);
// rl_runner_run recovers from the checkpoint (a batch that was planned but
// not done runs again with the same ranges and batch time), then runs
// batches until stopped, the --for time is up, or (with available_now)
// everything present at start is processed. A batch that fails for good ends
// the run with its error in errbuf; a checkpoint that does not fit the job
// (another job, a changed stateful step) is RL_ERR_INVAL saying what to do.
// @locality the caller's thread, which it holds until the run ends
rl_err rl_runner_run(rl_runner *r, rl_runner_stats *stats, char *errbuf, size_t errlen);
// rl_runner_start runs rl_runner_run on a thread of the runner's own;
// rl_runner_join waits for it to end and gives its result.
rl_err rl_runner_start(rl_runner *r, char *errbuf, size_t errlen);
rl_err rl_runner_join(rl_runner *r, rl_runner_stats *stats, char *errbuf, size_t errlen);
// rl_runner_stop lets the batch in flight finish, then the run returns.
// @locality async-signal-safe
void rl_runner_stop(rl_runner *r);
// rl_runner_destroy stops and joins a started runner first; NULL is a no-op.
void rl_runner_destroy(rl_runner *r);

#endif
