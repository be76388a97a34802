// SPDX-License-Identifier: Apache-2.0
// The registry of sinks' executor halves, and their per-executor resources.
#include "executor/sink.h"

#include <string.h>

#include "common/alloc.h"
#include "common/connector.h"

#define RL_SINK_DECL(name) extern const rl_sink_ops rl_sink_##name##_exec;
RL_SINK_LIST(RL_SINK_DECL)
#undef RL_SINK_DECL

#define RL_SINK_ENTRY(name) &rl_sink_##name##_exec,
static const rl_sink_ops *builtin[] = { RL_SINK_LIST(RL_SINK_ENTRY) };
#undef RL_SINK_ENTRY

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))
#define MAX_ADDED 8
static const rl_sink_ops *added[MAX_ADDED];
static size_t             nadded;

const rl_sink_ops *
rl_sink_exec_find(const char *name)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin[i]->s_name, name) == 0)
			return builtin[i];
	for (size_t i = 0; i < nadded; i++)
		if (strcmp(added[i]->s_name, name) == 0)
			return added[i];
	return NULL;
}

void
rl_sink_exec_add(const rl_sink_ops *ops)
{
	if (nadded < MAX_ADDED && rl_sink_exec_find(ops->s_name) == NULL)
		added[nadded++] = ops;
}

// Made whole at create, never changed after: readers need no lock.
struct rl_sink_shared {
	const rl_sink_ops *ss_ops[NBUILTIN + MAX_ADDED];
	void              *ss_res[NBUILTIN + MAX_ADDED];
	size_t             ss_n;
};

rl_sink_shared *
rl_sink_shared_create(void)
{
	rl_sink_shared *sh = RL_NEW(rl_sink_shared);
	for (size_t i = 0; i < NBUILTIN + nadded; i++) {
		const rl_sink_ops *ops = i < NBUILTIN ? builtin[i] : added[i - NBUILTIN];
		sh->ss_ops[sh->ss_n] = ops;
		sh->ss_res[sh->ss_n++]
		    = ops->s_shared_create != NULL ? ops->s_shared_create() : NULL;
	}
	return sh;
}

void
rl_sink_shared_destroy(rl_sink_shared *sh)
{
	if (sh == NULL)
		return;
	for (size_t i = 0; i < sh->ss_n; i++)
		if (sh->ss_res[i] != NULL)
			sh->ss_ops[i]->s_shared_destroy(sh->ss_res[i]);
	rl_free(sh);
}

void *
rl_sink_shared_get(rl_sink_shared *sh, const rl_sink_ops *ops)
{
	for (size_t i = 0; i < sh->ss_n; i++)
		if (sh->ss_ops[i] == ops)
			return sh->ss_res[i];
	return NULL;
}
