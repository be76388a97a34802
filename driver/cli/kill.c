// SPDX-License-Identifier: Apache-2.0
// `rill kill`: ask the cluster to stop a job (its progress stays for a later
// submit).
#include <stdio.h>

#include "common/cmdline.h"
#include "driver/cli/cli.h"
#include "driver/jobstore.h"

#define PROG "rill kill"

int
rl_cmd_kill(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *connect = NULL;
	bool         graceful = false;
	const rl_opt optv[] = {
		RL_OPT_STRING("zk", &connect, "CONNECT",
		    "the cluster's ZooKeeper, host:port[,host:port...][/chroot] (required)"),
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
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	if (connect == NULL) {
		rl_cmdline_error(&cl, "--zk is required");
		return RL_EXIT_USAGE;
	}
	if (first == argc) {
		rl_cmdline_error(&cl, "a job name is required");
		return RL_EXIT_USAGE;
	}
	const char *name = argv[first];
	if (!rl_jobstore_valid_name(name)) {
		rl_cmdline_error(&cl, "'%s' is not a job name ([a-z0-9-]{1,64})", name);
		return RL_EXIT_USAGE;
	}
	rl_zk *zk;
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		return RL_EXIT_FAILURE;
	char       why[1024];
	rl_desired was = RL_DESIRED_RUN,
	           want = graceful ? RL_DESIRED_STOP_GRACEFUL : RL_DESIRED_STOP;
	bool   had = rl_jobstore_get_desired(zk, name, &was, why, sizeof(why)) == RL_OK;
	rl_err rv = rl_jobstore_set_desired(zk, name, want, why, sizeof(why));
	rl_zk_close(zk);
	if (rv == RL_ERR_NOENT) {
		fprintf(stderr, PROG ": no job '%s' was submitted to %s\n", name, connect);
		return RL_EXIT_FAILURE;
	}
	if (rv != RL_OK) {
		fprintf(stderr, PROG ": job %s: %s\n", name, why);
		return RL_EXIT_FAILURE;
	}
	printf("%s: desired %s (was %s); its progress is kept for a later 'rill submit'\n", name,
	    rl_desired_name(want), had ? rl_desired_name(was) : "-");
	return RL_EXIT_OK;
}
