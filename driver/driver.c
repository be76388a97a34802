// SPDX-License-Identifier: Apache-2.0
// The host of one job: an executor pool listening for registrations, and
// the job's runner on it.
#include "driver/driver.h"

#include "common/alloc.h"
#include "driver/executors.h"
#include "driver/runner.h"

#define HEARTBEAT_TIMEOUT_MS 10000

struct rl_driver {
	rl_pool   *d_pool;
	rl_runner *d_runner;
};

rl_err
rl_driver_create(
    const rl_job *job, const rl_driver_opts *opts, rl_driver **ret, char *errbuf, size_t errlen)
{
	rl_driver     *d = RL_NEW(rl_driver);
	rl_runner_opts ropts = {
		.available_now = opts->available_now,
		.run_for_ms = opts->run_for_ms,
		.min_executors = opts->min_executors,
		.epoch = opts->epoch,
		.print_out = opts->print_out,
		.checkpoint_dir = opts->checkpoint_dir,
		.checkpoint_keep = opts->checkpoint_keep,
		.zk_connect = opts->zk_connect,
		.artifact_sha256 = opts->artifact != NULL ? opts->artifact_sha256 : NULL,
	};
	rl_err rv;
	if ((rv = rl_pool_create(
	         opts->listen_url, HEARTBEAT_TIMEOUT_MS, &d->d_pool, errbuf, errlen))
	    != RL_OK)
		goto err_driver;
	if (opts->artifact != NULL)
		rl_pool_add_artifact(
		    d->d_pool, opts->artifact_sha256, opts->artifact, opts->artifact_len);
	if ((rv = rl_runner_create(job, d->d_pool, &ropts, &d->d_runner, errbuf, errlen)) != RL_OK)
		goto err_driver;
	*ret = d;
	return RL_OK;
err_driver:
	rl_driver_destroy(d);
	return rv;
}

const char *
rl_driver_url(const rl_driver *d)
{
	return rl_pool_url(d->d_pool);
}

size_t
rl_driver_partitions(rl_driver *d)
{
	return rl_runner_splits(d->d_runner);
}

rl_err
rl_driver_run(rl_driver *d, rl_driver_stats *stats, char *errbuf, size_t errlen)
{
	rl_runner_stats rs;
	rl_err          rv = rl_runner_run(d->d_runner, &rs, errbuf, errlen);
	*stats = (rl_driver_stats) {
		.batches = rs.batches,
		.records = rs.records,
		.elapsed_ms = rs.elapsed_ms,
	};
	return rv;
}

void
rl_driver_stop(rl_driver *d)
{
	rl_runner_stop(d->d_runner);
}

void
rl_driver_destroy(rl_driver *d)
{
	if (d == NULL)
		return;
	rl_runner_destroy(d->d_runner);
	rl_pool_destroy(d->d_pool);
	rl_free(d);
}
