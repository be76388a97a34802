// SPDX-License-Identifier: Apache-2.0
// The grammar tables by which sources and sinks read their part of a job
// file into settings of their own type.
#ifndef RL_GRAMMAR_H
#define RL_GRAMMAR_H

#include <stddef.h>

#include "common/error.h"
#include "common/yaml.h"

// The layout of the tables below; a table says which one it was written for.
#define RL_GRAMMAR_VERSION 2

// A connector's grammar: what may follow `source: NAME:` or `sink: NAME:`.
// The job parser allocates conf_size zeroed bytes for the settings, calls
// parse, and later fini (also after parse failed), then frees them.
typedef struct rl_connector_grammar {
	int         version; // RL_GRAMMAR_VERSION
	const char *name; // the key under `source:` or `sink:`
	size_t      conf_size;
	// parse reads f, the connector's mapping (path "source.NAME" or
	// "sink.NAME"), into conf. Messages go to eb.
	rl_err (*parse)(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb);
	void (*fini)(void *conf); // frees what conf holds (not conf); may be NULL
} rl_connector_grammar;

typedef rl_connector_grammar rl_source_grammar;
typedef rl_connector_grammar rl_sink_grammar;

// rl_source_grammar_find and rl_sink_grammar_find return the grammar of the
// connector name (RL_SOURCE_LIST, RL_SINK_LIST, or one added), or NULL.
// rl_*_grammar_add registers one the lists do not name (a test's); call
// before any job is parsed. @locality not thread-safe
const rl_source_grammar *rl_source_grammar_find(const char *name);
const rl_sink_grammar   *rl_sink_grammar_find(const char *name);
void                     rl_source_grammar_add(const rl_source_grammar *g);
void                     rl_sink_grammar_add(const rl_sink_grammar *g);

#endif
