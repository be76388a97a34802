// SPDX-License-Identifier: Apache-2.0
// RILL_FAULT parsing and self-inflicted SIGKILLs (see fault.h).
#include "common/fault.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static _Atomic(rl_fault_hook_fn) hook;
static void *_Atomic             hook_arg;

void
rl_fault_hook(rl_fault_hook_fn fn, void *arg)
{
	hook_arg = arg;
	hook = fn;
}

// stopped_once says whether this process froze itself already (one SIGSTOP
// per process: a frozen zombie that resumed must go on to show what it does).
static atomic_bool stopped_once;

bool
rl_fault_point(const char *point)
{
	rl_fault_hook_fn fn = hook;
	if (fn != NULL)
		return fn(hook_arg, point);
	const char *spec = getenv("RILL_FAULT");
	if (spec == NULL)
		return false;
	size_t len = strlen(point);
	for (const char *p = spec; p != NULL && *p != '\0';
	     p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, point, len) != 0 || p[len] != ':')
			continue;
		const char *action = p + len + 1;
		if (strncmp(action, "hang", 4) == 0 && (action[4] == ',' || action[4] == '\0')) {
			rl_warn("fault", "hanging here for ever (RILL_FAULT)", "point=%s", point);
			for (;;)
				pause();
		}
		char  *end;
		double probability = strtod(action, &end);
		bool   stop = strncmp(end, ":stop", 5) == 0 && (end[5] == ',' || end[5] == '\0');
		if (stop && atomic_load(&stopped_once))
			return false;
		static unsigned seed;
		if (seed == 0)
			seed = (unsigned)time(NULL) ^ (unsigned)getpid();
		if ((double)rand_r(&seed) / RAND_MAX >= probability)
			return false;
		if (stop) {
			atomic_store(&stopped_once, true);
			rl_warn("fault", "stopping this process (RILL_FAULT)", "point=%s", point);
			raise(SIGSTOP);
			rl_warn("fault", "resumed (RILL_FAULT)", "point=%s", point);
			return false;
		}
		rl_warn("fault", "killing this process (RILL_FAULT)", "point=%s", point);
		raise(SIGKILL);
		return false;
	}
	return false;
}
