// SPDX-License-Identifier: Apache-2.0
// The `rill` command line: one function per subcommand.
#ifndef RL_CLI_H
#define RL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/jobfile.h"

// Exit codes (SPEC.md): 0 success, 1 runtime failure, 2 bad usage or job file.
enum { RL_EXIT_OK = 0, RL_EXIT_FAILURE = 1, RL_EXIT_USAGE = 2 };

typedef struct rl_run_opts {
	int         executors; // executor processes to start
	int         cores; // per executor; 0: enough task slots for every partition
	bool        available_now;
	int64_t     run_for_ms; // 0 = until stopped
	const char *checkpoint_dir; // NULL: none
	const char *zk_connect; // NULL: none
} rl_run_opts;

// rl_cli_run_job runs job with a driver in this process and local executor
// processes; returns the exit code. SIGINT/SIGTERM stop it gracefully, a
// second one aborts.
int rl_cli_run_job(const rl_job *job, const rl_run_opts *opts);

int rl_cmd_run(int argc, char **argv);
int rl_cmd_demo(int argc, char **argv);
int rl_cmd_kafka_mock(int argc, char **argv);

#endif
