// SPDX-License-Identifier: Apache-2.0
// rill-executor: the executor daemon's command line.
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "common/log.h"
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

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill-executor --listen tcp://IP:PORT [--driver tcp://IP:PORT] [--cores N]\n"
	    "                     [--id ID] [--work-dir DIR] [--exit-with-driver]\n"
	    "\n"
	    "Runs tasks for rill drivers and serves shuffle blocks to peer executors.\n"
	    "\n"
	    "  --listen URL        where tasks and shuffle fetches arrive (port 0: any free port)\n"
	    "  --driver URL        register and heartbeat with this driver\n"
	    "  --zk CONNECT        register in ZooKeeper (cluster mode; not in this version)\n"
	    "  --cores N           tasks run at once (default: the number of CPUs)\n"
	    "  --id ID             executor id (default: HOST-PID)\n"
	    "  --work-dir DIR      reserved for shuffle spills (blocks stay in memory in this "
	    "version)\n"
	    "  --exit-with-driver  exit when the driver is unreachable (local mode)\n"
	    "  --help              this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "driver", required_argument, NULL, 'd' },
		{ "zk", required_argument, NULL, 'z' },
		{ "cores", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "work-dir", required_argument, NULL, 'w' },
		{ "exit-with-driver", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rl_executor_opts opts = { .cores = (int)sysconf(_SC_NPROCESSORS_ONLN) };
	long             n;
	int              c;
	one_malloc_arena();
	rl_log_init();
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			opts.listen_url = optarg;
			break;
		case 'd':
			opts.driver_url = optarg;
			break;
		case 'z':
			fprintf(stderr,
			    "rill-executor: --zk: cluster mode is not available in this version; "
			    "use --driver\n");
			return 2;
		case 'c':
			if (!rl_arg_long("rill-executor", "--cores", optarg, 1, 1024, &n))
				return 2;
			opts.cores = (int)n;
			break;
		case 'i':
			opts.id = optarg;
			break;
		case 'w':
			opts.work_dir = optarg;
			break;
		case 'x':
			opts.exit_with_driver = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || opts.listen_url == NULL) {
		fprintf(stderr, "rill-executor: %s\n",
		    optind != argc ? "unexpected argument" : "--listen is required");
		usage(stderr);
		return 2;
	}
	char         why[512];
	rl_executor *ex;
	if (rl_executor_create(&opts, &ex, why, sizeof(why)) != RL_OK) {
		rl_error("executor", "cannot start", "error=\"%s\"", why);
		return 1;
	}
	rl_stop_signals(stop_executor, ex);
	rl_err rv = rl_executor_run(ex);
	rl_stop_signals(NULL, NULL);
	rl_executor_destroy(ex);
	rl_info("executor", "executor stopped", "peak_rss_kb=%llu",
	    (unsigned long long)(rl_peak_rss_bytes() / 1024));
	return rv == RL_OK ? 0 : 1;
}
