// SPDX-License-Identifier: Apache-2.0
// Connectors: the one list of every source and sink kind, and the split
// range that a source's stage-0 task reads.
#ifndef RL_CONNECTOR_H
#define RL_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/jobfile.h"

// A connector has up to three halves, each in the layer that uses it and
// each found by the connector's name:
//   common/sources/NAME.c    its part of the job grammar
//   driver/sources/NAME.c    the driver half (splits, positions, progress)
//   executor/sources/NAME.c  the executor half (reads a split range)
// and the same under sinks/. These lists name every connector once; each
// layer expands them into its own table of halves (rl_source_NAME_driver,
// rl_source_NAME_exec, ...), so adding a connector is its files plus one
// line here. Tests add connectors of their own at run time (rl_*_add).
#define RL_SOURCE_LIST(X) X(kafka)
#define RL_SINK_LIST(X) X(files) X(print) X(kafka)

// The longest split id, NUL included (Kafka: a 249-byte topic, '/', a partition).
#define RL_SPLIT_ID_MAX 320

// A range of one split: what one stage-0 task reads. Positions are the
// source's own (Kafka: offsets), from inclusive, until exclusive. Borrowed
// from the task launch that carries it.
typedef struct rl_split_range {
	const char    *sr_kind; // the connector's name
	const char    *sr_id; // the split within the source (Kafka: "TOPIC/PARTITION")
	int64_t        sr_from;
	int64_t        sr_until;
	const uint8_t *sr_opaque; // the connector's own bytes about the split, or NULL
	size_t         sr_opaque_len;
	// Warm-ups: how many splits of the job this executor reads (0: unknown).
	uint32_t sr_splits_here;
	// Tasks: where the split ended when the batch was planned (0: not
	// known); sr_end_seen - sr_until records wait beyond the range.
	int64_t sr_end_seen;
	// Warm-ups: a task reads this range next (read-ahead): start it even
	// past the source's prefetch budget, as the read would.
	bool sr_read_next;
} rl_split_range;

// A record as a source delivers it: bytes valid during the callback only.
typedef struct rl_source_record {
	const void *r_key; // NULL when the record has none
	size_t      r_key_len;
	const void *r_value;
	size_t      r_value_len;
	int64_t     r_timestamp_ms; // <= 0: unknown
} rl_source_record;

// Receives each record of a range in order; an error stops the read.
typedef rl_err (*rl_source_record_cb)(void *arg, const rl_source_record *rec);

// The connector names of a job's source and sink, as its file wrote them.
const char *rl_job_source_kind(const rl_job *job);
const char *rl_job_sink_kind(const rl_job *job);

#endif
