// SPDX-License-Identifier: Apache-2.0
// The executor half of a source connector: reading a range of one split.
#ifndef RL_EXECUTOR_SOURCE_H
#define RL_EXECUTOR_SOURCE_H

#include <stddef.h>

#include "common/connector.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "rill.pb-c.h"

#define RL_SOURCE_EXEC_VERSION 1

// The ops of one source kind. Each executor keeps one shared resource per
// job it runs (se_job_open, on the job's first stage-0 task; Kafka: a reader
// whose per-partition consumers stay warm between batches), used by many
// task threads at once. Each read of a range gets se_read_size zeroed bytes
// of its own. Ranges of one split are never read concurrently.
typedef struct rl_source_exec_ops {
	int         se_version; // RL_SOURCE_EXEC_VERSION
	const char *se_name; // the connector's name, as in the job file
	size_t      se_read_size;
	// se_job_open makes the job's shared resource (job is borrowed and
	// outlives it). @locality any thread, one call per job at a time
	rl_err (*se_job_open)(const rl_job *job, void **ret_shared, char *errbuf, size_t errlen);
	void (*se_job_close)(void *shared);
	// se_warm starts fetching the split at range->sr_from so that its data
	// is there before a batch asks (optional); range->sr_until is where the
	// split ended when the driver looked (== sr_from: nothing waiting, or
	// not known) and sr_splits_here how many splits this executor reads:
	// hints for how much to prefetch. @locality any thread
	rl_err (*se_warm)(void *shared, const rl_split_range *range, char *errbuf, size_t errlen);
	// se_open readies a read of range (borrowed until se_close); an id the
	// connector cannot read is RL_ERR_PROTO naming it. @locality any thread
	rl_err (*se_open)(
	    void *read, void *shared, const rl_split_range *range, char *errbuf, size_t errlen);
	// se_read calls cb for every record of the range, in order, and returns
	// when the range is done: RL_ERR_DATA_LOSS when its start is gone,
	// RL_ERR_TIMEDOUT after idle_timeout_ms without progress, or cb's error.
	// errbuf starts empty; a cb that fails writes its reason there.
	rl_err (*se_read)(void *read, int idle_timeout_ms, rl_source_record_cb cb, void *arg,
	    char *errbuf, size_t errlen);
	void (*se_close)(void *read); // after se_open, whatever se_read returned
} rl_source_exec_ops;

// rl_source_range is the range a launch's split says (borrowing its bytes):
// its split, positions, opaque bytes and the split's end when planned.
rl_split_range rl_source_range(const Rill__Split *sp);

// rl_source_exec_find returns the executor half of the source kind name, or
// NULL. rl_source_exec_add registers one RL_SOURCE_LIST does not name (a
// test's); call before any executor starts. @locality not thread-safe
const rl_source_exec_ops *rl_source_exec_find(const char *name);
void                      rl_source_exec_add(const rl_source_exec_ops *ops);

#endif
