// SPDX-License-Identifier: Apache-2.0
// The host of one job, for local mode and a standalone rill-driver: an
// executor pool listening for registrations and the job's runner
// (driver/runner.h) on it.
#ifndef RL_DRIVER_H
#define RL_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/jobfile.h"

typedef struct rl_driver rl_driver;

typedef struct rl_driver_opts {
	const char *listen_url; // where executors register (port 0: any free port)
	bool        available_now; // process what is there at start, then return
	int64_t     run_for_ms; // stop gracefully after this long; 0 = no limit
	int         min_executors; // wait for this many before the first batch
	uint64_t    epoch; // stamped on every task (fencing)
	FILE       *print_out; // the print sink's output (default stdout)
	const char *checkpoint_dir; // NULL: no checkpoint, no recovery
	int         checkpoint_keep; // done batches kept (default 100)
	const char *zk_connect; // write progress to ZooKeeper too, or NULL
	// The job's artifact (its user functions, include/rill.h): its bytes
	// (copied; the executors fetch them from the driver) and their sha256,
	// which the caller computed; NULL: none.
	const void *artifact;
	size_t      artifact_len;
	const char *artifact_sha256;
} rl_driver_opts;

// Totals of a run, for the caller's summary.
typedef struct rl_driver_stats {
	uint64_t batches;
	uint64_t records;
	int64_t  elapsed_ms;
} rl_driver_stats;

// rl_driver_create connects to the job's Kafka source, opens the checkpoint
// directory (if any) and starts listening for executors. The job is borrowed
// and must outlive the driver.
rl_err rl_driver_create(
    const rl_job *job, const rl_driver_opts *opts, rl_driver **ret, char *errbuf, size_t errlen);
const char *rl_driver_url(const rl_driver *d);
// rl_driver_partitions is how many input partitions the job reads now.
size_t rl_driver_partitions(rl_driver *d);
// rl_driver_run recovers from the checkpoint (a batch that was planned but
// not done runs again with the same ranges and batch time), then runs
// batches until stopped, the --for time is up, or (with available_now)
// everything present at start is processed. A batch that fails for good ends
// the run with its error in errbuf; a checkpoint that does not fit the job
// (another job, a changed stateful step) is RL_ERR_INVAL saying what to do.
rl_err rl_driver_run(rl_driver *d, rl_driver_stats *stats, char *errbuf, size_t errlen);
// rl_driver_stop lets the batch in flight finish, then run returns.
// @locality async-signal-safe
void rl_driver_stop(rl_driver *d);
void rl_driver_destroy(rl_driver *d);

#endif
