// SPDX-License-Identifier: Apache-2.0
// The job's progress in ZooKeeper: each split's position after the newest
// done batch, in /rill/jobs/<job>/offsets/<split id> (a Kafka partition's id
// is TOPIC/PARTITION), written in multi-ops fenced by the writer's epoch.
#ifndef RL_PROGRESS_H
#define RL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/zk.h"

typedef struct rl_progress rl_progress;

// One split's position: where its next batch starts.
typedef struct rl_progress_pos {
	const char *pp_id; // the split's id
	int64_t     pp_position;
} rl_progress_pos;

// rl_progress_open is job's progress for a writer of epoch epoch (the version
// of /rill/jobs/<job>/epoch: the leader's, or rl_fence_claim's). zk is
// borrowed and must outlive it. Nothing is read or written yet. Errors:
// RL_ERR_INVAL for a job name that is empty, has a '/' or is longer than 255
// bytes, or a negative epoch.
rl_err rl_progress_open(
    rl_zk *zk, const char *job, int32_t epoch, rl_progress **ret, char *errbuf, size_t errlen);

// rl_progress_write writes each position as decimal ASCII to its split's
// node, creating the nodes (and their parents) that do not exist yet, in as
// few multi-ops as ZooKeeper takes, each led by the epoch's check. Every
// multi-op is atomic, not the whole write: after a failure some splits may
// hold the new positions and others the old ones, each one a batch's. Once
// a newer leader bumped the epoch, the write is RL_ERR_STALE_EPOCH ("...has a
// newer leader") and changes nothing. An id that cannot name a node (empty
// parts, "." or "..") is RL_ERR_INVAL and nothing is written; other errors
// are ZooKeeper's. @locality one thread at a time
rl_err rl_progress_write(
    rl_progress *p, const rl_progress_pos *pos, size_t count, char *errbuf, size_t errlen);

// rl_progress_close frees p (nothing in ZooKeeper changes); NULL is a no-op.
void rl_progress_close(rl_progress *p);

#endif
