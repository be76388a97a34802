// SPDX-License-Identifier: Apache-2.0
// The `rill` command line: the command table's entries and one handler per
// command (driver/cli/NAME.c).
#ifndef RL_CLI_H
#define RL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cmdline.h"
#include "common/jobfile.h"
#include "common/secret.h"
#include "common/zk.h"

// rl_cli_command is one line of the command table in driver/cli/main.c.
typedef struct rl_cli_command rl_cli_command;
struct rl_cli_command {
	const char *name; // "run"
	const char *summary; // one line for `rill --help`
	const char *usage; // the synopsis after "rill NAME", for `rill NAME --help`
	// handler runs the command: argv[0] is its name, argv[1 ..] its
	// arguments; returns the exit code. NULL: not in this version.
	int (*handler)(const rl_cli_command *cmd, int argc, char **argv);
};

typedef struct rl_run_opts {
	int         executors; // executor processes to start
	int         cores; // per executor; 0: enough task slots for every partition
	bool        available_now;
	int64_t     run_for_ms; // 0 = until stopped
	const char *checkpoint_dir; // NULL: none
	const char *zk_connect; // NULL: none
	const char *artifact; // --artifact LIB.so, or NULL
} rl_run_opts;

// rl_cli_run_job runs job with a driver in this process and local executor
// processes; returns the exit code. SIGINT/SIGTERM stop it gracefully, a
// second one aborts.
int rl_cli_run_job(const rl_job *job, const rl_run_opts *opts);

int rl_cmd_run(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_demo(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_kafka_mock(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_supervise(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_submit(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_list(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_status(const rl_cli_command *cmd, int argc, char **argv);
int rl_cmd_kill(const rl_cli_command *cmd, int argc, char **argv);

// ---- what the cluster commands share (driver/cli/cluster.c) ----

// How long a cluster command waits for ZooKeeper to answer at all.
#define RL_CLI_ZK_CONNECT_MS 10000

// What a cluster command's one operand is, if it takes one.
typedef enum rl_cli_operand {
	RL_CLI_NO_OPERAND,
	RL_CLI_JOB_NAME, // must be a job name (rl_jobstore_valid_name)
	RL_CLI_JOB_FILE,
} rl_cli_operand;

// The options every cluster command takes, for its option table:
// --zk into *connect, --secret-file into *secret_file.
#define RL_CLI_CLUSTER_OPTS(connect, secret_file)                                                  \
	RL_OPT_STRING("zk", (connect), "CONNECT",                                                  \
	    "the cluster's ZooKeeper, host:port[,host:port...][/chroot] (required)"),              \
	    RL_OPT_STRING("secret-file", (secret_file), "FILE", RL_SECRET_FILE_HELP)

// rl_cli_cluster_args parses a cluster command's argv with cl, whose options
// set *connect from --zk and *secret_file from --secret-file, checks what
// every cluster command needs (--zk, and the operand if the command takes
// one) and loads the secret (rl_cli_use_secret). True when the command goes on,
// with *ret_operand the operand (not written for RL_CLI_NO_OPERAND: ret_operand
// may be NULL); false when it
// ends with exit code *ret_exit (RL_EXIT_OK after --help, RL_EXIT_USAGE after
// a usage error, said on stderr).
bool rl_cli_cluster_args(const rl_cmdline *cl, int argc, char **argv, const char *const *connect,
    const char *const *secret_file, rl_cli_operand operand, const char **ret_operand,
    int *ret_exit);

// rl_cli_job_error says on stderr why a request about job name failed with rv
// and why: "PROG: no job 'NAME' was submitted to CONNECT" for RL_ERR_NOENT,
// else "PROG: job NAME: WHY". Returns RL_EXIT_FAILURE.
int rl_cli_job_error(
    const char *prog, const char *connect, const char *name, rl_err rv, const char *why);

// rl_cli_use_secret loads the --secret-file path (NULL: none) and makes it
// this process's cluster secret; on failure it prints "PROG: why" and returns
// false (the caller exits with RL_EXIT_USAGE).
bool rl_cli_use_secret(const char *prog, const char *path);

// rl_cli_zk_connect opens a session to connect for command prog; on
// failure it prints "PROG: ..." naming connect and returns false.
bool rl_cli_zk_connect(const char *prog, const char *connect, rl_zk **ret);

// rl_cli_time writes wall-clock ms as "2024-05-01T12:00:00.000Z" (UTC).
void rl_cli_time(int64_t ms, char *buf, size_t len);

#endif
