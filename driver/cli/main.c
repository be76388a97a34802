// SPDX-License-Identifier: Apache-2.0
// rill: the user CLI's entry point and subcommand dispatch.
#include "driver/cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill COMMAND [ARGS]\n"
	    "\n"
	    "Local runs:\n"
	    "  demo [--seconds N]            word count on an embedded Kafka cluster, printed per "
	    "batch\n"
	    "  run JOB.yaml [--executors N] [--available-now] [--for DUR]\n"
	    "                                run a job with a local driver and N executor "
	    "processes\n"
	    "  kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
	    "                                run an embedded Kafka-protocol cluster, print its "
	    "bootstrap\n"
	    "\n"
	    "Cluster commands (submit, list, status, kill, supervise) are not in this version.\n"
	    "\n"
	    "Run 'rill COMMAND --help' for a command's options. Version %s.\n",
	    RL_VERSION);
}

int
main(int argc, char **argv)
{
	rl_log_init();
	signal(SIGPIPE, SIG_IGN); // before any socket; the commands install their stop signals
	if (argc < 2) {
		usage(stderr);
		return RL_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return RL_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("rill %s\n", RL_VERSION);
		return RL_EXIT_OK;
	}
	if (strcmp(cmd, "run") == 0)
		return rl_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "demo") == 0)
		return rl_cmd_demo(argc - 1, argv + 1);
	if (strcmp(cmd, "kafka-mock") == 0)
		return rl_cmd_kafka_mock(argc - 1, argv + 1);
	const char *later[] = { "submit", "list", "status", "kill", "supervise" };
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		if (strcmp(cmd, later[i]) == 0) {
			fprintf(stderr,
			    "rill %s: cluster mode is not available in this version of rill\n",
			    cmd);
			return RL_EXIT_FAILURE;
		}
	}
	fprintf(stderr, "rill: unknown command '%s'\n", cmd);
	usage(stderr);
	return RL_EXIT_USAGE;
}
