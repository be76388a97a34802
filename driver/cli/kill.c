// SPDX-License-Identifier: Apache-2.0
// `rill kill`: ask the cluster to stop a job (its progress stays for a later
// submit).
#include <stdio.h>

#include "common/cmdline.h"
#include "common/secret.h"
#include "driver/cli/cli.h"
#include "driver/jobstore.h"

#define PROG "rill kill"

int
rl_cmd_kill(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *secret_file = NULL;
	const char  *connect = NULL;
	bool         graceful = false;
	const rl_opt optv[] = {
		RL_CLI_CLUSTER_OPTS(&connect, &secret_file),
		RL_OPT_FLAG("graceful", &graceful,
		    "let the batch in flight finish and commit, then stop (desired: "
		    "stop-graceful)"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = PROG,
		.synopsis = cmd->usage,
		.about
		= "Sets the job's desired state to stop (or stop-graceful); its leader stops\n"
		  "it. The job's spec and batch log stay: 'rill submit' of the job runs it\n"
		  "again from where it stopped.\n",
		.opts = optv,
		.max_operands = 1,
	};
	const char *name;
	int         code;
	if (!rl_cli_cluster_args(
	        &cl, argc, argv, &connect, &secret_file, RL_CLI_JOB_NAME, &name, &code))
		return code;
	rl_zk *zk;
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		return RL_EXIT_FAILURE;
	char       why[1024];
	rl_desired was = RL_DESIRED_RUN,
	           want = graceful ? RL_DESIRED_STOP_GRACEFUL : RL_DESIRED_STOP;
	bool   had = rl_jobstore_get_desired(zk, name, &was, why, sizeof(why)) == RL_OK;
	rl_err rv = rl_jobstore_set_desired(zk, name, want, why, sizeof(why));
	rl_zk_close(zk);
	if (rv != RL_OK)
		return rl_cli_job_error(PROG, connect, name, rv, why);
	printf("%s: desired %s (was %s); its progress is kept for a later 'rill submit'\n", name,
	    rl_desired_name(want), had ? rl_desired_name(was) : "-");
	return RL_EXIT_OK;
}
