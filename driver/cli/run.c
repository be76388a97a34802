// SPDX-License-Identifier: Apache-2.0
// `rill run`: a job in local mode, and the local runner `rill demo` shares.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "common/time.h"
#include "driver/cli/cli.h"
#include "driver/driver.h"
#include "driver/local.h"

static void
stop_driver(void *d)
{
	rl_driver_stop(d); // finish the batch in flight, then exit 0
}

int
rl_cli_run_job(const rl_job *job, const rl_run_opts *opts)
{
	char           why[1024];
	rl_driver_opts dopts = {
		.listen_url = "tcp://127.0.0.1:0",
		.available_now = opts->available_now,
		.run_for_ms = opts->run_for_ms,
		.min_executors = opts->executors,
		.checkpoint_dir = opts->checkpoint_dir,
		.zk_connect = opts->zk_connect,
	};
	rl_driver *d;
	rl_err     rv = rl_driver_create(job, &dopts, &d, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return rv == RL_ERR_NOTSUP || rv == RL_ERR_PARSE || rv == RL_ERR_USAGE
		    ? RL_EXIT_USAGE
		    : RL_EXIT_FAILURE;
	}
	// Batch tasks mostly wait (for Kafka, for peers, for the disk): by default
	// there are task slots enough for every partition at once, so each stage
	// runs in one wave (10 ms batches at 100k records/s over 8 partitions:
	// p99 143 ms with 4 slots, 29 ms with 8).
	int cores = opts->cores;
	if (cores == 0) {
		size_t per = (rl_driver_partitions(d) + (size_t)opts->executors - 1)
		    / (size_t)opts->executors;
		cores = per > 2 ? (per < 64 ? (int)per : 64) : 2;
	}
	rl_local *local;
	if ((rv = rl_local_start(
	         rl_driver_url(d), opts->executors, cores, &local, why, sizeof(why)))
	    != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		rl_driver_destroy(d);
		return RL_EXIT_FAILURE;
	}
	rl_stop_signals(stop_driver, d);
	rl_driver_stats stats;
	rv = rl_driver_run(d, &stats, why, sizeof(why));
	rl_stop_signals(NULL, NULL);
	// The driver goes first, so the executors' exit is not reported as a loss.
	rl_driver_destroy(d);
	rl_local_stop(local);
	if (rv != RL_OK) {
		fprintf(stderr, "rill: job %s failed: %s\n", job->j_name, why);
		return RL_EXIT_FAILURE;
	}
	return RL_EXIT_OK;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill run JOB.yaml [--executors N] [--cores N] [--checkpoint-dir DIR]\n"
	    "                [--zk CONNECT] [--available-now] [--for DUR]\n"
	    "\n"
	    "Runs the job with a driver in this process and N executor processes on\n"
	    "loopback, talking over nng TCP as in a cluster.\n"
	    "\n"
	    "  --executors N     executor processes (default 2)\n"
	    "  --cores N         tasks each executor runs at once (default: enough for\n"
	    "                    every partition at once, at least 2)\n"
	    "  --available-now   process what the topics hold now, in rate-limited\n"
	    "                    batches, then exit 0\n"
	    "  --for DUR         stop gracefully after DUR (e.g. 30s, 5m)\n"
	    "  --checkpoint-dir DIR\n"
	    "                    record every batch's ranges before it runs and when it is\n"
	    "                    done; a rerun with the same DIR resumes exactly there\n"
	    "  --zk CONNECT      also write each partition's position after every batch\n"
	    "                    to /rill/jobs/NAME/offsets/TOPIC/PARTITION in ZooKeeper\n"
	    "  --http IP:PORT    not in this version\n"
	    "\n"
	    "SIGINT or SIGTERM finishes the batch in flight, checkpoints and exits 0; a\n"
	    "second one aborts.\n");
}

int
rl_cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "executors", required_argument, NULL, 'e' },
		{ "cores", required_argument, NULL, 'c' },
		{ "available-now", no_argument, NULL, 'a' },
		{ "for", required_argument, NULL, 'f' },
		{ "checkpoint-dir", required_argument, NULL, 'C' },
		{ "http", required_argument, NULL, 'H' },
		{ "zk", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rl_run_opts opts = { .executors = 2 }; // cores 0: enough for every partition
	long        n;
	int         c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!rl_arg_long("rill run", "--executors", optarg, 1, 64, &n))
				return RL_EXIT_USAGE;
			opts.executors = (int)n;
			break;
		case 'c':
			if (!rl_arg_long("rill run", "--cores", optarg, 1, 256, &n))
				return RL_EXIT_USAGE;
			opts.cores = (int)n;
			break;
		case 'a':
			opts.available_now = true;
			break;
		case 'f':
			if (!rl_arg_duration("rill run", "--for", optarg, &opts.run_for_ms))
				return RL_EXIT_USAGE;
			break;
		case 'C':
			opts.checkpoint_dir = optarg;
			break;
		case 'H':
			fprintf(
			    stderr, "rill run: --http is not available in this version of rill\n");
			return RL_EXIT_USAGE;
		case 'z':
			opts.zk_connect = optarg;
			break;
		case 'h':
			usage(stdout);
			return RL_EXIT_OK;
		default:
			usage(stderr);
			return RL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "rill run: %s\n",
		    argc == optind ? "a job file is required" : "only one job file");
		usage(stderr);
		return RL_EXIT_USAGE;
	}
	char    why[1024];
	rl_job *job;
	rl_err  rv = rl_job_load(argv[optind], &job, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return RL_EXIT_USAGE;
	}
	int code = rl_cli_run_job(job, &opts);
	rl_job_destroy(job);
	return code;
}
