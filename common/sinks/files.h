// SPDX-License-Identifier: Apache-2.0
// The files sink's job-file grammar (`sink: files:`) and its settings.
#ifndef RL_SINKS_FILES_H
#define RL_SINKS_FILES_H

#include "common/grammar.h"

typedef struct rl_files_sink {
	char *f_path; // the output directory; batch T goes to PATH/batch-T
} rl_files_sink;

extern const rl_sink_grammar rl_sink_files_grammar;

#endif
