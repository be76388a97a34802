// SPDX-License-Identifier: Apache-2.0
// The sink registry.
#include "executor/sink.h"

static const rl_sink_ops *const registry[] = {
	&rl_sink_files,
	&rl_sink_print,
	&rl_sink_kafka,
};

const rl_sink_ops *
rl_sink_lookup(rl_sink_kind kind)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (registry[i]->s_kind == kind)
			return registry[i];
	return NULL;
}
