// SPDX-License-Identifier: Apache-2.0
// The batch loop: clock, ranges, stages, retries of lost shuffle outputs, commit.
#include "driver/driver.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/sysinfo.h"
#include "common/time.h"
#include "driver/commit.h"
#include "driver/executors.h"
#include "driver/input.h"
#include "driver/offset_range.h"
#include "driver/scheduler.h"

#define COMP "driver"
#define MAX_STAGE_ROUNDS 4

struct rl_driver {
	const rl_job        *d_job;
	rl_driver_opts       d_opts;
	rl_plan             *d_plan;
	rl_input            *d_input;
	rl_pool             *d_pool;
	rl_sched_opts        d_sched;
	volatile sig_atomic_t d_stop;
};

// One batch in flight: its tasks per stage and where each map task read from.
typedef struct batch {
	int64_t        b_time_ms;
	rl_arena       b_arena;   // launches and their fields
	rl_sched_task *b_tasks[16];
	size_t         b_ntasks[16];
	size_t        *b_part_of_map; // stage-0 task -> input partition index
	int64_t       *b_until;       // per stage-0 task
	uint32_t       b_nreduce;
} batch;

rl_err
rl_driver_create(const rl_job *job, const rl_driver_opts *opts, rl_driver **ret, char *errbuf,
    size_t errlen)
{
	rl_driver *d = RL_NEW(rl_driver);
	rl_err rv;
	d->d_job = job;
	d->d_opts = *opts;
	if (d->d_opts.print_out == NULL)
		d->d_opts.print_out = stdout;
	if (d->d_opts.epoch == 0)
		d->d_opts.epoch = 1;
	d->d_sched = (rl_sched_opts){
		.max_attempts = 4,
		.task_timeout_ms = 0,
		.no_executor_timeout_ms = 60000,
	};
	if (job->j_sink.k_kind == RL_SINK_KAFKA) {
		snprintf(errbuf, errlen, "%s:%d:%d: the kafka sink is not supported by this version",
		    job->j_filename, job->j_sink.k_loc.line, job->j_sink.k_loc.col);
		rv = RL_ERR_NOTSUP;
		goto err_driver;
	}
	if ((rv = rl_plan_build(job, &d->d_plan, errbuf, errlen)) != RL_OK)
		goto err_driver;
	if (d->d_plan->p_nstages > 16) {
		snprintf(errbuf, errlen, "%s: more than 15 shuffles in one pipeline", job->j_filename);
		rv = RL_ERR_NOTSUP;
		goto err_driver;
	}
	if ((rv = rl_input_create(&job->j_source, &d->d_input, errbuf, errlen)) != RL_OK)
		goto err_driver;
	if ((rv = rl_pool_create(opts->listen_url, 10000, &d->d_pool, errbuf, errlen)) != RL_OK)
		goto err_driver;
	*ret = d;
	return RL_OK;
err_driver:
	rl_driver_destroy(d);
	return rv;
}

const char *
rl_driver_url(const rl_driver *d)
{
	return rl_pool_url(d->d_pool);
}

void
rl_driver_stop(rl_driver *d)
{
	d->d_stop = 1;
}

void
rl_driver_destroy(rl_driver *d)
{
	if (d == NULL)
		return;
	rl_pool_destroy(d->d_pool);
	rl_input_destroy(d->d_input);
	rl_plan_destroy(d->d_plan);
	rl_free(d);
}

// ---- building tasks ----

static Rill__TaskLaunch *
new_launch(rl_driver *d, batch *b, uint32_t stage, uint32_t partition)
{
	Rill__TaskLaunch *tl = rl_arena_alloc(&b->b_arena, sizeof(*tl));
	rill__task_launch__init(tl);
	tl->epoch = d->d_opts.epoch;
	tl->job = d->d_job->j_name;
	tl->batch_time_ms = b->b_time_ms;
	tl->stage = stage;
	tl->partition = partition;
	tl->job_spec.data = (uint8_t *)d->d_job->j_text;
	tl->job_spec.len = d->d_job->j_text_len;
	tl->spec_hash = d->d_job->j_spec_hash;
	tl->num_stages = (uint32_t)d->d_plan->p_nstages;
	tl->retain_from_batch_ms = b->b_time_ms;
	if (d->d_plan->p_stages[stage].st_output == RL_OUTPUT_SHUFFLE)
		tl->num_output_partitions = b->b_nreduce;
	return tl;
}

