// SPDX-License-Identifier: Apache-2.0
// driver/stateful: which steps keep state, and the reasons a log's state does
// not fit a job (the words `rill run` and `rill submit` print).
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "driver/stateful.h"

static rl_job *
parse(const char *steps, const char *extra)
{
	char    text[1024], err[512] = "";
	int     len = snprintf(text, sizeof(text),
	        "name: totals\nbatch: 1s\nsource:\n  kafka: {brokers: \"b:1\", topics: [t]}\n"
	            "pipeline:\n%ssink:\n  print: {}\n%s",
	        steps, extra);
	rl_job *job = NULL;
	rl_err  rv = rl_job_parse(text, (size_t)len, "job.yaml", &job, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	return job;
}

// record_of is the record a log holds after a batch of job, split width ways.
static Rill__BatchRecord
record_of(const rl_job *job, Rill__StatefulStep *steps, Rill__StatefulStep **ptrs, uint32_t width)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.shuffle_partitions = width;
	rec.n_stateful_steps = rl_stateful_steps(job, steps, RL_STATEFUL_MAX);
	for (size_t i = 0; i < rec.n_stateful_steps; i++)
		ptrs[i] = &steps[i];
	rec.stateful_steps = ptrs;
	return rec;
}

static const rl_state_store checkpoint
    = { .what = "checkpoint", .where = "/ckp", .fresh = "a new --checkpoint-dir" };

Test(stateful, steps_are_listed_in_pipeline_order_with_their_position)
{
	rl_job            *job = parse("  - map_values: one\n  - update_state_by_key: sum\n"
	                                          "  - count_by_window: {length: 2s, slide: 1s}\n",
	               "");
	Rill__StatefulStep steps[RL_STATEFUL_MAX];
	cr_assert_eq(rl_stateful_steps(job, steps, RL_STATEFUL_MAX), 2);
	cr_assert_str_eq(steps[0].op, "update_state_by_key");
	cr_assert_str_eq(steps[0].fn, "sum");
	cr_assert_eq(steps[0].index, 1);
	cr_assert_eq(steps[0].line, 7);
	cr_assert_eq(steps[0].col, 5);
	cr_assert_str_eq(steps[1].op, "count_by_window");
	cr_assert_neq(steps[0].fingerprint, steps[1].fingerprint);
	rl_job_destroy(job);
}

Test(stateful, the_same_steps_fit_and_stateless_changes_do_not_matter)
{
	rl_job *was = parse(
	    "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 8\n");
	rl_job            *is = parse("  - filter: nonempty\n  - map_values: one\n"
	                                         "  - update_state_by_key: sum\n",
	               "shuffle_partitions: 8\n");
	Rill__StatefulStep steps[RL_STATEFUL_MAX], *ptrs[RL_STATEFUL_MAX];
	Rill__BatchRecord  rec = record_of(was, steps, ptrs, 8);
	char               err[1024] = "";
	cr_assert_eq(rl_state_fits(is, &rec, &checkpoint, err, sizeof(err)), RL_OK, "%s", err);
	rl_job_destroy(was);
	rl_job_destroy(is);
}

