// SPDX-License-Identifier: Apache-2.0
// What `rill submit`, `list`, `status` and `kill` share: their usage checks,
// the ZooKeeper session, how job errors and times are shown.
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/secret.h"
#include "common/zk.h"
#include "driver/cli/cli.h"
#include "driver/jobstore.h"

// A cluster command's session only has to outlive the command; a short
// timeout makes the server drop it soon after a command that was killed.
#define SESSION_MS 10000

bool
rl_cli_cluster_args(const rl_cmdline *cl, int argc, char **argv, const char *const *connect,
    const char *const *secret_file, rl_cli_operand operand, const char **ret_operand, int *ret_exit)
{
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK) {
		*ret_exit = r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
		return false;
	}
	*ret_exit = RL_EXIT_USAGE;
	if (*connect == NULL) {
		rl_cmdline_error(cl, "--zk is required");
		return false;
	}
	if (operand == RL_CLI_NO_OPERAND)
		return rl_cli_use_secret(cl->prog, *secret_file);
	if (first == argc) {
		rl_cmdline_error(
		    cl, "%s is required", operand == RL_CLI_JOB_NAME ? "a job name" : "a job file");
		return false;
	}
	const char *arg = argv[first];
	if (operand == RL_CLI_JOB_NAME && !rl_jobstore_valid_name(arg)) {
		rl_cmdline_error(cl, "'%s' is not a job name ([a-z0-9-]{1,64})", arg);
		return false;
	}
	*ret_operand = arg;
	return rl_cli_use_secret(cl->prog, *secret_file);
}

int
rl_cli_job_error(
    const char *prog, const char *connect, const char *name, rl_err rv, const char *why)
{
	if (rv == RL_ERR_NOENT)
		fprintf(stderr, "%s: no job '%s' was submitted to %s\n", prog, name, connect);
	else
		fprintf(stderr, "%s: job %s: %s\n", prog, name, why);
	return RL_EXIT_FAILURE;
}

bool
rl_cli_use_secret(const char *prog, const char *path)
{
	char why[1024];
	if (rl_secret_load_and_use(path, why, sizeof(why)) == RL_OK)
		return true;
	fprintf(stderr, "%s: %s\n", prog, why);
	return false;
}

bool
rl_cli_zk_connect(const char *prog, const char *connect, rl_zk **ret)
{
	char   why[1024];
	rl_err rv = rl_zk_connect(connect, SESSION_MS, RL_CLI_ZK_CONNECT_MS, ret, why, sizeof(why));
	if (rv == RL_OK)
		return true;
	if (rv == RL_ERR_TIMEDOUT)
		fprintf(stderr, "%s: ZooKeeper at %s did not answer within %d s (%s)\n", prog,
		    connect, RL_CLI_ZK_CONNECT_MS / 1000, why);
	else
		fprintf(stderr, "%s: cannot reach ZooKeeper at %s: %s\n", prog, connect, why);
	return false;
}

void
rl_cli_time(int64_t ms, char *buf, size_t len)
{
	time_t    secs = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, len, "%" PRId64, ms);
		return;
	}
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
}
