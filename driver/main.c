// SPDX-License-Identifier: Apache-2.0
// rill-driver: the driver daemon. This version runs one job standalone:
// executors started separately register at --listen.
#include <stdio.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "driver/driver.h"

static void
stop_driver(void *d)
{
	rl_driver_stop(d);
}

#define CLUSTER_MODE_REFUSED "cluster mode (--zk, --http) is not available in this version"

int
main(int argc, char **argv)
{
	const char    *job_path = NULL;
	rl_driver_opts opts = { .min_executors = 1 };
	const rl_opt   optv[] = {
		  RL_OPT_STRING("job", &job_path, "FILE", "the job file"),
		  RL_OPT_STRING("listen", &opts.listen_url, "URL", "where executors register"),
		  RL_OPT_INT("executors", &opts.min_executors, "N", 1, 1024,
		      "wait for N executors before the first batch (default 1)"),
		  RL_OPT_STRING("checkpoint-dir", &opts.checkpoint_dir, "DIR",
		      "checkpoint every batch; restart resumes from it"),
		  RL_OPT_FLAG("available-now", &opts.available_now,
		      "process what the topics hold now, then exit 0"),
		  RL_OPT_DURATION("for", &opts.run_for_ms, "DUR", "stop gracefully after DUR"),
		  RL_OPT_REFUSED("zk", "CONNECT", NULL, CLUSTER_MODE_REFUSED),
		  RL_OPT_REFUSED("http", "IP:PORT", NULL, CLUSTER_MODE_REFUSED),
		  RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill-driver",
		.synopsis = "--job JOB.yaml --listen tcp://IP:PORT [--executors N] "
		            "[--checkpoint-dir DIR] [--available-now] [--for DUR]",
		.about
		= "Runs one job's batches; executors register with it at --listen\n"
		  "(rill-executor --driver URL). Cluster mode (--zk, --http) is not in this\n"
		  "version.\n",
		.opts = optv,
	};
	int first;
	rl_log_init();
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	if (job_path == NULL || opts.listen_url == NULL) {
		rl_cmdline_error(&cl, "--job and --listen are required");
		return RL_EXIT_USAGE;
	}
	char    why[1024];
	rl_job *job;
	if (rl_job_load(job_path, &job, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-driver: %s\n", why);
		return 2;
	}
	rl_driver *d;
	rl_err     rv = rl_driver_create(job, &opts, &d, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, "rill-driver: %s\n", why);
		rl_job_destroy(job);
		return rv == RL_ERR_NOTSUP || rv == RL_ERR_PARSE || rv == RL_ERR_USAGE ? 2 : 1;
	}
	rl_info(
	    "driver", "listening for executors", "url=%s job=%s", rl_driver_url(d), job->j_name);
	rl_stop_signals(stop_driver, d);
	rl_driver_stats stats;
	rv = rl_driver_run(d, &stats, why, sizeof(why));
	rl_stop_signals(NULL, NULL);
	if (rv != RL_OK)
		fprintf(stderr, "rill-driver: job %s failed: %s\n", job->j_name, why);
	rl_driver_destroy(d);
	rl_job_destroy(job);
	return rv == RL_OK ? 0 : 1;
}
