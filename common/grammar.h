// SPDX-License-Identifier: Apache-2.0
// The grammar tables by which sources and sinks read their part of a job file.
#ifndef RL_GRAMMAR_H
#define RL_GRAMMAR_H

#include "common/error.h"
#include "common/yaml.h"

// The layout of the tables below; a table says which one it was written for.
#define RL_GRAMMAR_VERSION 1

typedef struct rl_kafka_source rl_kafka_source;
typedef struct rl_sink         rl_sink;

// A source's grammar: what may follow `source: NAME:` (and, for Kafka, a
// union's or join's `kafka:`).
typedef struct rl_source_grammar {
	int         version; // RL_GRAMMAR_VERSION
	const char *name; // the key under `source:`
	// parse reads f, the connector's mapping (path "source.NAME"), into *ret,
	// zeroed by the caller, who frees what *ret holds afterwards, also after
	// an error. Messages go to eb.
	rl_err (*parse)(const rl_yaml_field *f, rl_kafka_source *ret, rl_yaml_errbuf *eb);
} rl_source_grammar;

// A sink's grammar: what may follow `sink: NAME:`.
typedef struct rl_sink_grammar {
	int         version; // RL_GRAMMAR_VERSION
	const char *name; // the key under `sink:`
	// parse reads f, the sink's mapping (path "sink.NAME"), into *ret, zeroed
	// by the caller, who frees what *ret holds afterwards, also after an
	// error. It sets ret->k_kind; the caller sets ret->k_loc.
	rl_err (*parse)(const rl_yaml_field *f, rl_sink *ret, rl_yaml_errbuf *eb);
} rl_sink_grammar;

#endif
