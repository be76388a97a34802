// SPDX-License-Identifier: Apache-2.0
// The registry of sources' executor halves.
#include "executor/source.h"

#include <string.h>

#define RL_SOURCE_DECL(name) extern const rl_source_exec_ops rl_source_##name##_exec;
RL_SOURCE_LIST(RL_SOURCE_DECL)
#undef RL_SOURCE_DECL

#define RL_SOURCE_ENTRY(name) &rl_source_##name##_exec,
static const rl_source_exec_ops *builtin[] = { RL_SOURCE_LIST(RL_SOURCE_ENTRY) };
#undef RL_SOURCE_ENTRY

#define MAX_ADDED 8
static const rl_source_exec_ops *added[MAX_ADDED];
static size_t                    nadded;

rl_split_range
rl_source_range(const Rill__Split *sp)
{
	return (rl_split_range) {
		.sr_kind = sp->kind,
		.sr_id = sp->id,
		.sr_from = sp->from,
		.sr_until = sp->until,
		.sr_opaque = sp->opaque.data,
		.sr_opaque_len = sp->opaque.len,
		.sr_end_seen = sp->end_seen,
	};
}

const rl_source_exec_ops *
rl_source_exec_find(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i]->se_name, name) == 0)
			return builtin[i];
	for (size_t i = 0; i < nadded; i++)
		if (strcmp(added[i]->se_name, name) == 0)
			return added[i];
	return NULL;
}

void
rl_source_exec_add(const rl_source_exec_ops *ops)
{
	if (nadded < MAX_ADDED && rl_source_exec_find(ops->se_name) == NULL)
		added[nadded++] = ops;
}
