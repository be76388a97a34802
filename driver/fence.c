// SPDX-License-Identifier: Apache-2.0
// Fencing by a job's epoch: claiming one, explaining a refused write, and
// fenced writes too long for one multi-op.
#include "driver/fence.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"

char *
rl_fence_path(const char *job)
{
	return rl_strdup_printf("/rill/jobs/%s/epoch", job);
}

rl_err
rl_fence_claim(rl_zk *zk, const char *job, int32_t *ret_epoch, char *errbuf, size_t errlen)
{
	char  *path = rl_fence_path(job), data[64];
	rl_err rv = rl_zk_create(zk, path, NULL, 0, 0, NULL, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_EXISTS)
		goto out_path;
	int        len = snprintf(data, sizeof(data), "by=rill run\npid=%ld\n", (long)getpid());
	rl_zk_stat st;
	if ((rv = rl_zk_set_version(zk, path, data, (size_t)len, -1, &st, errbuf, errlen)) == RL_OK)
		*ret_epoch = st.version;
out_path:
	rl_free(path);
	return rv;
}

rl_err
rl_fence_stale(rl_zk *zk, const char *job, int32_t epoch, rl_err why, const char *where,
    const char *what, char *errbuf, size_t errlen)
{
	char      *path = rl_fence_path(job), ignored[256];
	rl_zk_stat st;
	if (why == RL_ERR_NOENT) {
		rl_errbuf_printf(errbuf, errlen,
		    "%s: %s: %s is gone (the job was removed): this writer of epoch %" PRId32
		    " leads it no longer",
		    where, what, path, epoch);
	} else if (rl_zk_exists(zk, path, NULL, 0, &st, ignored, sizeof(ignored)) == RL_OK) {
		rl_errbuf_printf(errbuf, errlen,
		    "%s: %s: job %s has a newer leader (epoch %" PRId32
		    " is current, this writer's is %" PRId32 ")",
		    where, what, job, st.version, epoch);
	} else {
		rl_errbuf_printf(errbuf, errlen,
		    "%s: %s: job %s has a newer leader (this writer's epoch %" PRId32
		    " is no longer current)",
		    where, what, job, epoch);
	}
	rl_free(path);
	return RL_ERR_STALE_EPOCH;
}

rl_err
rl_fence_multi(rl_zk *zk, const char *job, int32_t epoch, rl_zk_op *ops, size_t count,
    const char *where, const char *what, size_t *ret_applied, size_t *ret_failed, char *errbuf,
    size_t errlen)
{
	char     *path = rl_fence_path(job);
	rl_zk_op  check = rl_zk_op_check(path, epoch);
	size_t    most = count < RL_ZK_MULTI_OPS_MAX ? count : RL_ZK_MULTI_OPS_MAX;
	rl_zk_op *chunk = rl_calloc(most + 1, sizeof(*chunk));
	size_t    start = 0;
	rl_err    rv = RL_OK;
	while (start < count) {
		size_t end = rl_zk_ops_fit(ops, start, count, rl_zk_op_bytes(&check));
		size_t n = end - start, failed = 0;
		chunk[0] = check;
		memcpy(&chunk[1], &ops[start], n * sizeof(*chunk));
		rv = rl_zk_multi(zk, chunk, n + 1, &failed, errbuf, errlen);
		if (rv == RL_OK) {
			memcpy(&ops[start], &chunk[1], n * sizeof(*chunk)); // the results
			start = end;
			continue;
		}
		if (failed == 0 && (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_NOENT))
			rv = rl_fence_stale(zk, job, epoch, rv, where, what, errbuf, errlen);
		else if (ret_failed != NULL)
			*ret_failed = failed >= 1 && failed <= n ? start + failed - 1 : count;
		break;
	}
	if (ret_applied != NULL)
		*ret_applied = start;
	rl_free(chunk);
	rl_free(path);
	return rv;
}
