// SPDX-License-Identifier: Apache-2.0
// How big a batch's stages are: the shuffle width when the job sets none,
// and which small ranges share a stage-0 task. Pure functions; the
// reasoning is in docs/architecture.md ("Sizing the stages").
#ifndef RL_SIZING_H
#define RL_SIZING_H

#include <stddef.h>
#include <stdint.h>

// A task's fixed cost (its launch and answer, opening the split's reader,
// the shuffle output) counted in records, as Spark's
// spark.sql.files.openCostInBytes counts a file's: about what a word count
// does in the time a task with nothing to read takes.
#define RL_TASK_OPEN_RECORDS 1000
// Ranges are grouped into a task up to this many records (a bigger range is
// a task of its own, never split): Spark's maxPartitionBytes.
#define RL_TASK_MAX_RECORDS 1000000
// What rl_group_ranges gives a range that needs no task (it is empty).
#define RL_NO_TASK UINT32_MAX

// rl_shuffle_width_default is the shuffle width of a job that sets no
// shuffle_partitions: the input's splits, but no more than the task slots
// (cores) of the live executors, so that a reduce stage runs in one wave;
// splits if slots <= 0 (no executor to size by). Between 1 and
// RL_PARTITIONS_MAX.
uint32_t rl_shuffle_width_default(size_t splits, int slots);

// Input records per reduce task below which a batch's default shuffle
// width shrinks: a trickle of 20 records over 1,024 partitions ran 32
// reduce tasks, each a launch, a fetch from every map task and a sink part.
#define RL_REDUCE_RECORDS 5000

// rl_shuffle_width_for is the width of a batch of `records` input records
// whose default width is `width`: one reduce task per RL_REDUCE_RECORDS
// (rounded up), at least 1, at most width (Spark's adaptive coalescing of
// small shuffle partitions, decided before the batch runs).
uint32_t rl_shuffle_width_for(uint32_t width, int64_t records);

// rl_group_ranges decides the stage-0 tasks of a batch whose n ranges hold
// records[i] records each (0: empty, no task) and were read last by
// executor preferred[i] (-1: none). Like Spark's packing of small files into
// one partition: each range costs its records plus RL_TASK_OPEN_RECORDS, and
// the target of a task is the total cost shared by the slots (at least one
// open cost, at most RL_TASK_MAX_RECORDS). A range that costs the target or
// more is a task of its own; smaller ones of one preferred executor share a
// task, in order, while half of the next one still fits the target and the
// task stays within RL_TASK_MAX_RECORDS, so a task keeps the locality of its
// ranges and the tasks about fill the slots once. With slots <= 0 every
// non-empty range is a task of its own. Writes each range's task (0 ..
// count-1, numbered in the order of their first range; RL_NO_TASK for an
// empty range) to ret_task[i] and returns the count.
size_t rl_group_ranges(
    const int64_t *records, const int *preferred, size_t n, int slots, uint32_t *ret_task);

#endif
