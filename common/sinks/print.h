// SPDX-License-Identifier: Apache-2.0
// The print sink's job-file grammar (`sink: print:`) and its settings.
#ifndef RL_SINKS_PRINT_H
#define RL_SINKS_PRINT_H

#include <stdint.h>

#include "common/grammar.h"

typedef struct rl_print_sink {
	int64_t p_num; // records shown per batch, default 10
} rl_print_sink;

extern const rl_sink_grammar rl_sink_print_grammar;

#endif
