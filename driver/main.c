// SPDX-License-Identifier: Apache-2.0
// rill-driver: the driver daemon. With --job it runs one job standalone
// (executors register at --listen); with --zk it hosts every job submitted
// to ZooKeeper (driver/daemon.c).
#include <stdio.h>

#include "common/alloc.h"
#include "common/cmdline.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/secret.h"
#include "common/udf.h"
#include "driver/daemon.h"
#include "driver/driver.h"

static void
stop_driver(void *d)
{
	rl_driver_stop(d);
}

static void
stop_daemon(void *d)
{
	rl_daemon_stop(d);
}

// run_daemon is cluster mode: rill-driver --zk CONNECT --listen URL.
static int
run_daemon(const rl_daemon_opts *opts)
{
	char       why[1024];
	rl_daemon *d;
	if (rl_daemon_create(opts, &d, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-driver: %s\n", why);
		return RL_EXIT_FAILURE;
	}
	rl_stop_signals(stop_daemon, d);
	rl_err rv = rl_daemon_run(d, why, sizeof(why));
	rl_stop_signals(NULL, NULL);
	if (rv != RL_OK)
		fprintf(stderr, "rill-driver: %s\n", why);
	rl_daemon_destroy(d);
	rl_rpc_fini();
	return rv == RL_OK ? RL_EXIT_OK : RL_EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
	const char    *job_path = NULL;
	rl_driver_opts opts = { .min_executors = 1 };
	rl_daemon_opts dopts = { 0 };
	int64_t        session_ms = 10000;
	const char    *secret_file = NULL;
	const char    *artifact_path = NULL;
	const rl_opt   optv[] = {
		  RL_OPT_STRING("job", &job_path, "FILE", "the job file"),
		  RL_OPT_STRING("artifact", &artifact_path, "LIB.so",
		      "with --job: the shared library of the job's user functions, served to "
		        "the executors"),
		  RL_OPT_STRING("listen", &opts.listen_url, "URL", "where executors register"),
		  RL_OPT_INT("executors", &opts.min_executors, "N", 1, 1024,
		      "wait for N executors before the first batch (default 1)"),
		  RL_OPT_STRING("checkpoint-dir", &opts.checkpoint_dir, "DIR",
		      "checkpoint every batch; restart resumes from it"),
		  RL_OPT_FLAG("available-now", &opts.available_now,
		      "process what the topics hold now, then exit 0"),
		  RL_OPT_DURATION("for", &opts.run_for_ms, "DUR", "stop gracefully after DUR"),
		  RL_OPT_STRING("zk", &dopts.zk_connect, "CONNECT",
		      "cluster mode: host every job submitted to ZooKeeper (not with --job)"),
		  RL_OPT_DURATION("zk-session-timeout", &session_ms, "DUR",
		      "the ZooKeeper session timeout asked for (default 10s); a leader's lease is "
		        "2/3 of the one granted"),
		  RL_OPT_STRING("state-dir", &dopts.state_dir, "DIR",
		      "with --zk: stateful jobs keep their state snapshots in DIR/JOB, a path "
		        "every driver and executor host shares (e.g. an NFS mount); without it "
		        "they are not run"),
		  RL_OPT_STRING("secret-file", &secret_file, "FILE", RL_SECRET_FILE_HELP),
		  RL_OPT_REFUSED("http", "IP:PORT", NULL, "--http is not available in this version"),
		  RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill-driver",
		.synopsis
		= "(--job JOB.yaml | --zk CONNECT) --listen tcp://IP:PORT [--executors N] "
		  "[--checkpoint-dir DIR] [--available-now] [--for DUR] "
		  "[--zk-session-timeout DUR] [--state-dir DIR] [--artifact LIB.so] "
		  "[--secret-file FILE]",
		.about
		= "With --job, runs one job's batches; executors register with it at --listen\n"
		  "(rill-executor --driver URL). With --zk, hosts every job submitted with\n"
		  "`rill submit`: one driver leads each job, the others stand by, and the\n"
		  "executors are those announced in ZooKeeper (rill-executor --zk).\n",
		.opts = optv,
	};
	int first;
	rl_log_init();
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	char secret_why[1024];
	if (rl_secret_load_and_use(secret_file, secret_why, sizeof(secret_why)) != RL_OK) {
		fprintf(stderr, "rill-driver: %s\n", secret_why);
		return RL_EXIT_USAGE;
	}
	if (dopts.state_dir != NULL && dopts.zk_connect == NULL) {
		rl_cmdline_error(&cl,
		    "--state-dir goes with --zk (with --job, state is kept in "
		    "--checkpoint-dir)");
		return RL_EXIT_USAGE;
	}
	if (dopts.zk_connect != NULL) {
		if (job_path != NULL) {
			rl_cmdline_error(&cl,
			    "--job and --zk exclude each other: run one job, or host the "
			    "jobs submitted to ZooKeeper");
			return RL_EXIT_USAGE;
		}
		if (opts.listen_url == NULL) {
			rl_cmdline_error(&cl, "--zk needs --listen");
			return RL_EXIT_USAGE;
		}
		if (opts.checkpoint_dir != NULL || opts.available_now || opts.run_for_ms > 0
		    || artifact_path != NULL) {
			rl_cmdline_error(&cl,
			    "--checkpoint-dir, --available-now, --for and --artifact go with "
			    "--job, not "
			    "--zk (`rill submit --artifact` stores a job's)");
			return RL_EXIT_USAGE;
		}
		if (session_ms > 600000) {
			rl_cmdline_error(&cl, "--zk-session-timeout is at most 10m");
			return RL_EXIT_USAGE;
		}
		dopts.listen_url = opts.listen_url;
		dopts.zk_session_timeout_ms = (int)session_ms;
		dopts.min_executors = opts.min_executors;
		return run_daemon(&dopts);
	}
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
	void  *artifact = NULL;
	size_t artifact_len = 0;
	char   sha[RL_SHA256_HEX_LEN] = "";
	if (rl_udf_artifact_for(job, artifact_path, &artifact, &artifact_len, sha, why, sizeof(why))
	    != RL_OK) {
		fprintf(stderr, "rill-driver: %s\n", why);
		rl_job_destroy(job);
		return 2;
	}
	opts.artifact = artifact;
	opts.artifact_len = artifact_len;
	opts.artifact_sha256 = sha;
	rl_driver *d;
	rl_err     rv = rl_driver_create(job, &opts, &d, why, sizeof(why));
	rl_free(artifact); // the driver keeps its own copy
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
	rl_rpc_fini();
	return rv == RL_OK ? 0 : 1;
}
