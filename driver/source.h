// SPDX-License-Identifier: Apache-2.0
// The driver half of a source connector: which splits exist, where each one
// starts and ends now, and the progress committed outside the checkpoint.
#ifndef RL_DRIVER_SOURCE_H
#define RL_DRIVER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/connector.h"
#include "common/error.h"
#include "common/jobfile.h"

#define RL_SOURCE_DRIVER_VERSION 1

// One split as discovered: its id and the connector's opaque bytes (which
// every launch that reads it carries). Both owned by the caller of discover
// once returned; rl_split_desc_free frees an array of them.
typedef struct rl_split_desc {
	char    *sd_id;
	uint8_t *sd_opaque; // or NULL
	size_t   sd_opaque_len;
} rl_split_desc;

void rl_split_desc_free(rl_split_desc *descs, size_t n);

// What the batch loop needs to know of the source's settings.
typedef struct rl_source_limits {
	int64_t     l_max_rate_per_split; // records/s per split, 0 = unlimited
	bool        l_backpressure; // the PID estimator sets the rate
	int64_t     l_initial_rate; // records/s over all splits before its first estimate
	bool        l_fail_on_data_loss; // else ranges skip what the source deleted
	const char *l_data_loss_hint; // how the user turns fail_on_data_loss off
} rl_source_limits;

typedef enum rl_source_position {
	RL_POSITION_EARLIEST, // the oldest position the source still holds
	RL_POSITION_LATEST, // one past the newest record
} rl_source_position;

// The ops of one source kind. The framework allocates s_state_size zeroed
// bytes per job and passes them to every call; calls come from the job's
// batch loop only (one thread). ids[] are split ids from sd_discover.
typedef struct rl_source_driver_ops {
	int         sd_version; // RL_SOURCE_DRIVER_VERSION
	const char *sd_name; // the connector's name, as in the job file
	size_t      sd_state_size;
	// sd_open connects to the source of job (borrowed; outlives the state)
	// and fills *limits. An unreachable source or unknown input is an error
	// naming it.
	rl_err (*sd_open)(
	    void *state, const rl_job *job, rl_source_limits *limits, char *errbuf, size_t errlen);
	void (*sd_close)(void *state); // also after a failed sd_open
	// sd_discover lists every split the source has now, in a stable order;
	// *ret (rl_malloc'ed) is the caller's. No split at all is an error.
	rl_err (*sd_discover)(
	    void *state, rl_split_desc **ret, size_t *ret_count, char *errbuf, size_t errlen);
	// sd_positions writes the earliest or latest position of each split.
	rl_err (*sd_positions)(void *state, const char *const *ids, size_t n,
	    rl_source_position which, int64_t *ret, char *errbuf, size_t errlen);
	// sd_start writes where each split starts when there is no checkpoint
	// (the job's starting policy; earliest[] is given).
	rl_err (*sd_start)(void *state, const char *const *ids, size_t n, const int64_t *earliest,
	    int64_t *ret, char *errbuf, size_t errlen);
	// sd_commit records progress outside the checkpoint, e.g. where the
	// source's own tools see it: the n splits given are those that moved
	// since the last commit (every split, the first time); others keep what
	// was recorded for them. May be NULL.
	rl_err (*sd_commit)(void *state, const char *const *ids, const int64_t *next, size_t n,
	    char *errbuf, size_t errlen);
	// sd_describe writes a split as logfmt pairs for log lines (Kafka:
	// "topic=T partition=N"); may be NULL ("split=ID").
	void (*sd_describe)(void *state, const char *id, char *buf, size_t len);
} rl_source_driver_ops;

// rl_source_driver_find returns the driver half of the source kind name, or
// NULL. rl_source_driver_add registers one that RL_SOURCE_LIST does not name
// (a test's); call before any job starts. @locality not thread-safe
const rl_source_driver_ops *rl_source_driver_find(const char *name);
void                        rl_source_driver_add(const rl_source_driver_ops *ops);

#endif
