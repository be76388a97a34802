// SPDX-License-Identifier: Apache-2.0
// The Kafka sink's job-file grammar (`sink: kafka:`).
#ifndef RL_SINKS_KAFKA_H
#define RL_SINKS_KAFKA_H

#include "common/grammar.h"

extern const rl_sink_grammar rl_kafka_sink_grammar;

#endif