// The messages `rill run` printed before the check moved here, word for word.
Test(stateful, refusals_name_the_step_and_the_store)
{
	rl_job *was = parse(
	    "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 8\n");
	Rill__StatefulStep steps[RL_STATEFUL_MAX], *ptrs[RL_STATEFUL_MAX];
	Rill__BatchRecord  rec = record_of(was, steps, ptrs, 8);
	char               err[1024];
	struct {
		const char *steps, *extra, *want;
	} cases[] = {
		{ "  - map_values: one\n  - update_state_by_key: min\n", "shuffle_partitions: 8\n",
		    "job.yaml:7:5: update_state_by_key: min differs from the update_state_by_key: "
		    "sum "
		    "whose state is in checkpoint /ckp, and state cannot carry over to a changed "
		    "step; restore the step as it was, or start the job with a new "
		    "--checkpoint-dir" },
		{ "  - map_values: one\n", "",
		    "job.yaml: the job no longer has the update_state_by_key: sum (was at line 7) "
		    "whose state is in checkpoint /ckp; put the step back, or start the job with a "
		    "new --checkpoint-dir" },
		{ "  - map_values: one\n  - update_state_by_key: sum\n"
		  "  - map_with_state: {fn: sum, timeout: 10m}\n",
		    "shuffle_partitions: 8\n",
		    "job.yaml:8:5: map_with_state: sum is new, and checkpoint /ckp was written "
		    "without it; start the job with a new --checkpoint-dir to add a stateful "
		    "step" },
		{ "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 4\n",
		    "job.yaml: shuffle_partitions is 4 but the state in checkpoint /ckp is split 8 "
		    "ways; keep shuffle_partitions: 8, or start with a new --checkpoint-dir" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rl_job *is = parse(cases[i].steps, cases[i].extra);
		err[0] = '\0';
		cr_assert_eq(rl_state_fits(is, &rec, &checkpoint, err, sizeof(err)), RL_ERR_INVAL,
		    "case %zu", i);
		cr_assert_str_eq(err, cases[i].want, "case %zu", i);
		rl_job_destroy(is);
	}
	rl_job_destroy(was);
}

// A window's length, slide and inverse shape its state: changing any of them
// is refused with that reason; the same window fits.
Test(stateful, a_changed_window_is_refused_with_the_reason)
{
	const char *was_step
	    = "  - map_values: one\n"
	      "  - reduce_by_key_and_window: {fn: sum, length: 3s, slide: 1s, inverse: true}\n";
	const char *changed[] = {
		"  - map_values: one\n"
		"  - reduce_by_key_and_window: {fn: sum, length: 4s, slide: 1s, inverse: true}\n",
		"  - map_values: one\n"
		"  - reduce_by_key_and_window: {fn: sum, length: 3s, slide: 3s, inverse: true}\n",
		"  - map_values: one\n"
		"  - reduce_by_key_and_window: {fn: sum, length: 3s, slide: 1s}\n",
	};
	rl_job            *was = parse(was_step, "");
	Rill__StatefulStep steps[RL_STATEFUL_MAX], *ptrs[RL_STATEFUL_MAX];
	Rill__BatchRecord  rec = record_of(was, steps, ptrs, 4);
	char               err[1024] = "";
	rl_job            *same = parse(was_step, "");
	cr_assert_eq(rl_state_fits(same, &rec, &checkpoint, err, sizeof(err)), RL_OK, "%s", err);
	rl_job_destroy(same);
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		rl_job *is = parse(changed[i], "");
		cr_assert_eq(rl_state_fits(is, &rec, &checkpoint, err, sizeof(err)), RL_ERR_INVAL,
		    "%s", changed[i]);
		cr_assert_str_eq(err,
		    "job.yaml:7:5: reduce_by_key_and_window: its length, slide, inverse or time "
		    "differ "
		    "from those of the window whose state is in checkpoint /ckp (the state holds "
		    "a partial per batch of that length), and state cannot carry over to a "
		    "changed window; restore the window as it was, or start the job with a new "
		    "--checkpoint-dir");
		rl_job_destroy(is);
	}
	// Another function is named as such.
	rl_job *fn = parse("  - map_values: one\n"
	                   "  - reduce_by_key_and_window: {fn: count, length: 3s, slide: 1s, "
	                   "inverse: true}\n",
	    "");
	cr_assert_eq(rl_state_fits(fn, &rec, &checkpoint, err, sizeof(err)), RL_ERR_INVAL);
	cr_assert_not_null(strstr(err,
	                       "reduce_by_key_and_window: count differs from the "
	                       "reduce_by_key_and_window: sum"),
	    "%s", err);
	rl_job_destroy(fn);
	rl_job_destroy(was);
}
