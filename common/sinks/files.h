// SPDX-License-Identifier: Apache-2.0
// The files sink's job-file grammar (`sink: files:`).
#ifndef RL_SINKS_FILES_H
#define RL_SINKS_FILES_H

#include "common/grammar.h"

extern const rl_sink_grammar rl_files_sink_grammar;

#endif
