// SPDX-License-Identifier: Apache-2.0
// The driver's half of each sink: preparing a batch's output and committing
// it once every task of the batch has succeeded.
#ifndef RL_COMMIT_H
#define RL_COMMIT_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "common/kafka.h"
#include "driver/executors.h"
#include "driver/scheduler.h"

// rl_commit_prepare clears what an earlier, unfinished attempt of the batch
// left behind (files: the temporary batch directory) and makes room for it.
rl_err rl_commit_prepare(const rl_job *job, int64_t batch_ms, char *errbuf, size_t errlen);

// rl_commit_batch publishes the batch: files renames the temporary directory
// to P/batch-T (replacing an earlier one atomically) and fsyncs; print writes
// the first records of the last stage's tasks, in partition order, to out.
rl_err rl_commit_batch(const rl_job *job, int64_t batch_ms, const rl_sched_task *tasks, size_t n,
    FILE *out, char *errbuf, size_t errlen);

// ---- exactly-once Kafka sink: two-phase commit of the tasks' transactions ----

// rl_commit_kafka_finish asks the executors that ran tasks[0..n) of stage
// (the last) to commit (or abort) the transactions those tasks left
// prepared for batch_ms. failed[i] says which did not report success (their
// executor is gone, or it no longer had the transaction); returns how many.
size_t rl_commit_kafka_finish(rl_pool *pool, const rl_job *job, int64_t batch_ms, uint32_t stage,
    const rl_sched_task *tasks, size_t n, bool commit, bool *failed);

// rl_commit_kafka_committed tells from the task's commit marker (sink_meta
// is a client of the sink's cluster) whether the sink task of partition
// committed batch_ms.
rl_err rl_commit_kafka_committed(rl_kafka_meta *sink_meta, const rl_job *job, uint32_t partition,
    int64_t batch_ms, bool *ret, char *errbuf, size_t errlen);

#endif
