// SPDX-License-Identifier: Apache-2.0
// Cutting the pipeline into stages at shuffles (reduce_by_key, count_by_value,
// update_state_by_key, map_with_state, the windows, repartition, join).
#include "common/plan.h"

#include <stdio.h>

#include "common/alloc.h"
#include "common/sources/kafka.h"

rl_fn
rl_merge_fn_of(rl_fn combine)
{
	return combine == RL_FN_COUNT ? RL_FN_SUM : combine;
}

static bool
runs_in_stage(const rl_step *s)
{
	switch (s->s_kind) {
	case RL_OP_MAP:
	case RL_OP_FLAT_MAP:
	case RL_OP_FILTER:
	case RL_OP_MAP_VALUES:
	case RL_OP_KEY_BY:
		return true;
	default:
		return false;
	}
}

// add_narrow appends narrow step s to stage st and, in stage 0, to the
// inputs of the unions before it, whose tasks run the steps after them.
static void
add_narrow(rl_plan *plan, rl_stage *st, const rl_step *s)
{
	st->st_steps[st->st_nsteps++] = s;
	for (size_t k = 1; plan->p_nstages == 1 && k < plan->p_ninputs; k++)
		plan->p_inputs[k].pi_steps[plan->p_inputs[k].pi_nsteps++] = s;
}

// add_union makes union step s (before the first shuffle) an input of stage
// 0: its tasks read the union's Kafka input, run the steps after it, and
// feed stage 0's output like the job's own source.
static void
add_union(const rl_job *job, rl_plan *plan, const rl_step *s)
{
	rl_plan_input *in = &plan->p_inputs[plan->p_ninputs++];
	in->pi_step = s;
	in->pi_job = *job;
	in->pi_job.j_source = (rl_connector_conf) {
		.c_kind = rl_source_kafka_grammar.name,
		.c_grammar = &rl_source_kafka_grammar,
		.c_conf = s->s_source,
		.c_loc = s->s_loc,
	};
	size_t room = s->s_kind == RL_OP_JOIN ? s->s_nsub : job->j_nsteps;
	in->pi_steps = rl_calloc(room + 1, sizeof(rl_step *));
}

// add_join makes join step s (before the first shuffle) an input of stage 0
// whose tasks read the join's Kafka input and run the join's own pipeline,
// which may hold narrow steps only. Returns the input's index, or -1 with
// the message in errbuf.
static int
add_join(const rl_job *job, rl_plan *plan, const rl_step *s, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < s->s_nsub; i++) {
		const rl_step *sub = &s->s_sub[i];
		if (runs_in_stage(sub))
			continue;
		snprintf(errbuf, errlen,
		    "%s:%d:%d: %s inside a join's pipeline is not supported by this version "
		    "of rill (the other side runs narrow steps only: map, flat_map, filter, "
		    "key_by, map_values)",
		    job->j_filename, sub->s_loc.line, sub->s_loc.col, rl_op_name(sub->s_kind));
		return -1;
	}
	int k = (int)plan->p_ninputs;
	add_union(job, plan, s);
	rl_plan_input *in = &plan->p_inputs[k];
	for (size_t i = 0; i < s->s_nsub; i++)
		in->pi_steps[in->pi_nsteps++] = &s->s_sub[i];
	return k;
}

