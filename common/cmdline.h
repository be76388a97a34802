// SPDX-License-Identifier: Apache-2.0
// What every rill command line shares: option values and the stop signals.
#ifndef RL_CMDLINE_H
#define RL_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

// rl_arg_long parses a whole decimal number from min to max for option opt.
// On error it prints "PROG: OPT: 'S' is not a number from MIN to MAX" to
// stderr and returns false; *ret is written only on success.
bool rl_arg_long(const char *prog, const char *opt, const char *s, long min, long max, long *ret);
// rl_arg_duration parses a positive duration ("500ms", "30s", "5m", "1h").
bool rl_arg_duration(const char *prog, const char *opt, const char *s, int64_t *ret_ms);

// rl_stop_signals routes SIGINT and SIGTERM: the first one calls stop(arg),
// which must be async-signal-safe (set a flag); a second one ends the
// process by that signal at once. SIGPIPE is ignored.
void rl_stop_signals(void (*stop)(void *arg), void *arg);

#endif
