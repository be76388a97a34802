// SPDX-License-Identifier: Apache-2.0
// The batch log in a checkpoint directory, and closing any log.
#include "driver/batch_log.h"

#include "common/alloc.h"

static rl_err
dir_write(void *impl, Rill__BatchRecord *rec, char *errbuf, size_t errlen)
{
	return rl_checkpoint_write(impl, rec, errbuf, errlen);
}

static rl_err
dir_latest(void *impl, Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	return rl_checkpoint_latest(impl, ret, errbuf, errlen);
}

static const char *
dir_where(const void *impl)
{
	return rl_checkpoint_dir(impl);
}

static int
dir_keep(const void *impl)
{
	return rl_checkpoint_keep(impl);
}

static void
dir_close(void *impl)
{
	rl_checkpoint_close(impl);
}

static const rl_batch_log_ops dir_ops = {
	.bl_version = RL_BATCH_LOG_VERSION,
	.bl_name = "directory",
	.bl_write = dir_write,
	.bl_latest = dir_latest,
	.bl_where = dir_where,
	.bl_keep = dir_keep,
	.bl_close = dir_close,
};

rl_err
rl_batch_log_open_dir(const char *dir, int keep, rl_checkpoint_warn_fn warn, void *warn_arg,
    rl_batch_log **ret, char *errbuf, size_t errlen)
{
	rl_checkpoint *ckp;
	rl_err         rv = rl_checkpoint_open(dir, keep, warn, warn_arg, &ckp, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rl_batch_log *log = RL_NEW(rl_batch_log);
	log->l_ops = &dir_ops;
	log->l_impl = ckp;
	*ret = log;
	return RL_OK;
}

void
rl_batch_log_close(rl_batch_log *log)
{
	if (log == NULL)
		return;
	log->l_ops->bl_close(log->l_impl);
	rl_free(log);
}
