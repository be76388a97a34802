// SPDX-License-Identifier: Apache-2.0
// `rill kafka-mock`: librdkafka's mock cluster as a standalone process.
#include <getopt.h>
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

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
	    "\n"
	    "Runs librdkafka's mock Kafka cluster until SIGINT/SIGTERM. The first line on\n"
	    "stdout is its bootstrap list. For local experiments and fault tests only.\n"
	    "\n"
	    "  --brokers N               brokers in the cluster (default 1)\n"
	    "  --topic NAME:PARTITIONS   create a topic (repeatable)\n");
}

int
rl_cmd_kafka_mock(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long  brokers = 1;
	char *topics[64];
	int   ntopics = 0;
	int   c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!rl_arg_long("rill kafka-mock", "--brokers", optarg, 1, 16, &brokers))
				return RL_EXIT_USAGE;
			break;
		case 't':
			if (ntopics == 64) {
				fprintf(stderr, "rill kafka-mock: at most 64 topics\n");
				return RL_EXIT_USAGE;
			}
			topics[ntopics++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return RL_EXIT_OK;
		default:
			usage(stderr);
			return RL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return RL_EXIT_USAGE;
	}
	char           why[512];
	rl_kafka_mock *mock;
	if (rl_kafka_mock_create((int)brokers, &mock, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill kafka-mock: %s\n", why);
		return RL_EXIT_FAILURE;
	}
	for (int i = 0; i < ntopics; i++) {
		char *colon = strrchr(topics[i], ':');
		char *end = NULL;
		long  parts = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
		if (colon == NULL || colon == topics[i] || *end != '\0' || parts < 1
		    || parts > 10000) {
			fprintf(stderr, "rill kafka-mock: --topic '%s' is not NAME:PARTITIONS\n",
			    topics[i]);
			rl_kafka_mock_destroy(mock);
			return RL_EXIT_USAGE;
		}
		*colon = '\0';
		if (rl_kafka_mock_create_topic(mock, topics[i], (int)parts, why, sizeof(why))
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
