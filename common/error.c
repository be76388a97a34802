// SPDX-License-Identifier: Apache-2.0
// Error texts, generated from RL_ERR_MAP so they cannot drift from the enum.
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

// Switches, not arrays indexed by value: a gap in the values is simply an unknown code, and
// two codes given the same value do not compile (duplicate case).

bool
rl_err_known(int err)
{
	switch (err) {
#define RL_ERR_KNOWN(name, value, text)                                                            \
	case value:                                                                                \
		return true;
		RL_ERR_MAP(RL_ERR_KNOWN)
#undef RL_ERR_KNOWN
	}
	return false;
}

const char *
rl_strerror(int err)
{
	switch (err) {
#define RL_ERR_TEXT(name, value, text)                                                             \
	case value:                                                                                \
		return text;
		RL_ERR_MAP(RL_ERR_TEXT)
#undef RL_ERR_TEXT
	}
	return "unknown error";
}

const char *
rl_errname(int err)
{
	switch (err) {
#define RL_ERR_NAME(name, value, text)                                                             \
	case value:                                                                                \
		return #name;
		RL_ERR_MAP(RL_ERR_NAME)
#undef RL_ERR_NAME
	}
	return "UNKNOWN";
}

void
rl_errbuf_printf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (errbuf == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}
