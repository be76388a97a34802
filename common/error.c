// SPDX-License-Identifier: Apache-2.0
// Error texts, generated from RL_ERR_MAP so they cannot drift from the enum.
#include "common/error.h"

static const char *const texts[] = {
#define RL_ERR_TEXT(name, text) [RL_ERR_##name] = text,
	RL_ERR_MAP(RL_ERR_TEXT)
#undef RL_ERR_TEXT
};

static const char *const names[] = {
#define RL_ERR_NAME(name, text) [RL_ERR_##name] = #name,
	RL_ERR_MAP(RL_ERR_NAME)
#undef RL_ERR_NAME
};

const char *
rl_strerror(int err)
{
	if (err < 0 || err >= RL_ERR__COUNT)
		return "unknown error";
	return texts[err];
}

const char *
rl_errname(int err)
{
	if (err < 0 || err >= RL_ERR__COUNT)
		return "UNKNOWN";
	return names[err];
}
