// SPDX-License-Identifier: Apache-2.0
// Fault injection for tests: RILL_FAULT="point:probability[:stop][,…]"
// makes the process SIGKILL itself at a named point, e.g. between a sink's
// commit and the checkpoint's done record, where no outside signal can aim.
// With ":stop" it SIGSTOPs itself there instead (once per process), as a GC
// pause or a frozen VM would stop it, and goes on from that very point when
// it gets SIGCONT: a zombie leader between its check and its act.
// "point:hang" makes the thread that passes it block there for ever (a call
// into a library that never returns). A hermetic test installs a hook
// instead, which decides in-process.
#ifndef RL_FAULT_H
#define RL_FAULT_H

#include <stdbool.h>

// rl_fault_point kills (or stops) the process (SIGKILL or SIGSTOP, after one
// log line) with the probability RILL_FAULT gives point; does nothing when it
// names no such point; never returns if it says "hang". With a hook installed, asks the hook
// instead and returns its answer: true means "the process dies here", and the caller must stop at
// once as a crash would, leaving what it did behind as it is.
bool rl_fault_point(const char *point);

// rl_fault_hook installs hook (NULL: none), called with every point a
// process passes. For tests that crash a component inside their own
// process. @locality any thread calls the hook
typedef bool (*rl_fault_hook_fn)(void *arg, const char *point);
void rl_fault_hook(rl_fault_hook_fn hook, void *arg);

#endif
