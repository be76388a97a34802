// SPDX-License-Identifier: Apache-2.0
// rill-loadgen: produces word lines to a Kafka topic at a fixed rate (paced
// every millisecond), for latency benchmarks. Each record's Kafka timestamp
// is when it was produced; rill measures latency from it.
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdline.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/time.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill-loadgen --brokers HOST:PORT --topic T --rate N --seconds S [--size "
	    "BYTES]\n"
	    "\n"
	    "Produces N records/s (each about BYTES long, default 100) of words for S\n"
	    "seconds, paced every millisecond, and prints what it achieved.\n");
}

// fill_line writes a line of about size bytes of Zipf-like words.
static size_t
fill_line(char *buf, size_t size, unsigned *seed)
{
	size_t len = 0;
	while (len + 12 < size) {
		double r = (double)rand_r(seed) / RAND_MAX;
		int    w = (int)(1.0 / (r * r + 0.0001));
		len += (size_t)snprintf(buf + len, size - len, "%sword%d", len ? " " : "", w);
	}
	return len;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *brokers = NULL, *topic = NULL;
	long        rate = 0, seconds = 0, size = 100;
	int         c;
	rl_log_init();
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			brokers = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'r':
			if (!rl_arg_long("rill-loadgen", "--rate", optarg, 1, 100000000, &rate))
				return 2;
			break;
		case 's':
			if (!rl_arg_long("rill-loadgen", "--seconds", optarg, 1, 86400, &seconds))
				return 2;
			break;
		case 'z':
			if (!rl_arg_long("rill-loadgen", "--size", optarg, 16, 1000000, &size))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (brokers == NULL || topic == NULL || rate == 0 || seconds == 0) {
		usage(stderr);
		return 2;
	}
	// Sent at once: the records' timestamps are when they were made.
	char              *names[] = { "linger.ms", "queue.buffering.max.messages" };
	char              *values[] = { "1", "1000000" };
	rl_kafka_props     props = { names, values, 2 };
	char               why[512];
	rl_kafka_producer *p;
	if (rl_kafka_producer_create(brokers, &props, &p, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-loadgen: %s\n", why);
		return 1;
	}
	// A few distinct lines, cycled: making lines must not limit the rate.
	enum { LINES = 1024 };
	char    *lines = malloc((size_t)LINES * (size_t)size);
	size_t  *lens = malloc(LINES * sizeof(size_t));
	unsigned seed = 7;
	for (int i = 0; i < LINES; i++)
		lens[i] = fill_line(lines + (size_t)i * (size_t)size, (size_t)size, &seed);
	// Connect first: records made while the producer still looks for its
	// broker and the topic's leaders would wait, and count as latency. (Not
	// with a record of its own: that one would be measured too.)
	if (rl_kafka_producer_connect(p, topic, 30000, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-loadgen: %s\n", why);
		return 1;
	}
	int64_t  start = rl_mono_us(), end = start + seconds * 1000000;
	uint64_t sent = 0;
	int      rv = 0;
	for (int64_t now = start; now < end; now = rl_mono_us()) {
		uint64_t due = (uint64_t)((double)(now - start) * (double)rate / 1e6);
		for (; sent < due; sent++) {
			size_t k = sent % LINES;
			if (rl_kafka_produce(p, topic, -1, NULL, 0, lines + k * (size_t)size,
			        lens[k], why, sizeof(why))
			    != RL_OK) {
				fprintf(stderr, "rill-loadgen: %s\n", why);
				rv = 1;
				goto out;
			}
		}
		rl_sleep_ms(1);
	}
out:
	if (rl_kafka_flush(p, 30000, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "rill-loadgen: %s\n", why);
		rv = 1;
	}
	double took = (double)(rl_mono_us() - start) / 1e6;
	printf("loadgen records=%" PRIu64 " seconds=%.3f rate=%.0f target=%ld\n", sent, took,
	    (double)sent / took, rate);
	rl_kafka_producer_destroy(p);
	free(lines);
	free(lens);
	return rv;
}
