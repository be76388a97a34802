// SPDX-License-Identifier: Apache-2.0
// rill-executor: the executor daemon's command line.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/secret.h"
#include "common/sysinfo.h"
#include "executor/executor.h"

static void
stop_executor(void *ex)
{
	rl_executor_stop(ex);
}

// one_malloc_arena keeps glibc to a single malloc arena unless
// MALLOC_ARENA_MAX says otherwise. librdkafka allocates an op per fetched
// message on its broker threads and the tasks free it on theirs; with glibc's
// default (8 arenas per CPU) each thread's arena keeps its own high-water
// mark. 10M records, 4 partitions per executor: peak RSS 36-40 MB -> 27-28 MB,
// no slower (docs/performance.md).
static void
one_malloc_arena(void)
{
#ifdef M_ARENA_MAX
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 1);
#endif
}

int
main(int argc, char **argv)
{
	rl_executor_opts opts = { .cores = (int)sysconf(_SC_NPROCESSORS_ONLN) };
	const char      *secret_file = NULL;
	const rl_opt     optv[] = {
		    RL_OPT_STRING("listen", &opts.listen_url, "URL",
		        "where tasks and shuffle fetches arrive (port 0: any free port)"),
		    RL_OPT_STRING(
		        "driver", &opts.driver_url, "URL", "register and heartbeat with this driver"),
		    RL_OPT_STRING("zk", &opts.zk_connect, "CONNECT",
		        "announce this executor in ZooKeeper for any driver to dial (not with "
		            "--driver)"),
		    RL_OPT_INT("cores", &opts.cores, "N", 1, 1024,
		        "tasks run at once (default: the number of CPUs)"),
		    RL_OPT_STRING("id", &opts.id, "ID", "executor id (default: HOST-PID)"),
		    RL_OPT_STRING("work-dir", &opts.work_dir, "DIR",
		        "reserved for shuffle spills (blocks stay in memory in this version)"),
		    RL_OPT_FLAG("exit-with-driver", &opts.exit_with_driver,
		        "exit when the driver is unreachable (local mode)"),
		    RL_OPT_STRING("secret-file", &secret_file, "FILE", RL_SECRET_FILE_HELP),
		    RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill-executor",
		.synopsis
		= "--listen tcp://IP:PORT [--driver tcp://IP:PORT | --zk CONNECT] [--cores N] "
		  "[--id ID] [--work-dir DIR] [--exit-with-driver] [--secret-file FILE]",
		.about
		= "Runs tasks for rill drivers and serves shuffle blocks to peer executors.\n",
		.opts = optv,
	};
	int first;
	opts.stop_grace_ms = RL_EXECUTOR_STOP_GRACE_MS;
	one_malloc_arena();
	rl_log_init();
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	if (opts.listen_url == NULL) {
		rl_cmdline_error(&cl, "--listen is required");
		return RL_EXIT_USAGE;
	}
	if (opts.zk_connect != NULL && opts.driver_url != NULL) {
		rl_cmdline_error(&cl,
		    "--driver and --zk exclude each other: register with one "
		    "driver, or announce in ZooKeeper for any");
		return RL_EXIT_USAGE;
	}
	if (opts.zk_connect != NULL && opts.exit_with_driver) {
		rl_cmdline_error(&cl, "--exit-with-driver needs --driver");
		return RL_EXIT_USAGE;
	}
	char         why[1024];
	rl_executor *ex;
	if (rl_secret_load_and_use(secret_file, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-executor: %s\n", why);
		return RL_EXIT_USAGE;
	}
	if (rl_executor_create(&opts, &ex, why, sizeof(why)) != RL_OK) {
		rl_error("executor", "cannot start", "error=\"%s\"", why);
		return 1;
	}
	rl_stop_signals(stop_executor, ex);
	rl_err rv = rl_executor_run(ex);
	rl_stop_signals(NULL, NULL);
	rl_executor_destroy(ex);
	rl_rpc_fini();
	rl_info("executor", "executor stopped", "peak_rss_kb=%llu",
	    (unsigned long long)(rl_peak_rss_bytes() / 1024));
	return rv == RL_OK ? 0 : 1;
}