static rl_sched_task *
new_tasks(size_t n)
{
	rl_sched_task *tasks = rl_calloc(n + 1, sizeof(rl_sched_task));
	for (size_t i = 0; i < n; i++) {
		tasks[i].t_preferred = -1;
		tasks[i].t_excluded = -1;
		tasks[i].t_exec = -1;
	}
	return tasks;
}

// plan_ranges cuts this batch's offset ranges and makes one stage-0 task per
// non-empty range.
static void
plan_ranges(rl_driver *d, batch *b)
{
	size_t nparts;
	rl_input_part *parts = rl_input_parts(d->d_input, &nparts);
	int64_t max_rate = d->d_job->j_source.k_max_rate_per_partition;
	b->b_tasks[0] = new_tasks(nparts);
	b->b_part_of_map = rl_calloc(nparts + 1, sizeof(size_t));
	b->b_until = rl_calloc(nparts + 1, sizeof(int64_t));
	size_t n = 0;
	for (size_t i = 0; i < nparts; i++) {
		rl_input_part *p = &parts[i];
		rl_range_in in = {
			.from = p->ip_next,
			.latest = p->ip_latest,
			.target = p->ip_target,
			.rate = rl_range_rate_cap(max_rate, 0),
		};
		int64_t until = rl_range_until(&in, d->d_job->j_batch_ms);
		if (until <= p->ip_next)
			continue; // empty ranges launch no task
		Rill__TaskLaunch *tl = new_launch(d, b, 0, (uint32_t)n);
		Rill__OffsetRange *r = rl_arena_alloc(&b->b_arena, sizeof(*r));
		rill__offset_range__init(r);
		r->topic = p->ip_topic;
		r->partition = p->ip_partition;
		r->from_offset = p->ip_next;
		r->until_offset = until;
		tl->range = r;
		b->b_tasks[0][n].t_launch = tl;
		b->b_tasks[0][n].t_preferred = p->ip_preferred;
		b->b_part_of_map[n] = i;
		b->b_until[n] = until;
		n++;
	}
	b->b_ntasks[0] = n;
}

// plan_reduce makes the tasks of shuffle stage s from the outputs of stage s-1:
// one per reduce partition that received anything.
static void
plan_reduce(rl_driver *d, batch *b, uint32_t s)
{
	const rl_sched_task *maps = b->b_tasks[s - 1];
	size_t nmaps = b->b_ntasks[s - 1];
	rl_sched_task *tasks = new_tasks(b->b_nreduce);
	size_t n = 0;
	pthread_mutex_lock(&d->d_pool->p_mu);
	for (uint32_t r = 0; r < b->b_nreduce; r++) {
		Rill__ShuffleInput **inputs = rl_arena_alloc(&b->b_arena, (nmaps + 1) * sizeof(void *));
		size_t ninputs = 0;
		for (size_t m = 0; m < nmaps; m++) {
			const Rill__TaskResult *res = maps[m].t_result;
			for (size_t k = 0; k < res->n_shuffle_outputs; k++) {
				if (res->shuffle_outputs[k]->reduce_partition != r)
					continue;
				Rill__ShuffleInput *in = rl_arena_alloc(&b->b_arena, sizeof(*in));
				rill__shuffle_input__init(in);
				const char *url = d->d_pool->p_execs[maps[m].t_exec]->e_url;
				in->executor_url = rl_arena_memdup(&b->b_arena, url, strlen(url) + 1);
				in->map_partition = maps[m].t_launch->partition;
				in->bytes = res->shuffle_outputs[k]->bytes;
				in->records = res->shuffle_outputs[k]->records;
				inputs[ninputs++] = in;
			}
		}
		if (ninputs == 0)
			continue;
		Rill__TaskLaunch *tl = new_launch(d, b, s, r);
		tl->inputs = inputs;
		tl->n_inputs = ninputs;
		tasks[n++].t_launch = tl;
	}
	pthread_mutex_unlock(&d->d_pool->p_mu);
	b->b_tasks[s] = tasks;
	b->b_ntasks[s] = n;
}

// forget_lost_outputs makes the tasks of stage s whose outputs lived on a lost
// executor runnable again; returns how many.
static size_t
forget_lost_outputs(rl_driver *d, batch *b, uint32_t s, int also_map)
{
	size_t n = 0;
	rl_sched_task *tasks = b->b_tasks[s];
	pthread_mutex_lock(&d->d_pool->p_mu);
	for (size_t i = 0; i < b->b_ntasks[s]; i++) {
		bool lost = tasks[i].t_exec >= 0 && !d->d_pool->p_execs[tasks[i].t_exec]->e_alive;
		bool named = also_map >= 0 && tasks[i].t_launch->partition == (uint32_t)also_map;
		if (tasks[i].t_result != NULL && (lost || named)) {
			rl_sched_reset(&tasks[i], 1);
			n++;
		}
	}
	pthread_mutex_unlock(&d->d_pool->p_mu);
	return n;
}

