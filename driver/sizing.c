// SPDX-License-Identifier: Apache-2.0
// The default shuffle width and the grouping of small ranges (see sizing.h).
#include "driver/sizing.h"

#include "common/alloc.h"
#include "common/jobfile.h"

uint32_t
rl_shuffle_width_default(size_t splits, int slots)
{
	size_t width = splits;
	if (slots > 0 && (size_t)slots < width)
		width = (size_t)slots;
	if (width < 1)
		width = 1;
	return (uint32_t)(width < RL_PARTITIONS_MAX ? width : RL_PARTITIONS_MAX);
}

uint32_t
rl_shuffle_width_for(uint32_t width, int64_t records)
{
	int64_t need = records <= 0 ? 1 : (records + RL_REDUCE_RECORDS - 1) / RL_REDUCE_RECORDS;
	return need < (int64_t)width ? (uint32_t)need : width;
}

// The task being filled for one preferred executor.
typedef struct open_task {
	uint32_t o_task; // RL_NO_TASK: none yet
	int64_t  o_cost;
} open_task;

size_t
rl_group_ranges(
    const int64_t *records, const int *preferred, size_t n, int slots, uint32_t *ret_task)
{
	int64_t total = 0;
	int     max_preferred = -1;
	for (size_t i = 0; i < n; i++) {
		if (records[i] <= 0)
			continue;
		total += records[i] + RL_TASK_OPEN_RECORDS;
		if (preferred[i] > max_preferred)
			max_preferred = preferred[i];
	}
	int64_t target = 0; // 0: a task per range
	if (slots > 0) {
		target = (total + slots - 1) / slots;
		if (target < RL_TASK_OPEN_RECORDS)
			target = RL_TASK_OPEN_RECORDS;
		if (target > RL_TASK_MAX_RECORDS)
			target = RL_TASK_MAX_RECORDS;
	}
	// open[0] is for ranges with no preferred executor, open[e + 1] for e's.
	size_t     nopen = (size_t)max_preferred + 2;
	open_task *open = rl_calloc(nopen, sizeof(open_task));
	for (size_t k = 0; k < nopen; k++)
		open[k].o_task = RL_NO_TASK;
	uint32_t ntasks = 0;
	for (size_t i = 0; i < n; i++) {
		if (records[i] <= 0) {
			ret_task[i] = RL_NO_TASK;
			continue;
		}
		int64_t cost = records[i] + RL_TASK_OPEN_RECORDS;
		if (cost >= target) { // a task's worth: alone
			ret_task[i] = ntasks++;
			continue;
		}
		// It joins its executor's open task if that leaves the task nearer
		// the target than it is (half of it fits) and below the largest.
		open_task *o = &open[preferred[i] >= 0 ? (size_t)preferred[i] + 1 : 0];
		if (o->o_task == RL_NO_TASK || o->o_cost + cost / 2 > target
		    || o->o_cost + cost > RL_TASK_MAX_RECORDS) {
			o->o_task = ntasks++;
			o->o_cost = 0;
		}
		o->o_cost += cost;
		ret_task[i] = o->o_task;
	}
	rl_free(open);
	return ntasks;
}
