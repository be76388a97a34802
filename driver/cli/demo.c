// SPDX-License-Identifier: Apache-2.0
// `rill demo`: an embedded Kafka-protocol cluster, a sentence generator and
// the word count, printed per batch as Spark does. No Java, no ZooKeeper.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdline.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/time.h"
#include "driver/cli/cli.h"

#define TOPIC "sentences"
#define PARTITIONS 4
#define LINES_PER_SECOND 2000

static const char *const words[] = {
	"the",
	"stream",
	"flows",
	"to",
	"a",
	"river",
	"and",
	"every",
	"batch",
	"counts",
	"words",
	"in",
	"kafka",
	"partitions",
	"quickly",
	"rill",
	"spark",
	"small",
	"fast",
	"data",
};

typedef struct generator {
	rl_kafka_producer *producer;
	_Atomic bool       stop;
	uint64_t           lines;
	char               error[256];
} generator;

// pick_word draws from a skewed distribution: earlier words are more frequent.
static const char *
pick_word(unsigned *seed)
{
	size_t n = sizeof(words) / sizeof(words[0]);
	size_t a = (size_t)rand_r(seed) % n, b = (size_t)rand_r(seed) % n;
	return words[a < b ? a : b];
}

static void *
generate(void *arg)
{
	generator *g = arg;
	unsigned   seed = 42;
	char       line[256];
	int64_t    start = rl_mono_ms();
	while (!g->stop) {
		int    nwords = 3 + rand_r(&seed) % 6;
		size_t len = 0;
		for (int w = 0; w < nwords; w++)
			len += (size_t)snprintf(
			    line + len, sizeof(line) - len, "%s%s", w ? " " : "", pick_word(&seed));
		if (rl_kafka_produce(
		        g->producer, TOPIC, -1, NULL, 0, line, len, g->error, sizeof(g->error))
		    != RL_OK)
			break;
		g->lines++;
		// Pace to LINES_PER_SECOND.
		int64_t due = start + (int64_t)(g->lines * 1000 / LINES_PER_SECOND);
		if (due > rl_mono_ms())
			rl_sleep_ms(due - rl_mono_ms());
	}
	return NULL;
}

#define STR(x) #x
#define XSTR(x) STR(x)

static const char about[]
    = "Starts an embedded Kafka-protocol cluster (librdkafka's mock cluster), writes\n" XSTR(
        LINES_PER_SECOND) " sentences a second to its " XSTR(PARTITIONS) "-partition topic '" TOPIC
                                                                         "', and runs a\n"
                                                                         "word count with a driver "
                                                                         "and 2 executor "
                                                                         "processes, printing each "
                                                                         "1 s batch's\n"
                                                                         "first 10 (word,count) "
                                                                         "pairs. No Java or "
                                                                         "ZooKeeper needed.\n";

int
rl_cmd_demo(const rl_cli_command *cmd, int argc, char **argv)
{
	int          seconds = 10;
	const rl_opt optv[] = {
		RL_OPT_INT("seconds", &seconds, "N", 0, 1000000,
		    "how long to run (default 10; 0 = until Ctrl-C)"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill demo",
		.synopsis = cmd->usage,
		.about = about,
		.opts = optv,
	};
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(&cl, argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	// The demo's output is the word counts; say only what goes wrong.
	// (The executor processes inherit the setting.)
	setenv("RILL_LOG_LEVEL", "warn", 0);
	rl_log_init();

	char           why[1024];
	rl_kafka_mock *mock;
	if (rl_kafka_mock_create(1, &mock, why, sizeof(why)) != RL_OK
	    || rl_kafka_mock_create_topic(mock, TOPIC, PARTITIONS, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill demo: %s\n", why);
		return RL_EXIT_FAILURE;
	}
	const char *boot = rl_kafka_mock_bootstraps(mock);
	generator   g = { 0 };
	if (rl_kafka_producer_create(boot, NULL, &g.producer, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill demo: %s\n", why);
		rl_kafka_mock_destroy(mock);
		return RL_EXIT_FAILURE;
	}
	pthread_t gen;
	pthread_create(&gen, NULL, generate, &g);

	char    spec[1024];
	int     len = snprintf(spec, sizeof(spec),
	        "name: demo-wordcount\n"
	            "batch: 1s\n"
	            "source:\n"
	            "  kafka:\n"
	            "    brokers: \"%s\"\n"
	            "    topics: [" TOPIC "]\n"
	            "    starting_offsets: latest\n"
	            "pipeline:\n"
	            "  - flat_map: words\n"
	            "  - map_values: one\n"
	            "  - reduce_by_key: sum\n"
	            "sink:\n"
	            "  print: {num: 10}\n",
	        boot);
	rl_job *job;
	int     code = RL_EXIT_FAILURE;
	if (rl_job_parse(spec, (size_t)len, "demo job", &job, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill demo: %s\n", why);
		goto out;
	}
	printf("rill demo: embedded Kafka at %s, topic '%s' (%d partitions), %d lines/s;\n"
	       "word count in 1 s batches with 2 executors%s\n\n",
	    boot, TOPIC, PARTITIONS, LINES_PER_SECOND, seconds > 0 ? "" : " (Ctrl-C to stop)");
	fflush(stdout);
	rl_run_opts opts = { .executors = 2, .run_for_ms = (int64_t)seconds * 1000 };
	code = rl_cli_run_job(job, &opts);
	rl_job_destroy(job);
out:
	g.stop = true;
	pthread_join(gen, NULL);
	if (g.error[0] != '\0')
		fprintf(stderr, "rill demo: generator: %s\n", g.error);
	rl_kafka_producer_destroy(g.producer);
	rl_kafka_mock_destroy(mock);
	return code;
}