static void
batch_free(batch *b, size_t nstages)
{
	for (size_t s = 0; s < nstages; s++) {
		if (b->b_tasks[s] != NULL)
			rl_sched_reset(b->b_tasks[s], b->b_ntasks[s]);
		rl_free(b->b_tasks[s]);
	}
	rl_free(b->b_part_of_map);
	rl_free(b->b_until);
	rl_arena_fini(&b->b_arena);
}

// run_stages runs every stage of the batch, recomputing map outputs that were
// lost with their executor.
static rl_err
run_stages(rl_driver *d, batch *b, char *errbuf, size_t errlen)
{
	size_t nstages = d->d_plan->p_nstages;
	rl_err rv;
	uint32_t failed_map;
	if ((rv = rl_sched_run(d->d_pool, b->b_tasks[0], b->b_ntasks[0], &d->d_sched, &failed_map,
		 errbuf, errlen)) != RL_OK)
		return rv;
	for (uint32_t s = 1; s < nstages; s++) {
		int named = -1;
		for (int round = 0;; round++) {
			// Recompute map outputs that are gone (their executor was lost).
			if (forget_lost_outputs(d, b, s - 1, named) > 0) {
				if (s - 1 > 0) {
					snprintf(errbuf, errlen, "shuffle outputs of stage %" PRIu32 " were lost", s - 1);
					return RL_ERR_FETCH_FAILED;
				}
				rl_warn(COMP, "recomputing lost map outputs", "batch_ms=%" PRId64 " stage=%" PRIu32, b->b_time_ms, s - 1);
				if ((rv = rl_sched_run(d->d_pool, b->b_tasks[s - 1], b->b_ntasks[s - 1],
					 &d->d_sched, &failed_map, errbuf, errlen)) != RL_OK)
					return rv;
			}
			if (b->b_tasks[s] != NULL) {
				rl_sched_reset(b->b_tasks[s], b->b_ntasks[s]);
				rl_free(b->b_tasks[s]);
			}
			plan_reduce(d, b, s);
			rv = rl_sched_run(d->d_pool, b->b_tasks[s], b->b_ntasks[s], &d->d_sched,
			    &failed_map, errbuf, errlen);
			if (rv != RL_ERR_FETCH_FAILED)
				break;
			if (round + 1 == MAX_STAGE_ROUNDS)
				return rv;
			rl_warn(COMP, "shuffle fetch failed", "batch_ms=%" PRId64 " stage=%" PRIu32 " map_partition=%" PRIu32 " error=\"%s\"",
			    b->b_time_ms, s, failed_map, errbuf);
			named = (int)failed_map;
		}
		if (rv != RL_OK)
			return rv;
	}
	return RL_OK;
}

// run_batch runs batch T to its commit; *ret_records counts its input.
static rl_err
run_batch(rl_driver *d, int64_t batch_ms, uint64_t *ret_records, size_t *ret_tasks, char *errbuf,
    size_t errlen)
{
	batch b = {.b_time_ms = batch_ms};
	size_t nparts, nstages = d->d_plan->p_nstages;
	rl_arena_init(&b.b_arena, 16 * 1024);
	rl_input_parts(d->d_input, &nparts);
	b.b_nreduce = d->d_job->j_shuffle_partitions > 0 ? (uint32_t)d->d_job->j_shuffle_partitions
							  : (uint32_t)nparts;
	rl_err rv = rl_input_refresh(d->d_input, errbuf, errlen);
	if (rv != RL_OK)
		goto out;
	plan_ranges(d, &b);
	*ret_tasks = b.b_ntasks[0];
	if (b.b_ntasks[0] == 0)
		goto out; // nothing new: no task, no output
	if ((rv = rl_commit_prepare(d->d_job, batch_ms, errbuf, errlen)) != RL_OK)
		goto out;
	if ((rv = run_stages(d, &b, errbuf, errlen)) != RL_OK)
		goto out;
	if ((rv = rl_commit_batch(d->d_job, batch_ms, b.b_tasks[nstages - 1], b.b_ntasks[nstages - 1],
		 d->d_opts.print_out, errbuf, errlen)) != RL_OK)
		goto out;
	// The batch is committed: its ranges are consumed.
	size_t n;
	rl_input_part *parts = rl_input_parts(d->d_input, &n);
	uint64_t records = 0;
	for (size_t i = 0; i < b.b_ntasks[0]; i++) {
		rl_input_part *p = &parts[b.b_part_of_map[i]];
		p->ip_next = b.b_until[i];
		p->ip_preferred = b.b_tasks[0][i].t_exec;
		records += b.b_tasks[0][i].t_result->metrics != NULL
		    ? b.b_tasks[0][i].t_result->metrics->input_records : 0;
	}
	*ret_records = records;
out:
	batch_free(&b, nstages);
	return rv;
}

