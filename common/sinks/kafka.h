// SPDX-License-Identifier: Apache-2.0
// The Kafka sink's job-file grammar (`sink: kafka:`) and its settings.
#ifndef RL_SINKS_KAFKA_H
#define RL_SINKS_KAFKA_H

#include <stdbool.h>

#include "common/grammar.h"

typedef struct rl_kafka_sink {
	char *k_brokers;
	char *k_topic;
	bool  k_exactly_once; // default false: at least once
} rl_kafka_sink;

extern const rl_sink_grammar rl_sink_kafka_grammar;

#endif
