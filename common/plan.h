// SPDX-License-Identifier: Apache-2.0
// A job's pipeline cut into stages at each shuffle. Driver and executors build
// the same plan from the same job file, so a stage number means the same thing
// on both sides.
#ifndef RL_PLAN_H
#define RL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/jobfile.h"

typedef enum rl_input_kind {
	RL_INPUT_SOURCE, // stage 0: one task per range of a split of the job's source
	RL_INPUT_SHUFFLE, // one task per reduce partition, fetching from every map task
} rl_input_kind;

typedef enum rl_output_kind {
	RL_OUTPUT_SHUFFLE, // hash-partitioned blocks kept by the executor
	RL_OUTPUT_SINK, // the job's sink
} rl_output_kind;

typedef struct rl_stage {
	uint32_t      st_id;
	rl_input_kind st_input;
	// RL_INPUT_SHUFFLE: merges partial values of a key (sum|min|max|udf), or
	// RL_FN_NONE: the records come as they were written (repartition)
	rl_fn          st_merge;
	const rl_step *st_merge_step; // RL_INPUT_SHUFFLE: the step whose function that is
	// RL_INPUT_SHUFFLE: the stage's tasks (reduce partitions) as the job
	// fixes them (repartition: N), or 0 for the batch's shuffle width
	uint32_t        st_partitions;
	const rl_step **st_steps; // narrow operators, in order (point into the job)
	size_t          st_nsteps;
	rl_output_kind  st_output;
	// RL_OUTPUT_SHUFFLE: map-side combine (sum|min|max|count|udf), or
	// RL_FN_NONE: every record as it is, dealt round robin (repartition) or,
	// with st_by_key, into its key's bucket (join: both sides)
	rl_fn          st_combine;
	bool           st_by_key;
	const rl_step *st_shuffle_step; // the step that cut the stage, for messages
	// update_state_by_key, map_with_state: this stage folds every batch
	// into per-key state kept across batches and emits every key's state;
	// st_merge is the fold. The windows (window, reduce_by_key_and_window,
	// count_by_window): it keeps the window's per-batch data and emits the
	// window at each slide. NULL for a stateless stage.
	const rl_step *st_state_step;
	// join: this stage joins its shuffle input by key. The map outputs of
	// input st_join_input's tasks are the join's other (right) side, every
	// other map output this stream's (left) side. NULL for any other stage.
	const rl_step *st_join_step;
	uint32_t       st_join_input;
} rl_stage;

// One input of stage 0: the job's source (input 0), or the Kafka input of
// a `union` or `join` step (inputs 1, 2, … in the order of the pipeline's
// union and join steps). A stage-0 task reads ranges of one input and runs
// that input's steps; all inputs feed the same stage-0 output.
typedef struct rl_plan_input {
	const rl_step *pi_step; // the union or join step, or NULL for the job's source
	rl_job         pi_job; // the job as the input's connector halves see it
	// input 0: stage 0's st_steps; a union's: the stage-0 steps after it; a
	// join's: its own pipeline (s_sub)
	const rl_step **pi_steps;
	size_t          pi_nsteps;
} rl_plan_input;

// Borrows from the job: destroy the plan before the job.
typedef struct rl_plan {
	rl_stage      *p_stages;
	size_t         p_nstages;
	rl_plan_input *p_inputs; // at least one: the job's source
	size_t         p_ninputs;
} rl_plan;

// rl_plan_build cuts job's pipeline into stages. A step this version cannot
// run yet is RL_ERR_NOTSUP with "FILE:LINE:COL: …" in errbuf.
rl_err rl_plan_build(const rl_job *job, rl_plan **ret, char *errbuf, size_t errlen);
void   rl_plan_destroy(rl_plan *plan);

// rl_plan_width is how many partitions stage s has when it reads a shuffle
// (st_partitions, else the batch's shuffle width default_width).
static inline uint32_t
rl_plan_width(const rl_plan *plan, size_t s, uint32_t default_width)
{
	return plan->p_stages[s].st_partitions > 0 ? plan->p_stages[s].st_partitions
	                                           : default_width;
}

// rl_plan_event_window is the job's event-time window step (time: event or
// {json: PATH}), or NULL. There is at most one: it must be stage 1's, right
// after the source, where the records still carry their event time.
const rl_step *rl_plan_event_window(const rl_plan *plan);

// rl_plan_stateful returns the first stateful stage's step, or NULL.
const rl_step *rl_plan_stateful(const rl_plan *plan);

// rl_merge_fn_of is the reduce-side function for a map-side combine function
// (count is summed on the reduce side; a udf merges with itself).
rl_fn rl_merge_fn_of(rl_fn combine);

#endif