static bool
caught_up(rl_input *in)
{
	size_t n;
	rl_input_part *parts = rl_input_parts(in, &n);
	for (size_t i = 0; i < n; i++)
		if (parts[i].ip_next < parts[i].ip_target && parts[i].ip_next < parts[i].ip_latest)
			return false;
	return true;
}

rl_err
rl_driver_run(rl_driver *d, rl_driver_stats *stats, char *errbuf, size_t errlen)
{
	const int64_t interval = d->d_job->j_batch_ms;
	const int64_t started = rl_mono_ms();
	rl_err rv = RL_OK;
	memset(stats, 0, sizeof(*stats));
	if (d->d_opts.min_executors > 0 &&
	    !rl_pool_wait_for(d->d_pool, d->d_opts.min_executors, 30000)) {
		snprintf(errbuf, errlen, "only %d of %d executors registered within 30 s",
		    rl_pool_alive(d->d_pool), d->d_opts.min_executors);
		return RL_ERR_TIMEDOUT;
	}
	if (d->d_opts.available_now) {
		if ((rv = rl_input_refresh(d->d_input, errbuf, errlen)) != RL_OK)
			return rv;
		rl_input_set_targets(d->d_input);
	}
	rl_info(COMP, "job started", "job=%s batch_ms=%" PRId64 " stages=%zu available_now=%d",
	    d->d_job->j_name, interval, d->d_plan->p_nstages, d->d_opts.available_now);

	int64_t batch_ms = (rl_now_ms() / interval + 1) * interval;
	while (!d->d_stop) {
		if (d->d_opts.available_now && caught_up(d->d_input))
			break;
		if (d->d_opts.run_for_ms > 0 && rl_mono_ms() - started >= d->d_opts.run_for_ms)
			break;
		if (!d->d_opts.available_now) {
			// Wait for the batch's time, waking up for a stop.
			while (!d->d_stop && rl_now_ms() < batch_ms)
				rl_sleep_ms(batch_ms - rl_now_ms() < 50 ? batch_ms - rl_now_ms() : 50);
			if (d->d_stop)
				break;
		}
		int64_t start_wall = rl_now_ms(), start = rl_mono_us();
		uint64_t records = 0;
		size_t ntasks = 0;
		rv = run_batch(d, batch_ms, &records, &ntasks, errbuf, errlen);
		if (rv != RL_OK) {
			rl_error(COMP, "batch failed", "job=%s batch_ms=%" PRId64 " error=\"%s\"",
			    d->d_job->j_name, batch_ms, errbuf);
			break;
		}
		int64_t processing_us = rl_mono_us() - start;
		int64_t delay = start_wall - batch_ms;
		stats->batches++;
		stats->records += records;
		rl_info(COMP, "batch done",
		    "job=%s batch_ms=%" PRId64 " records=%" PRIu64 " tasks=%zu processing_ms=%.3f scheduling_delay_ms=%" PRId64 " total_delay_ms=%.3f",
		    d->d_job->j_name, batch_ms, records, ntasks, (double)processing_us / 1000.0,
		    delay > 0 ? delay : 0, (double)(delay > 0 ? delay : 0) + (double)processing_us / 1000.0);
		// Next batch time: the clock's next tick. Late batches queue (never
		// skipped); available-now runs them back to back.
		batch_ms += interval;
		if (d->d_opts.available_now && batch_ms < rl_now_ms() / interval * interval)
			batch_ms = rl_now_ms() / interval * interval;
	}
	stats->elapsed_ms = rl_mono_ms() - started;
	rl_info(COMP, "job stopped", "job=%s batches=%" PRIu64 " records=%" PRIu64 " elapsed_ms=%" PRId64 " peak_rss_kb=%llu result=%s",
	    d->d_job->j_name, stats->batches, stats->records, stats->elapsed_ms,
	    (unsigned long long)(rl_peak_rss_bytes() / 1024), rv == RL_OK ? "ok" : rl_errname(rv));
	return rv;
}
