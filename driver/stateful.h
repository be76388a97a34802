// SPDX-License-Identifier: Apache-2.0
// A job's stateful steps as the batch log records them, and whether a log's
// state fits a job: shared by recovery (driver/runner.c) and by an upgrade
// through `rill submit` (driver/cli/submit.c).
#ifndef RL_STATEFUL_H
#define RL_STATEFUL_H

#include <stdbool.h>
#include <stddef.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"
#include "common/jobfile.h"

// The most stateful steps rl_state_fits compares (a pipeline has at most 16
// stages, each with at most one stateful step).
#define RL_STATEFUL_MAX 16

// rl_step_is_stateful tells whether an operator keeps state across batches.
bool rl_step_is_stateful(rl_op_kind kind);

// rl_stateful_steps fills out[0 .. max) with job's stateful steps, in
// pipeline order, and returns how many; their strings point into the job and
// static tables (the job must outlive them).
size_t rl_stateful_steps(const rl_job *job, Rill__StatefulStep *out, size_t max);

// Where the state that rl_state_fits checks against lives, for its messages:
// "...whose state is in <what> <where>; ..., or start the job with <fresh>".
typedef struct rl_state_store {
	const char *what; // "checkpoint"
	const char *where; // the checkpoint directory, the log's node path
	const char *fresh; // "a new --checkpoint-dir": how to start over
} rl_state_store;

// rl_state_fits checks that job's stateful steps can take over the state
// rec (the log's newest record) describes: none added, removed or changed,
// and the shuffle width that splits the state kept when the job sets one.
// RL_ERR_INVAL with the reason ("FILE:LINE:COL: …" where a step is to blame)
// otherwise.
rl_err rl_state_fits(const rl_job *job, const Rill__BatchRecord *rec, const rl_state_store *store,
    char *errbuf, size_t errlen);

#endif