rl_err
rl_plan_build(const rl_job *job, rl_plan **ret, char *errbuf, size_t errlen)
{
	rl_plan *plan = RL_NEW(rl_plan);
	// At most one stage per shuffle step, plus the first.
	plan->p_stages = rl_calloc(job->j_nsteps + 1, sizeof(rl_stage));
	rl_stage *st = &plan->p_stages[0];
	st->st_input = RL_INPUT_SOURCE;
	st->st_steps = rl_calloc(job->j_nsteps + 1, sizeof(rl_step *));
	plan->p_nstages = 1;
	// Input 0 is the job's source; each union before the first shuffle adds one.
	plan->p_inputs = rl_calloc(job->j_nsteps + 1, sizeof(rl_plan_input));
	plan->p_inputs[0].pi_job = *job;
	plan->p_inputs[0].pi_steps = st->st_steps;
	plan->p_ninputs = 1;

	for (size_t i = 0; i < job->j_nsteps; i++) {
		const rl_step *s = &job->j_steps[i];
		if (runs_in_stage(s)) {
			add_narrow(plan, st, s);
			continue;
		}
		if (s->s_kind == RL_OP_UNION && plan->p_nstages == 1) {
			add_union(job, plan, s);
			continue;
		}
		if (s->s_kind == RL_OP_UNION || (s->s_kind == RL_OP_JOIN && plan->p_nstages > 1)) {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s after a shuffle is not supported by this version of "
			    "rill (put it before the first reduce_by_key, count_by_value, "
			    "update_state_by_key, a window, repartition or join)",
			    job->j_filename, s->s_loc.line, s->s_loc.col, rl_op_name(s->s_kind));
			rl_plan_destroy(plan);
			return RL_ERR_NOTSUP;
		}
		if ((s->s_kind == RL_OP_WINDOW || s->s_kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW
		        || s->s_kind == RL_OP_COUNT_BY_WINDOW)
		    && s->s_event && plan->p_nstages > 1) {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s in event time after a shuffle is not supported by this "
			    "version of rill: a record's event time is its source record's, so "
			    "put the window before the first reduce_by_key, count_by_value, "
			    "update_state_by_key, other window, repartition or join",
			    job->j_filename, s->s_loc.line, s->s_loc.col, rl_op_name(s->s_kind));
			rl_plan_destroy(plan);
			return RL_ERR_NOTSUP;
		}
		rl_fn combine = RL_FN_NONE;
		bool  stateful = false;
		int   join_input = -1;
		// A {udf: NAME} reduction combines with the function the executor
		// binds to the step (st_shuffle_step, st_merge_step).
		if (s->s_kind == RL_OP_REDUCE_BY_KEY || s->s_kind == RL_OP_UPDATE_STATE_BY_KEY
		    || s->s_kind == RL_OP_MAP_WITH_STATE) {
			combine = s->s_fn;
			stateful = s->s_kind != RL_OP_REDUCE_BY_KEY;
		} else if (s->s_kind == RL_OP_REPARTITION) {
			combine = RL_FN_NONE; // records as they are, round robin
		} else if (s->s_kind == RL_OP_JOIN) {
			// Both sides' records as they are, each into its key's bucket.
			if ((join_input = add_join(job, plan, s, errbuf, errlen)) < 0) {
				rl_plan_destroy(plan);
				return RL_ERR_NOTSUP;
			}
			st->st_by_key = true;
		} else if (s->s_kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW) {
			// Map-side combine per batch; the reduce side keeps the
			// window's per-batch partials (executor/window.c).
			combine = s->s_fn;
			stateful = true;
		} else if (s->s_kind == RL_OP_COUNT_BY_WINDOW) {
			// (count, 1) per record, summed per batch, then windowed.
			add_narrow(plan, st, s);
			combine = RL_FN_SUM;
			stateful = true;
		} else if (s->s_kind == RL_OP_WINDOW) {
			// Records as they are, round robin; the reduce side keeps
			// each batch's records for the window's length.
			combine = RL_FN_NONE;
			stateful = true;
		} else if (s->s_kind == RL_OP_COUNT_BY_VALUE) {
			// key = value, value = 1, then summed: one narrow step and a shuffle.
			add_narrow(plan, st, s);
			combine = RL_FN_SUM;
		} else {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s%s%s is not supported by this version of rill",
			    job->j_filename, s->s_loc.line, s->s_loc.col, rl_op_name(s->s_kind),
			    s->s_fn != RL_FN_NONE ? ": " : "",
			    s->s_fn != RL_FN_NONE ? rl_fn_name(s->s_fn) : "");
			rl_plan_destroy(plan);
			return RL_ERR_NOTSUP;
		}
		st->st_output = RL_OUTPUT_SHUFFLE;
		st->st_combine = combine;
		st->st_shuffle_step = s;
		rl_stage *next = &plan->p_stages[plan->p_nstages];
		next->st_id = (uint32_t)plan->p_nstages++;
		next->st_input = RL_INPUT_SHUFFLE;
		next->st_merge = rl_merge_fn_of(combine);
		next->st_merge_step = s;
		next->st_state_step = stateful ? s : NULL;
		if (join_input >= 0) {
			next->st_join_step = s;
			next->st_join_input = (uint32_t)join_input;
		}
		if (s->s_kind == RL_OP_REPARTITION)
			next->st_partitions = (uint32_t)s->s_num;
		next->st_steps = rl_calloc(job->j_nsteps + 1, sizeof(rl_step *));
		st = next;
	}
	st->st_output = RL_OUTPUT_SINK;
	plan->p_inputs[0].pi_nsteps = plan->p_stages[0].st_nsteps;
	*ret = plan;
	return RL_OK;
}

const rl_step *
rl_plan_stateful(const rl_plan *plan)
{
	for (size_t i = 0; i < plan->p_nstages; i++)
		if (plan->p_stages[i].st_state_step != NULL)
			return plan->p_stages[i].st_state_step;
	return NULL;
}

const rl_step *
rl_plan_event_window(const rl_plan *plan)
{
	const rl_step *s = plan->p_nstages > 1 ? plan->p_stages[1].st_state_step : NULL;
	return s != NULL && s->s_event ? s : NULL;
}

void
rl_plan_destroy(rl_plan *plan)
{
	if (plan == NULL)
		return;
	for (size_t i = 0; i < plan->p_nstages; i++)
		rl_free((void *)plan->p_stages[i].st_steps);
	for (size_t k = 1; k < plan->p_ninputs; k++)
		rl_free((void *)plan->p_inputs[k].pi_steps);
	rl_free(plan->p_inputs);
	rl_free(plan->p_stages);
	rl_free(plan);
}
