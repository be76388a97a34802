// SPDX-License-Identifier: Apache-2.0
// Fault injection for tests: RILL_FAULT="point:probability[,point:probability…]"
// makes the process SIGKILL itself at a named point, e.g. between a sink's
// commit and the checkpoint's done record, where no outside signal can aim.
#ifndef RL_FAULT_H
#define RL_FAULT_H

// rl_fault_point kills the process (SIGKILL, after one log line) with the
// probability RILL_FAULT gives point; does nothing when it names no such point.
void rl_fault_point(const char *point);

#endif
