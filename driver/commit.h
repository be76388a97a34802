// SPDX-License-Identifier: Apache-2.0
// The driver's half of each sink: preparing a batch's output and committing
// it once every task of the batch has succeeded.
#ifndef RL_COMMIT_H
#define RL_COMMIT_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "driver/scheduler.h"

// rl_commit_prepare clears what an earlier, unfinished attempt of the batch
// left behind (files: the temporary batch directory) and makes room for it.
rl_err rl_commit_prepare(const rl_job *job, int64_t batch_ms, char *errbuf, size_t errlen);

// rl_commit_batch publishes the batch: files renames the temporary directory
// to P/batch-T (replacing an earlier one atomically) and fsyncs; print writes
// the first records of the last stage's tasks, in partition order, to out.
rl_err rl_commit_batch(const rl_job *job, int64_t batch_ms, const rl_sched_task *tasks, size_t n,
    FILE *out, char *errbuf, size_t errlen);

#endif
