// SPDX-License-Identifier: Apache-2.0
// The batch log: where a job's runner records each batch as planned,
// prepared and done, and where recovery reads it back. Local mode keeps it in
// the checkpoint directory (driver/checkpoint.h); other stores plug in as
// another ops table (cluster mode: ZooKeeper, fenced by the job's epoch).
#ifndef RL_BATCH_LOG_H
#define RL_BATCH_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"
#include "driver/checkpoint.h"

#define RL_BATCH_LOG_VERSION 1

typedef struct rl_batch_log_ops {
	int         bl_version; // RL_BATCH_LOG_VERSION
	const char *bl_name; // "directory"
	// bl_write stores rec (see rl_checkpoint_write); durable on RL_OK. A
	// store that fences writes refuses a deposed writer's with
	// RL_ERR_STALE_EPOCH.
	rl_err (*bl_write)(void *impl, Rill__BatchRecord *rec, char *errbuf, size_t errlen);
	// bl_latest gives the newest batch's most advanced valid record, or
	// *ret = NULL for an empty log (see rl_checkpoint_latest).
	rl_err (*bl_latest)(void *impl, Rill__BatchRecord **ret, char *errbuf, size_t errlen);
	// bl_where names the log for messages ("/var/rill/wordcount").
	const char *(*bl_where)(const void *impl);
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

static inline const char *
rl_batch_log_where(const rl_batch_log *log)
{
	return log->l_ops->bl_where(log->l_impl);
}

#endif
