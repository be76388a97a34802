// SPDX-License-Identifier: Apache-2.0
// `rill kafka-mock`: librdkafka's mock cluster as a standalone process.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "common/kafka.h"
#include "common/log.h"
#include "driver/cli/cli.h"

static volatile sig_atomic_t stop;

static void
stop_mock(void *arg)
{
	(void)arg;
	stop = 1;
}

#define MAX_TOPICS 64

typedef struct topic_args {
	const char *t_names[MAX_TOPICS]; // in argv
	int         t_partitions[MAX_TOPICS];
	int         t_count;
} topic_args;

// add_topic takes --topic NAME:PARTITIONS; it ends NAME in argv at its ':'
// (argv's strings are the program's to change).
static bool
add_topic(void *dest, const char *prog, const char *arg)
{
	topic_args *topics = dest;
	if (topics->t_count == MAX_TOPICS) {
		fprintf(stderr, "%s: at most %d topics\n", prog, MAX_TOPICS);
		return false;
	}
	char *colon = strrchr(arg, ':');
	char *end = NULL;
	long  parts = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
	if (colon == NULL || colon == arg || *end != '\0' || parts < 1 || parts > 10000) {
		fprintf(stderr, "%s: --topic '%s' is not NAME:PARTITIONS\n", prog, arg);
		return false;
	}
	*colon = '\0';
	topics->t_names[topics->t_count] = arg;
	topics->t_partitions[topics->t_count++] = (int)parts;
	return true;
}

int
rl_cmd_kafka_mock(const rl_cli_command *cmd, int argc, char **argv)
{
	int          brokers = 1;
	topic_args   topics = { .t_count = 0 };
	const rl_opt optv[] = {
		RL_OPT_INT("brokers", &brokers, "N", 1, 16, "brokers in the cluster (default 1)"),
		RL_OPT_CALL(
		    "topic", add_topic, &topics, "NAME:PARTITIONS", "create a topic (repeatable)"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill kafka-mock",
		.synopsis = cmd->usage,
		.about
		= "Runs librdkafka's mock Kafka cluster until SIGINT/SIGTERM. The first line on\n"
		  "stdout is its bootstrap list. For local experiments and fault tests only.\n",
		.opts = optv,
	};
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	char           why[512];
	rl_kafka_mock *mock;
	if (rl_kafka_mock_create(brokers, &mock, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill kafka-mock: %s\n", why);
		return RL_EXIT_FAILURE;
	}
	for (int i = 0; i < topics.t_count; i++) {
		if (rl_kafka_mock_create_topic(
		        mock, topics.t_names[i], topics.t_partitions[i], why, sizeof(why))
		    != RL_OK) {
			fprintf(stderr, "rill kafka-mock: %s\n", why);
			rl_kafka_mock_destroy(mock);
			return RL_EXIT_FAILURE;
		}
	}
	printf("%s\n", rl_kafka_mock_bootstraps(mock));
	fflush(stdout);
	rl_stop_signals(stop_mock, NULL);
	while (!stop)
		pause();
	rl_kafka_mock_destroy(mock);
	return RL_EXIT_OK;
}
