// SPDX-License-Identifier: Apache-2.0
// Fencing by a job's epoch, the version of /rill/jobs/<job>/epoch that each
// new leader bumps: a leader's writes to ZooKeeper are multi-ops that check
// it first, so a deposed leader's are refused at the store
// (docs/architecture.md, "Fencing at every door a leader uses").
#ifndef RL_FENCE_H
#define RL_FENCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/zk.h"

// rl_fence_path is job's epoch node, "/rill/jobs/<job>/epoch" (free with
// rl_free).
char *rl_fence_path(const char *job);

// rl_fence_claim makes the caller job's newest writer without an election
// (`rill run --zk`): it creates the epoch node if missing and bumps its
// version, which *ret_epoch gets. Every writer fenced by an older epoch (a
// cluster leader of a job of the same name, an earlier run) is refused from
// then on. Errors are ZooKeeper's. @locality any thread
rl_err rl_fence_claim(rl_zk *zk, const char *job, int32_t *ret_epoch, char *errbuf, size_t errlen);

// rl_fence_stale explains a write refused by its epoch check and returns
// RL_ERR_STALE_EPOCH: "WHERE: WHAT: job JOB has a newer leader (epoch N is
// current, this writer's is EPOCH)", the current epoch read again to name
// it; why is the check's error, RL_ERR_NOENT when the epoch node is gone
// (the job was removed). @locality any thread
rl_err rl_fence_stale(rl_zk *zk, const char *job, int32_t epoch, rl_err why, const char *where,
    const char *what, char *errbuf, size_t errlen);

// rl_fence_multi applies ops[0..count) in order, in as few multi-ops as
// ZooKeeper takes (rl_zk_ops_fit), each led by the check that job's epoch
// node is at version epoch. Each multi-op is atomic; the ones before a
// failing one stay applied, and *ret_applied (may be NULL) counts their
// operations. A failed epoch check is rl_fence_stale's RL_ERR_STALE_EPOCH
// (where and what name the write). Any other failure is the failing
// operation's error, with *ret_failed (may be NULL) its index in ops (count
// when none is named, as after a connection loss). The applied ops hold
// their results: free them with rl_zk_ops_fini(ops, count) whatever the
// outcome. @locality any thread
rl_err rl_fence_multi(rl_zk *zk, const char *job, int32_t epoch, rl_zk_op *ops, size_t count,
    const char *where, const char *what, size_t *ret_applied, size_t *ret_failed, char *errbuf,
    size_t errlen);

#endif
