// SPDX-License-Identifier: Apache-2.0
// rill: the user CLI's entry point and its command table.
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc.h"
#include "driver/cli/cli.h"

// The commands, in the order `rill --help` lists them. A command is a file
// driver/cli/NAME.c with its handler, and one line here; a NULL handler
// means "not in this version".
static const rl_cli_command commands[] = {
	{ "demo", "word count on an embedded Kafka cluster, printed per batch", "[--seconds N]",
	    rl_cmd_demo },
	{ "run", "run a job with a local driver and N executor processes",
	    "JOB.yaml [--executors N] [--cores N] [--checkpoint-dir DIR] [--zk CONNECT] "
	    "[--available-now] [--for DUR] [--artifact LIB.so]",
	    rl_cmd_run },
	{ "kafka-mock", "run an embedded Kafka-protocol cluster, print its bootstrap",
	    "[--brokers N] [--topic NAME:PARTITIONS]...", rl_cmd_kafka_mock },
	{ "supervise", "restart a command when it fails, with backoff",
	    "[--max-restarts N] [--backoff-initial DUR] [--backoff-max DUR] [--stable-after DUR] "
	    "-- COMMAND...",
	    rl_cmd_supervise },
	{ "submit", "validate a job and store it in the cluster",
	    "--zk CONNECT JOB.yaml [--artifact LIB.so]", rl_cmd_submit },
	{ "list", "list the cluster's jobs", "--zk CONNECT [--json]", rl_cmd_list },
	{ "status", "show a job's state in the cluster", "--zk CONNECT NAME [--json]",
	    rl_cmd_status },
	{ "kill", "stop a job in the cluster", "--zk CONNECT NAME [--graceful]", rl_cmd_kill },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
list_commands(FILE *out, bool available)
{
	int width = 0;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if ((int)strlen(commands[i].name) > width)
			width = (int)strlen(commands[i].name);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if ((commands[i].handler != NULL) == available)
			fprintf(out, "  %-*s  %s\n", width, commands[i].name, commands[i].summary);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: rill COMMAND [ARGS]\n\nCommands:\n");
	list_commands(out, true);
	bool missing = false;
	for (size_t i = 0; i < NCOMMANDS; i++)
		missing = missing || commands[i].handler == NULL;
	if (missing) {
		fprintf(out, "\nCommands not in this version:\n");
		list_commands(out, false);
	}
	fprintf(
	    out, "\nRun 'rill COMMAND --help' for a command's options. Version %s.\n", RL_VERSION);
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
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return RL_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0) {
		printf("rill %s\n", RL_VERSION);
		return RL_EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const rl_cli_command *cmd = &commands[i];
		if (strcmp(name, cmd->name) != 0)
			continue;
		if (cmd->handler == NULL) {
			fprintf(stderr,
			    "rill %s: cluster mode is not available in this version of rill\n",
			    name);
			return RL_EXIT_FAILURE;
		}
		int code = cmd->handler(cmd, argc - 1, argv + 1);
		rl_rpc_fini(); // the command closed every socket it opened
		return code;
	}
	fprintf(stderr, "rill: unknown command '%s'\n", name);
	usage(stderr);
	return RL_EXIT_USAGE;
}
