// SPDX-License-Identifier: Apache-2.0
// The Kafka source's job-file grammar (`source: kafka:`) and what it produces.
#ifndef RL_SOURCES_KAFKA_H
#define RL_SOURCES_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/grammar.h"
#include "common/yaml.h"

typedef enum rl_start_offsets {
	RL_START_EARLIEST,
	RL_START_LATEST,
	RL_START_COMMITTED,
	RL_START_NONE,
} rl_start_offsets;

// Backpressure's rate before its first estimate, records/s over all
// partitions: a backlog never arrives as one giant first batch.
#define RL_DEFAULT_INITIAL_RATE 10000

typedef struct rl_kafka_source rl_kafka_source;

struct rl_kafka_source {
	char            *k_brokers; // required
	char           **k_topics; // NULL-terminated; NULL when k_pattern is set
	size_t           k_ntopics;
	char            *k_pattern; // POSIX extended regex over topic names, or NULL
	char            *k_group; // consumer group for committed progress, or NULL
	rl_start_offsets k_starting_offsets; // default earliest
	int64_t          k_max_rate_per_partition; // records/s, 0 = unlimited (default)
	bool             k_backpressure; // default true
	int64_t k_initial_rate; // records/s (all partitions) before backpressure has an estimate
	bool    k_fail_on_data_loss; // default true
	char  **k_prop_names; // librdkafka properties, k_nprops pairs
	char  **k_prop_values;
	size_t  k_nprops;
	rl_loc  k_loc;
};

// `kafka:` under `source:`, and the other input of a union or join: the
// settings are an rl_kafka_source.
extern const rl_source_grammar rl_source_kafka_grammar;

// rl_kafka_source_fini frees what k holds (not k); safe on a half-read one.
void rl_kafka_source_fini(rl_kafka_source *k);

// rl_kafka_get_topic reads a Kafka topic name (also for the Kafka sink); *ret
// is written only on success and is the caller's.
rl_err rl_kafka_get_topic(const rl_yaml_field *f, char **ret, rl_yaml_errbuf *eb);

#endif
