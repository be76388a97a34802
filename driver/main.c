// SPDX-License-Identifier: Apache-2.0
// rill-driver: the driver daemon. This version runs one job standalone:
// executors started separately register at --listen.
#include <getopt.h>
#include <stdio.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "driver/driver.h"

static void
stop_driver(void *d)
{
	rl_driver_stop(d);
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill-driver --job JOB.yaml --listen tcp://IP:PORT [--executors N]\n"
	    "                   [--checkpoint-dir DIR] [--available-now] [--for DUR]\n"
	    "\n"
	    "Runs one job's batches; executors register with it at --listen\n"
	    "(rill-executor --driver URL). Cluster mode (--zk, --http) is not in this\n"
	    "version.\n"
	    "\n"
	    "  --job FILE        the job file\n"
	    "  --listen URL      where executors register\n"
	    "  --executors N     wait for N executors before the first batch (default 1)\n"
	    "  --checkpoint-dir DIR  checkpoint every batch; restart resumes from it\n"
	    "  --available-now   process what the topics hold now, then exit 0\n"
	    "  --for DUR         stop gracefully after DUR\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "listen", required_argument, NULL, 'l' },
		{ "executors", required_argument, NULL, 'e' },
		{ "available-now", no_argument, NULL, 'a' },
		{ "for", required_argument, NULL, 'f' },
		{ "zk", required_argument, NULL, 'z' },
		{ "checkpoint-dir", required_argument, NULL, 'C' },
		{ "http", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char    *job_path = NULL;
	rl_driver_opts opts = { .min_executors = 1 };
	long           n;
	int            c;
	rl_log_init();
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			job_path = optarg;
			break;
		case 'l':
			opts.listen_url = optarg;
			break;
		case 'e':
			if (!rl_arg_long("rill-driver", "--executors", optarg, 1, 1024, &n))
				return 2;
			opts.min_executors = (int)n;
			break;
		case 'a':
			opts.available_now = true;
			break;
		case 'f':
			if (!rl_arg_duration("rill-driver", "--for", optarg, &opts.run_for_ms))
				return 2;
			break;
		case 'C':
			opts.checkpoint_dir = optarg;
			break;
		case 'z':
		case 'H':
			fprintf(stderr,
			    "rill-driver: cluster mode (--zk, --http) is not available in this "
			    "version\n");
			return 2;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || job_path == NULL || opts.listen_url == NULL) {
		fprintf(stderr, "rill-driver: --job and --listen are required\n");
		usage(stderr);
		return 2;
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
