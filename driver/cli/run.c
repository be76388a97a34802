// SPDX-License-Identifier: Apache-2.0
// `rill run`: a job in local mode, and the local runner `rill demo` shares.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cmdline.h"
#include "common/log.h"
#include "common/time.h"
#include "common/udf.h"
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
	char   why[1024];
	void  *artifact = NULL;
	size_t artifact_len = 0;
	char   sha[RL_SHA256_HEX_LEN] = "";
	// A job's user functions are checked before anything starts: a name
	// the library lacks, a kind that does not fit or an unknown ABI is the
	// job's or the artifact's fault, as a bad job file is.
	if (rl_udf_artifact_for(
	        job, opts->artifact, &artifact, &artifact_len, sha, why, sizeof(why))
	    != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return RL_EXIT_USAGE;
	}
	if (artifact != NULL)
		rl_info("driver", "artifact", "path=%s sha256=%s bytes=%zu", opts->artifact, sha,
		    artifact_len);
	rl_driver_opts dopts = {
		.listen_url = "tcp://127.0.0.1:0",
		.available_now = opts->available_now,
		.run_for_ms = opts->run_for_ms,
		.min_executors = opts->executors,
		.checkpoint_dir = opts->checkpoint_dir,
		.zk_connect = opts->zk_connect,
		.artifact = artifact,
		.artifact_len = artifact_len,
		.artifact_sha256 = sha,
	};
	rl_driver *d;
	rl_err     rv = rl_driver_create(job, &dopts, &d, why, sizeof(why));
	rl_free(artifact); // the driver's pool keeps its own copy
	if (rv != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return rv == RL_ERR_NOTSUP || rv == RL_ERR_PARSE || rv == RL_ERR_USAGE
		    ? RL_EXIT_USAGE
		    : RL_EXIT_FAILURE;
	}
	// Batch tasks mostly wait (for Kafka, for peers, for the disk): by default
	// there are task slots enough for every partition at once, so each stage
	// runs in one wave (10 ms batches at 100k records/s over 8 partitions:
	// p99 143 ms with 4 slots, 29 ms with 8), up to 16 a process: each slot
	// is a thread, and hundreds of partitions made hundreds of them.
	int cores = opts->cores;
	if (cores == 0) {
		size_t per = (rl_driver_partitions(d) + (size_t)opts->executors - 1)
		    / (size_t)opts->executors;
		cores = per > 2 ? (per < 16 ? (int)per : 16) : 2;
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

int
rl_cmd_run(const rl_cli_command *cmd, int argc, char **argv)
{
	rl_run_opts  opts = { .executors = 2 }; // cores 0: enough for every partition
	const char  *secret_file = NULL;
	const rl_opt optv[] = {
		RL_OPT_INT(
		    "executors", &opts.executors, "N", 1, 64, "executor processes (default 2)"),
		RL_OPT_INT("cores", &opts.cores, "N", 1, 256,
		    "tasks each executor runs at once (default: enough for every partition at "
		    "once, at least 2)"),
		RL_OPT_FLAG("available-now", &opts.available_now,
		    "process what the topics hold now, in rate-limited batches, then exit 0"),
		RL_OPT_DURATION(
		    "for", &opts.run_for_ms, "DUR", "stop gracefully after DUR (e.g. 30s, 5m)"),
		RL_OPT_STRING("checkpoint-dir", &opts.checkpoint_dir, "DIR",
		    "record every batch's ranges before it runs and when it is done; a rerun "
		    "with the same DIR resumes exactly there"),
		RL_OPT_STRING("zk", &opts.zk_connect, "CONNECT",
		    "also write each partition's position after every batch to "
		    "/rill/jobs/NAME/offsets/TOPIC/PARTITION in ZooKeeper"),
		RL_OPT_STRING("artifact", &opts.artifact, "LIB.so",
		    "the shared library of the job's user functions ({udf: NAME}, "
		    "include/rill.h); the executors fetch it from the driver and check its "
		    "sha256 before loading it"),
		RL_OPT_STRING("secret-file", &secret_file, "FILE",
		    "the cluster secret, shared by the driver and the executors it starts: "
		    "every message between them proves it (docs/operations.md)"),
		RL_OPT_REFUSED("http", "IP:PORT", "not in this version",
		    "--http is not available in this version of rill"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill run",
		.synopsis = cmd->usage,
		.about = "Runs the job with a driver in this process and N executor processes on\n"
		         "loopback, talking over nng TCP as in a cluster.\n",
		.opts = optv,
		.epilog
		= "SIGINT or SIGTERM finishes the batch in flight, checkpoints and exits 0; a\n"
		  "second one aborts.\n",
		.max_operands = 1,
	};
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	if (first == argc) {
		rl_cmdline_error(&cl, "a job file is required");
		return RL_EXIT_USAGE;
	}
	if (!rl_cli_use_secret("rill run", secret_file))
		return RL_EXIT_USAGE;
	char    why[1024];
	rl_job *job;
	rl_err  rv = rl_job_load(argv[first], &job, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return RL_EXIT_USAGE;
	}
	int code = rl_cli_run_job(job, &opts);
	rl_job_destroy(job);
	return code;
}
