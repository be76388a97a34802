// SPDX-License-Identifier: Apache-2.0
// The batch log: where a job's runner records each batch as planned,
// prepared and done, and where recovery reads it back. Local mode keeps it in
// the checkpoint directory (driver/checkpoint.h); cluster mode in ZooKeeper,
// fenced by the job's epoch (driver/batch_log_zk.c). Both hold the same bytes.
#ifndef RL_BATCH_LOG_H
#define RL_BATCH_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"
#include "common/zk.h"
#include "driver/checkpoint.h"

#define RL_BATCH_LOG_VERSION 2

typedef struct rl_batch_log_ops {
	int         bl_version; // RL_BATCH_LOG_VERSION
	const char *bl_name; // "directory", "zookeeper"
	// bl_write stores rec (see rl_checkpoint_write); durable on RL_OK. A
	// store that fences writes refuses a deposed writer's with
	// RL_ERR_STALE_EPOCH.
	rl_err (*bl_write)(void *impl, Rill__BatchRecord *rec, char *errbuf, size_t errlen);
	// bl_latest gives the newest batch's most advanced valid record, whole
	// (a sparse record completed from its base), or *ret = NULL for an empty
	// log (see rl_checkpoint_latest).
	rl_err (*bl_latest)(void *impl, Rill__BatchRecord **ret, char *errbuf, size_t errlen);
	// bl_where names the log for messages ("/var/rill/wordcount").
	const char *(*bl_where)(const void *impl);
	// bl_keep is how many done batches the log keeps (its prune's keep):
	// a sparse record's base must stay among them (driver/runner.c).
	int (*bl_keep)(const void *impl);
	void (*bl_close)(void *impl);
} rl_batch_log_ops;

// A log is its ops and their object; the runner that opened it owns it.
typedef struct rl_batch_log {
	const rl_batch_log_ops *l_ops;
	void                   *l_impl;
} rl_batch_log;

// rl_batch_log_open_dir opens the checkpoint directory dir as a log (see
// rl_checkpoint_open for keep, warn and the errors).
rl_err rl_batch_log_open_dir(const char *dir, int keep, rl_checkpoint_warn_fn warn, void *warn_arg,
    rl_batch_log **ret, char *errbuf, size_t errlen);
// The largest record the ZooKeeper log stores: ZooKeeper refuses a request
// above its jute.maxbuffer (0xfffff bytes by default), and the multi-op that
// writes a record needs room for its epoch check and framing.
#define RL_BATCH_LOG_ZK_RECORD_MAX (1024 * 1024 - 4096)

// rl_batch_log_open_zk opens job's log in ZooKeeper, /rill/jobs/<job>/log,
// for a writer whose epoch is epoch (the version of /rill/jobs/<job>/epoch,
// see rl_election_fence), creating the log's node. Records are nodes
// "<T>.<phase>" holding the bytes of a checkpoint file. Every write is one
// multi-op that checks the epoch node's version is still epoch: once a newer
// leader bumped it, a write (and this open) is RL_ERR_STALE_EPOCH, "…has a
// newer leader", and writes nothing. A done record's multi-op also deletes
// what pruning removes, checking that the kept done records it counted are
// unchanged (keep and warn as for rl_checkpoint_open, and the same kept set;
// a corrupt node is skipped with a warning naming it). A prune too long for
// one multi-op goes on in more, each fenced. A record above
// RL_BATCH_LOG_ZK_RECORD_MAX is RL_ERR_INVAL. zk is borrowed and must
// outlive the log. Errors: RL_ERR_INVAL for a job name that is empty, has a
// '/' or is longer than 255 bytes, or keep < 1; ZooKeeper's errors.
rl_err rl_batch_log_open_zk(rl_zk *zk, const char *job, int32_t epoch, int keep,
    rl_checkpoint_warn_fn warn, void *warn_arg, rl_batch_log **ret, char *errbuf, size_t errlen);
// rl_batch_log_zk_read reads job's log in ZooKeeper without writing it: up
// to max batches, newest first, each batch's most advanced valid record among
// the phases in mask (bit 1 << RILL__BATCH_RECORD__PHASE__*), whole (see
// bl_latest). Batches without one are passed over, and so are nodes that are
// not valid records (silently: the log's writer warns about them). *ret (an array of *ret_count
// records; free each with rill__batch_record__free_unpacked, then the array with rl_free) is
// written only on RL_OK. No log is an empty one. job is not checked (the caller's rules for job
// names apply); errors are ZooKeeper's.
rl_err rl_batch_log_zk_read(rl_zk *zk, const char *job, unsigned mask, size_t max,
    Rill__BatchRecord ***ret, size_t *ret_count, char *errbuf, size_t errlen);
// rl_batch_log_close closes log; NULL is a no-op.
void rl_batch_log_close(rl_batch_log *log);

static inline rl_err
rl_batch_log_write(rl_batch_log *log, Rill__BatchRecord *rec, char *errbuf, size_t errlen)
{
	return log->l_ops->bl_write(log->l_impl, rec, errbuf, errlen);
}

static inline rl_err
rl_batch_log_latest(rl_batch_log *log, Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	return log->l_ops->bl_latest(log->l_impl, ret, errbuf, errlen);
}

static inline int
rl_batch_log_keep(const rl_batch_log *log)
{
	return log->l_ops->bl_keep(log->l_impl);
}

static inline const char *
rl_batch_log_where(const rl_batch_log *log)
{
	return log->l_ops->bl_where(log->l_impl);
}

#endif
