// SPDX-License-Identifier: Apache-2.0
// The print sink's job-file grammar (`sink: print:`).
#ifndef RL_SINKS_PRINT_H
#define RL_SINKS_PRINT_H

#include "common/grammar.h"

extern const rl_sink_grammar rl_print_sink_grammar;

#endif
