// SPDX-License-Identifier: Apache-2.0
// Names and places the driver and the executors must agree on: the files
// sink's batch directories, state snapshots, the Kafka sink's transactional ids.
#ifndef RL_LAYOUT_H
#define RL_LAYOUT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

// The batch's directory while its tasks write into it.
static inline void
rl_files_batch_tmp_dir(const char *path, int64_t batch_ms, char *buf, size_t len)
{
	snprintf(buf, len, "%s/.batch-%" PRId64 ".tmp", path, batch_ms);
}

// The batch's directory once committed: SPEC.md's P/batch-T.
static inline void
rl_files_batch_dir(const char *path, int64_t batch_ms, char *buf, size_t len)
{
	snprintf(buf, len, "%s/batch-%" PRId64, path, batch_ms);
}

// rl_state_snapshot_path writes where the state of one partition of a
// stateful stage is kept after batch_ms: STATE_DIR/STAGE/PARTITION/T.snap.
static inline void
rl_state_snapshot_path(const char *state_dir, uint32_t stage, uint32_t partition, int64_t batch_ms,
    char *buf, size_t len)
{
	snprintf(buf, len, "%s/%" PRIu32 "/%" PRIu32 "/%" PRId64 ".snap", state_dir, stage,
	    partition, batch_ms);
}

// rl_kafka_sink_txn_id writes the transactional id of a Kafka sink task, which
// is also the consumer group of its commit marker. Derived from the job and
// the task's partition only, so that a restarted task fences its zombie.
static inline void
rl_kafka_sink_txn_id(const char *job, uint32_t partition, char *buf, size_t len)
{
	snprintf(buf, len, "rill-%s-sink-%" PRIu32, job, partition);
}

#endif
