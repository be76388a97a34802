// SPDX-License-Identifier: Apache-2.0
// Option values and the graceful-then-abort stop signals of rill's commands.
#include "common/cmdline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/time.h"

bool
rl_arg_long(const char *prog, const char *opt, const char *s, long min, long max, long *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: %s: '%s' is not a number from %ld to %ld\n", prog, opt, s, min,
		    max);
		return false;
	}
	*ret = v;
	return true;
}

bool
rl_arg_duration(const char *prog, const char *opt, const char *s, int64_t *ret_ms)
{
	int64_t ms;
	if (rl_parse_duration_ms(s, &ms) != RL_OK || ms == 0) {
		fprintf(stderr, "%s: %s: '%s' is not a duration (e.g. 500ms, 30s, 5m, 1h)\n", prog,
		    opt, s);
		return false;
	}
	*ret_ms = ms;
	return true;
}

static void (*volatile stop_fn)(void *);
static void *volatile stop_arg;
static volatile sig_atomic_t stops_seen;

static void
on_stop_signal(int sig)
{
	if (stops_seen++ == 0 && stop_fn != NULL) {
		stop_fn(stop_arg);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
rl_stop_signals(void (*stop)(void *arg), void *arg)
{
	stop_arg = arg;
	stop_fn = stop;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
