// SPDX-License-Identifier: Apache-2.0
// One job's batch loop: recovery, clock, ranges, checkpoints, stages,
// commit, progress. Knows sources and sinks only through their driver halves.
#include "driver/runner.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/connector.h"
#include "common/fault.h"
#include "common/fsutil.h"
#include "common/histogram.h"
#include "common/kafka_state.h"
#include "common/layout.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/sources/kafka.h"
#include "common/sysinfo.h"
#include "common/time.h"
#include "common/udf.h"
#include "common/zk.h"
#include "driver/batch_clock.h"
#include "driver/batch_log.h"
#include "driver/executors.h"
#include "driver/fence.h"
#include "driver/input.h"
#include "driver/offset_range.h"
#include "driver/progress.h"
#include "driver/rate.h"
#include "driver/scheduler.h"
#include "driver/sink.h"
#include "driver/sizing.h"
#include "driver/stateful.h"

#define COMP "driver"
#define MAX_STAGES 16
#define MAX_STAGE_ROUNDS 4
#define MAX_INPUTS 16 // the job's source and its unions' and join's
#define STATE_KEEP 10 // newest state snapshots kept per partition
#define WATERMARK_PATIENCE_MS 30000 // how long unreadable offsets are waited out

struct rl_runner {
	const rl_job             *d_job;
	rl_runner_opts            d_opts;
	rl_plan                  *d_plan;
	rl_input                 *d_input;
	rl_pool                  *d_pool;
	char                      d_artifact[RL_SHA256_HEX_LEN]; // "" if none
	char                      d_artifact_url[RL_POOL_URL_MAX]; // where the pool serves it
	rl_batch_log             *d_log; // NULL without one; opts.batch_log's is borrowed
	rl_sched_opts             d_sched;
	rl_pid                    d_pid;
	double                    d_rate; // backpressure's total records/s; <= 0: none yet
	Rill__BatchRecord        *d_replay; // a recovered batch to run again, or NULL
	const rl_sink_driver_ops *d_sink; // the driver half of the job's sink
	void                     *d_sink_state;
	bool                      d_sink_open;
	bool                      d_two_phase; // the sink commits in two phases
	rl_zk                    *d_zk; // opts.zk_connect's session, or NULL
	rl_progress              *d_progress; // progress in ZooKeeper, or NULL
	bool                      d_zk_synced; // every position has been written once
	rl_hist                   d_latency; // records: source timestamp to sink commit, ms
	char                     *d_state_dir; // stateful jobs: CHECKPOINT/state (absolute)
	int64_t d_state_read_ms; // the batch whose state the next one reads (0: none)
	// An event-time window (d_event): the greatest event time seen through
	// the last done batch (0: none); the watermark is that minus its lateness.
	const rl_step *d_event;
	int64_t        d_event_max;
	uint64_t       d_late; // late records dropped by the done batches of this run
	// The event-time window's `late:` sink (its driver half), if it names
	// one: the job as that sink sees it (j_sink is the late sink's).
	const rl_sink_driver_ops *d_late_sink;
	void                     *d_late_state;
	rl_job                    d_late_job;
	uint32_t                  d_state_width; // stateful jobs: the shuffle width, fixed for good
	int   *d_state_exec; // per stage and state partition: the executor holding it warm
	size_t d_state_exec_n; // stages x d_state_width entries, -1 for none
	bool   d_stateful; // the plan has a stateful stage
	// The state's Kafka changelog (a job with a Kafka source): its topic,
	// named by the first stateful batch and recorded in every record after.
	bool  d_use_changelog;
	char *d_changelog; // NULL until named (or recovered)
	bool  d_changelog_ready; // created or checked by this run
	// The base of sparse records: the last whole done record this run wrote.
	int64_t         d_base_ms; // its batch; 0: none (the next record is whole)
	uint64_t        d_base_generation; // the input's generation then
	size_t          d_base_nparts;
	int64_t        *d_base_until; // per input split, as there
	int64_t        *d_base_end;
	int             d_base_done_since; // sparse done records written on it since
	atomic_int      d_stop; // set by rl_runner_stop (a signal handler, another thread)
	bool            d_crashed; // a test's fault hook "killed" the process
	pthread_t       d_thread; // rl_runner_start's
	bool            d_started;
	rl_err          d_thread_rv;
	rl_runner_stats d_thread_stats;
	char            d_thread_err[1024];
};

// One batch in flight: every split's range, the tasks of each stage.
typedef struct batch {
	int64_t        b_time_ms;
	rl_arena       b_arena; // launches and their fields
	size_t         b_nparts; // input splits when the batch was planned
	int64_t       *b_from; // per input split
	int64_t       *b_until;
	int64_t       *b_end; // per input split: its latest position when planned
	rl_sched_task *b_tasks[MAX_STAGES];
	size_t         b_ntasks[MAX_STAGES];
	uint32_t      *b_task_of; // per input split: the stage-0 task (partition) reading it
	size_t        *b_map_parts; // input splits grouped by stage-0 task, in split order
	size_t        *b_map_first; // per launched stage-0 task: its splits in b_map_parts
	size_t        *b_map_count;
	uint32_t       b_nreduce;
	bool           b_width_adapts; // b_nreduce may shrink to the batch's records
	uint64_t       b_records;
	int64_t        b_plan_ms; // wall clock when the ranges were cut
	bool          *b_skip; // last stage: partitions whose output is already committed
	size_t         b_nskip;
	// An event-time window: the greatest event time before the batch and
	// through it (known once its map stage ran), and its late records.
	int64_t  b_event_before, b_event_after;
	uint64_t b_late;
} batch;

static bool
skipped(const batch *b, uint32_t stage, size_t nstages, uint32_t partition)
{
	return stage == nstages - 1 && b->b_skip != NULL && partition < b->b_nskip
	    && b->b_skip[partition];
}

// halt_at is a point before a durable step. A host whose lead is gone
// (opts.in_charge says no) stops the loop there, and so does a test's fault
// hook that says the process dies there: at once, as SIGKILL would stop it,
// leaving what the batch did behind as it is (no abort, no record), for the
// next leader or run to recover. *ret says which. RILL_FAULT kills for real.
static bool
halt_at(rl_runner *d, const char *point, rl_err *ret, char *errbuf, size_t errlen)
{
	if (d->d_opts.in_charge != NULL && !d->d_opts.in_charge(d->d_opts.in_charge_arg)) {
		d->d_crashed = true;
		snprintf(errbuf, errlen,
		    "no longer in charge of job %s (epoch %" PRIu64 "): stopped before %s",
		    d->d_job->j_name, d->d_opts.epoch, point);
		*ret = RL_ERR_STALE_EPOCH;
		return true;
	}
	if (!rl_fault_point(point))
		return false;
	d->d_crashed = true;
	snprintf(errbuf, errlen, "crashed at fault point %s", point);
	*ret = RL_ERR_CANCELED;
	return true;
}

static void
warn_checkpoint(void *arg, const char *path, const char *why)
{
	(void)arg;
	rl_warn(COMP, "skipping a checkpoint record", "path=%s reason=\"%s\"", path, why);
}

// open_progress opens the job's progress in ZooKeeper, if asked: on the
// host's session at its epoch, or on a session of its own at an epoch it
// claims.
static rl_err
open_progress(rl_runner *d, char *errbuf, size_t errlen)
{
	const char *job = d->d_job->j_name;
	rl_zk      *zk = d->d_opts.zk;
	int32_t     epoch;
	rl_err      rv;
	if (d->d_opts.zk_connect != NULL) {
		if ((rv = rl_zk_connect(
		         d->d_opts.zk_connect, 10000, 10000, &d->d_zk, errbuf, errlen))
		        != RL_OK
		    || (rv = rl_fence_claim(d->d_zk, job, &epoch, errbuf, errlen)) != RL_OK)
			return rv;
		zk = d->d_zk;
		rl_info(COMP, "progress to ZooKeeper", "job=%s connect=%s epoch=%" PRId32, job,
		    d->d_opts.zk_connect, epoch);
	} else if (zk != NULL) {
		if (d->d_opts.epoch > INT32_MAX) {
			snprintf(errbuf, errlen,
			    "job %s: epoch %" PRIu64 " is not the version of a ZooKeeper node", job,
			    d->d_opts.epoch);
			return RL_ERR_INVAL;
		}
		epoch = (int32_t)d->d_opts.epoch;
	} else {
		return RL_OK;
	}
	return rl_progress_open(zk, job, epoch, &d->d_progress, errbuf, errlen);
}

// open_late_sink opens the driver half of the event-time window's `late:`
// sink. Only a sink that publishes a batch in one step will do: the late
// records are written by the map tasks, which no second phase follows.
static rl_err
open_late_sink(rl_runner *d, const rl_sink_env *env, char *errbuf, size_t errlen)
{
	const rl_connector_conf  *late = d->d_event->s_late;
	const rl_sink_driver_ops *ops = rl_sink_driver_find(late->c_kind);
	if (ops == NULL || ops->sk_version != RL_SINK_DRIVER_VERSION) {
		snprintf(errbuf, errlen,
		    "%s:%d:%d: late: sink '%s' has no driver half in this rill",
		    d->d_job->j_filename, late->c_loc.line, late->c_loc.col, late->c_kind);
		return RL_ERR_NOTSUP;
	}
	d->d_late_job = *d->d_job;
	d->d_late_job.j_sink = *late;
	d->d_late_state = rl_calloc(1, ops->sk_state_size + 1);
	bool   two_phase = false;
	rl_err rv = ops->sk_open(d->d_late_state, &d->d_late_job, env, &two_phase, errbuf, errlen);
	if (rv != RL_OK) {
		ops->sk_close(d->d_late_state);
		return rv;
	}
	d->d_late_sink = ops;
	if (two_phase) {
		snprintf(errbuf, errlen,
		    "%s:%d:%d: late: this sink commits in two phases (exactly_once), which the "
		    "late records of an event-time window cannot use in this version; use files, "
		    "print, or kafka without exactly_once",
		    d->d_job->j_filename, late->c_loc.line, late->c_loc.col);
		return RL_ERR_NOTSUP;
	}
	return RL_OK;
}

rl_err
rl_runner_create(const rl_job *job, rl_pool *pool, const rl_runner_opts *opts, rl_runner **ret,
    char *errbuf, size_t errlen)
{
	rl_runner *d = RL_NEW(rl_runner);
	d->d_pool = pool;
	rl_err rv;
	d->d_job = job;
	d->d_opts = *opts;
	if (d->d_opts.print_out == NULL)
		d->d_opts.print_out = stdout;
	if (d->d_opts.epoch == 0)
		d->d_opts.epoch = 1;
	if (d->d_opts.checkpoint_keep <= 0)
		d->d_opts.checkpoint_keep = 100;
	d->d_sched = (rl_sched_opts) {
		.max_attempts = 4,
		.task_timeout_ms = 0,
		.no_executor_timeout_ms = 60000,
	};
	rl_pid_init(&d->d_pid, job->j_batch_ms);
	const char *sink_kind = rl_job_sink_kind(job);
	d->d_sink = rl_sink_driver_find(sink_kind);
	if (d->d_sink == NULL || d->d_sink->sk_version != RL_SINK_DRIVER_VERSION) {
		snprintf(errbuf, errlen, "%s: sink '%s' has no driver half in this rill",
		    job->j_filename, sink_kind);
		rv = RL_ERR_NOTSUP;
		goto err_runner;
	}
	d->d_sink_state = rl_calloc(1, d->d_sink->sk_state_size + 1);
	d->d_sink_open = true;
	rl_sink_env env = { .se_print_out = d->d_opts.print_out };
	if ((rv = d->d_sink->sk_open(d->d_sink_state, job, &env, &d->d_two_phase, errbuf, errlen))
	    != RL_OK)
		goto err_runner;
	if ((rv = rl_plan_build(job, &d->d_plan, errbuf, errlen)) == RL_OK)
		d->d_event = rl_plan_event_window(d->d_plan);
	if (rv != RL_OK)
		goto err_runner;
	if (d->d_event != NULL && d->d_event->s_late != NULL
	    && (rv = open_late_sink(d, &env, errbuf, errlen)) != RL_OK)
		goto err_runner;
	if (opts->artifact_sha256 != NULL && opts->artifact_sha256[0] != '\0') {
		snprintf(d->d_artifact, sizeof(d->d_artifact), "%s", opts->artifact_sha256);
		snprintf(d->d_artifact_url, sizeof(d->d_artifact_url), "%s", rl_pool_url(pool));
	} else if ((rv = rl_udf_check(job, NULL, 0, NULL, errbuf, errlen)) != RL_OK) {
		goto err_runner; // user functions, but no artifact
	}
	if (d->d_plan->p_nstages > MAX_STAGES) {
		snprintf(errbuf, errlen, "%s: more than %d shuffles in one pipeline",
		    job->j_filename, MAX_STAGES - 1);
		rv = RL_ERR_NOTSUP;
		goto err_runner;
	}
	const rl_step *stateful = rl_plan_stateful(d->d_plan);
	d->d_stateful = stateful != NULL;
	d->d_use_changelog = stateful != NULL && strcmp(rl_job_source_kind(job), "kafka") == 0;
	for (size_t k = 0; k < d->d_plan->p_nstages && !d->d_use_changelog; k++) {
		const rl_step *ss = d->d_plan->p_stages[k].st_state_step;
		if (ss != NULL
		    && (ss->s_kind == RL_OP_MAP_WITH_STATE || ss->s_kind == RL_OP_WINDOW
		        || ss->s_kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW
		        || ss->s_kind == RL_OP_COUNT_BY_WINDOW)) {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s keeps its state in a Kafka changelog, on the "
			    "brokers of a Kafka source, and this job's source is %s",
			    job->j_filename, ss->s_loc.line, ss->s_loc.col, rl_op_name(ss->s_kind),
			    rl_job_source_kind(job));
			rv = RL_ERR_NOTSUP;
			goto err_runner;
		}
	}
	if (stateful != NULL && opts->checkpoint_dir == NULL && opts->state_dir == NULL
	    && !(d->d_use_changelog && opts->batch_log != NULL)) {
		snprintf(errbuf, errlen,
		    "%s:%d:%d: %s keeps state across batches: run the job with --checkpoint-dir",
		    job->j_filename, stateful->s_loc.line, stateful->s_loc.col,
		    rl_op_name(stateful->s_kind));
		rv = RL_ERR_USAGE;
		goto err_runner;
	}
	if (opts->batch_log != NULL)
		d->d_log = opts->batch_log;
	else if (opts->checkpoint_dir != NULL
	    && (rv = rl_batch_log_open_dir(opts->checkpoint_dir, d->d_opts.checkpoint_keep,
	            warn_checkpoint, d, &d->d_log, errbuf, errlen))
	        != RL_OK)
		goto err_runner;
	if (stateful != NULL && opts->state_dir != NULL) {
		char *abs = NULL;
		if (rl_mkdir_p(opts->state_dir) != 0
		    || (abs = realpath(opts->state_dir, NULL)) == NULL) {
			snprintf(errbuf, errlen, "state directory %s: %s", opts->state_dir,
			    strerror(errno));
			rv = RL_ERR_IO;
			goto err_runner;
		}
		d->d_state_dir = rl_strdup(abs);
		free(abs);
	} else if (stateful != NULL && opts->checkpoint_dir != NULL) {
		char  *abs = realpath(opts->checkpoint_dir, NULL);
		size_t len = strlen(abs) + sizeof("/state");
		d->d_state_dir = rl_malloc(len);
		snprintf(d->d_state_dir, len, "%s/state", abs);
		free(abs);
	}
	if ((rv = open_progress(d, errbuf, errlen)) != RL_OK)
		goto err_runner;
	const rl_job *inputs[MAX_INPUTS];
	if (d->d_plan->p_ninputs > MAX_INPUTS) {
		snprintf(errbuf, errlen, "%s: more than %d unions and joins in one pipeline",
		    job->j_filename, MAX_INPUTS - 1);
		rv = RL_ERR_NOTSUP;
		goto err_runner;
	}
	for (size_t k = 0; k < d->d_plan->p_ninputs; k++)
		inputs[k] = &d->d_plan->p_inputs[k].pi_job;
	if ((rv = rl_input_create_inputs(inputs, d->d_plan->p_ninputs, &d->d_input, errbuf, errlen))
	    != RL_OK)
		goto err_runner;
	*ret = d;
	return RL_OK;
err_runner:
	rl_runner_destroy(d);
	return rv;
}

size_t
rl_runner_splits(rl_runner *d)
{
	size_t n;
	rl_input_parts(d->d_input, &n);
	return n;
}

void
rl_runner_stop(rl_runner *d)
{
	d->d_stop = 1;
}

static void *
runner_thread(void *arg)
{
	rl_runner *d = arg;
	d->d_thread_rv
	    = rl_runner_run(d, &d->d_thread_stats, d->d_thread_err, sizeof(d->d_thread_err));
	return NULL;
}

rl_err
rl_runner_start(rl_runner *d, char *errbuf, size_t errlen)
{
	int e = pthread_create(&d->d_thread, NULL, runner_thread, d);
	if (e != 0) {
		snprintf(errbuf, errlen, "cannot start the batch loop of %s: %s", d->d_job->j_name,
		    strerror(e));
		return RL_ERR_NOMEM;
	}
	d->d_started = true;
	return RL_OK;
}

rl_err
rl_runner_join(rl_runner *d, rl_runner_stats *stats, char *errbuf, size_t errlen)
{
	if (!d->d_started) {
		snprintf(errbuf, errlen, "the batch loop of %s was not started", d->d_job->j_name);
		return RL_ERR_INVAL;
	}
	pthread_join(d->d_thread, NULL);
	d->d_started = false;
	*stats = d->d_thread_stats;
	snprintf(errbuf, errlen, "%s", d->d_thread_err);
	return d->d_thread_rv;
}

void
rl_runner_destroy(rl_runner *d)
{
	if (d == NULL)
		return;
	if (d->d_started) { // a host that did not join: stop and wait
		rl_runner_stats stats;
		char            why[16];
		rl_runner_stop(d);
		rl_runner_join(d, &stats, why, sizeof(why));
	}
	rl_input_destroy(d->d_input);
	if (d->d_log != d->d_opts.batch_log)
		rl_batch_log_close(d->d_log);
	if (d->d_sink_open)
		d->d_sink->sk_close(d->d_sink_state);
	rl_free(d->d_sink_state);
	if (d->d_late_sink != NULL)
		d->d_late_sink->sk_close(d->d_late_state);
	rl_free(d->d_late_state);
	rl_progress_close(d->d_progress);
	rl_zk_close(d->d_zk);
	rl_free(d->d_state_dir);
	rl_free(d->d_state_exec);
	rl_free(d->d_changelog);
	if (d->d_replay != NULL)
		rill__batch_record__free_unpacked(d->d_replay, NULL);
	rl_plan_destroy(d->d_plan);
	rl_free(d->d_base_until);
	rl_free(d->d_base_end);
	rl_free(d);
}

// ---- the checkpoint record of a batch ----

// check_state_fits refuses a checkpoint whose state the job's stateful steps
// cannot take over (rl_state_fits), and otherwise keeps the shuffle width
// that partitions the state.
static rl_err
check_state_fits(rl_runner *d, const Rill__BatchRecord *rec, char *errbuf, size_t errlen)
{
	const rl_state_store store = {
		.what = "checkpoint",
		.where = rl_batch_log_where(d->d_log),
		.fresh = "a new --checkpoint-dir",
	};
	rl_err rv = rl_state_fits(d->d_job, rec, &store, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	Rill__StatefulStep steps[MAX_STAGES];
	if (rl_stateful_steps(d->d_job, steps, MAX_STAGES) > 0)
		d->d_state_width = rec->shuffle_partitions;
	return RL_OK;
}

// unchanged says whether split i has nothing new in batch b since the base:
// a sparse record leaves it out.
static bool
unchanged(const rl_runner *d, const batch *b, size_t i)
{
	return b->b_from[i] == d->d_base_until[i] && b->b_until[i] == d->d_base_until[i]
	    && b->b_end[i] == d->d_base_end[i];
}

// sparse_ok says whether b's record may be sparse: there is a base, the
// splits are the same ones, at most half of them changed, and the log keeps
// the base for as long as a record may need it. The log keeps its newest
// `keep` done batches; a record builds on the base only while this batch's
// done record and those since the base leave the base among them.
static bool
sparse_ok(const rl_runner *d, const batch *b)
{
	if (d->d_base_ms == 0 || d->d_base_nparts != b->b_nparts
	    || d->d_base_generation != rl_input_generation(d->d_input)
	    || d->d_base_done_since + 2 > rl_batch_log_keep(d->d_log))
		return false;
	size_t changed = 0;
	for (size_t i = 0; i < b->b_nparts; i++)
		changed += !unchanged(d, b, i);
	return 2 * changed <= b->b_nparts;
}

// set_base makes b's whole done record, just written, the base of the
// records that follow.
static void
set_base(rl_runner *d, const batch *b)
{
	d->d_base_ms = b->b_time_ms;
	d->d_base_generation = rl_input_generation(d->d_input);
	d->d_base_nparts = b->b_nparts;
	d->d_base_until = rl_realloc(d->d_base_until, (b->b_nparts + 1) * sizeof(int64_t));
	d->d_base_end = rl_realloc(d->d_base_end, (b->b_nparts + 1) * sizeof(int64_t));
	memcpy(d->d_base_until, b->b_until, b->b_nparts * sizeof(int64_t));
	memcpy(d->d_base_end, b->b_end, b->b_nparts * sizeof(int64_t));
	d->d_base_done_since = 0;
}

// write_record writes b's record of phase: whole, or sparse (only the splits
// that changed since the base; see base_batch_ms in proto/checkpoint.proto)
// when that may be, so that a batch that touches few splits of many does
// not write them all.
static rl_err
write_record(rl_runner *d, batch *b, Rill__BatchRecord__Phase phase, char *errbuf, size_t errlen)
{
	if (d->d_log == NULL)
		return RL_OK;
	size_t         nparts;
	rl_input_part *parts = rl_input_parts(d->d_input, &nparts);
	bool           sparse = sparse_ok(d, b);
	rl_arena       a;
	rl_arena_init(&a, 4096);
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	Rill__RateState   rate = RILL__RATE_STATE__INIT;
	rec.phase = phase;
	rec.job = d->d_job->j_name;
	rec.spec_hash = d->d_job->j_spec_hash;
	rec.batch_time_ms = b->b_time_ms;
	rec.batch_interval_ms = d->d_job->j_batch_ms;
	rec.shuffle_partitions = b->b_nreduce;
	rec.records = b->b_records;
	rec.ends_seen = true;
	rec.splits = rl_arena_alloc(&a, (b->b_nparts + 1) * sizeof(void *));
	rec.base_batch_ms = sparse ? d->d_base_ms : 0;
	for (size_t i = 0; i < b->b_nparts && i < nparts; i++) {
		if (sparse && unchanged(d, b, i))
			continue;
		Rill__SplitRange *sr = rl_arena_alloc(&a, sizeof(*sr));
		rill__split_range__init(sr);
		sr->kind
		    = (char *)(uintptr_t)rl_input_member_connector(d->d_input, parts[i].ip_input);
		sr->input = parts[i].ip_input;
		sr->id = parts[i].ip_id;
		sr->from = b->b_from[i];
		sr->until = b->b_until[i];
		sr->end_seen = b->b_end[i];
		sr->task = b->b_task_of[i] != RL_NO_TASK ? b->b_task_of[i] + 1 : 0;
		sr->opaque.data = parts[i].ip_opaque;
		sr->opaque.len = parts[i].ip_opaque_len;
		rec.splits[rec.n_splits++] = sr;
	}
	int64_t pending = b->b_time_ms;
	if (phase != RILL__BATCH_RECORD__PHASE__DONE) {
		rec.pending_batch_ms = &pending;
		rec.n_pending_batch_ms = 1;
	}
	// A two-phase sink: the task outputs this batch prepares and commits.
	size_t last = d->d_plan->p_nstages - 1;
	if (d->d_two_phase && phase != RILL__BATCH_RECORD__PHASE__PLANNED) {
		rec.sink_commits = rl_arena_alloc(&a, (b->b_ntasks[last] + 1) * sizeof(void *));
		for (size_t t = 0; t < b->b_ntasks[last]; t++) {
			Rill__SinkCommit *sc = rl_arena_alloc(&a, sizeof(*sc));
			rill__sink_commit__init(sc);
			sc->stage = (uint32_t)last;
			sc->partition = b->b_tasks[last][t].t_launch->partition;
			sc->id = rl_arena_alloc(&a, 256);
			sc->id[0] = '\0';
			if (d->d_sink->sk_task_id != NULL)
				d->d_sink->sk_task_id(d->d_sink_state, sc->partition, sc->id, 256);
			rec.sink_commits[rec.n_sink_commits++] = sc;
		}
	}
	rec.state_read_ms = d->d_state_read_ms;
	rec.event_time_before_ms = b->b_event_before;
	if (phase != RILL__BATCH_RECORD__PHASE__PLANNED)
		rec.event_time_after_ms = b->b_event_after;
	if (d->d_changelog != NULL)
		rec.state_changelog = d->d_changelog;
	Rill__StatefulStep  steps[MAX_STAGES];
	Rill__StatefulStep *step_ptrs[MAX_STAGES];
	rec.n_stateful_steps = rl_stateful_steps(d->d_job, steps, MAX_STAGES);
	for (size_t k = 0; k < rec.n_stateful_steps; k++)
		step_ptrs[k] = &steps[k];
	rec.stateful_steps = step_ptrs;
	rate.latest_rate = d->d_pid.p_latest_rate;
	rate.latest_error = d->d_pid.p_latest_error;
	rate.latest_time_ms = d->d_pid.p_latest_time_ms;
	rate.first_run = d->d_pid.p_first_run;
	rec.rate = &rate;
	rl_err rv = rl_batch_log_write(d->d_log, &rec, errbuf, errlen);
	rl_arena_fini(&a);
	if (rv == RL_OK && phase == RILL__BATCH_RECORD__PHASE__DONE && !sparse)
		set_base(d, b);
	else if (rv == RL_OK && phase == RILL__BATCH_RECORD__PHASE__DONE)
		d->d_base_done_since++;
	return rv;
}

// ---- building tasks ----

// watermark is the event-time watermark after max_ms, the greatest event
// time seen: max_ms minus the window's allowed lateness (0: none yet).
static int64_t
watermark(const rl_runner *d, int64_t max_ms)
{
	return max_ms > d->d_event->s_lateness_ms ? max_ms - d->d_event->s_lateness_ms : 0;
}

static Rill__TaskLaunch *
new_launch(rl_runner *d, batch *b, uint32_t stage, uint32_t partition)
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
	if (d->d_artifact[0] != '\0') {
		tl->artifact_sha256 = d->d_artifact;
		tl->artifact_url = d->d_artifact_url;
	}
	tl->num_stages = (uint32_t)d->d_plan->p_nstages;
	tl->retain_from_batch_ms = b->b_time_ms;
	tl->plan_time_ms = b->b_plan_ms;
	if (d->d_plan->p_stages[stage].st_state_step != NULL) {
		if (d->d_state_dir != NULL)
			tl->state_dir = d->d_state_dir;
		tl->state_read_ms = d->d_state_read_ms;
		if (d->d_use_changelog && d->d_changelog != NULL) {
			// The stage's state partitions follow those of the
			// stateful stages before it in the changelog topic.
			uint32_t before = 0;
			for (uint32_t s = 0; s < stage; s++)
				before += d->d_plan->p_stages[s].st_state_step != NULL;
			tl->state_changelog = d->d_changelog;
			tl->state_changelog_partition = before * b->b_nreduce + partition;
		}
	}
	if (d->d_plan->p_stages[stage].st_output == RL_OUTPUT_SHUFFLE)
		tl->num_output_partitions = rl_plan_width(d->d_plan, stage + 1, b->b_nreduce);
	if (d->d_event != NULL) {
		tl->watermark_before_ms = watermark(d, b->b_event_before);
		tl->watermark_ms = watermark(d, b->b_event_after);
	}
	return tl;
}

// new_split makes the range [from, until) of input split part.
static Rill__Split *
new_split(rl_runner *d, batch *b, const rl_input_part *part, int64_t from, int64_t until)
{
	Rill__Split *sp = rl_arena_alloc(&b->b_arena, sizeof(*sp));
	rill__split__init(sp);
	sp->kind = (char *)(uintptr_t)rl_input_member_connector(d->d_input, part->ip_input);
	sp->id = part->ip_id;
	sp->from = from;
	sp->until = until;
	sp->end_seen = part->ip_latest > until ? part->ip_latest : until;
	sp->opaque.data = part->ip_opaque;
	sp->opaque.len = part->ip_opaque_len;
	return sp;
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

// cut_ranges decides every split's [from, until): the recovered batch's
// ranges when it runs again, else from the latest positions and the rate
// limits.
static void
cut_ranges(rl_runner *d, batch *b, rl_input_part *parts, size_t nparts)
{
	const rl_source_limits *lim = rl_input_limits(d->d_input);
	for (size_t i = 0; i < nparts; i++)
		b->b_from[i] = b->b_until[i] = parts[i].ip_next;
	if (d->d_replay != NULL) {
		for (size_t r = 0; r < d->d_replay->n_splits; r++) {
			const Rill__SplitRange *sr = d->d_replay->splits[r];
			int i = rl_input_find_in(d->d_input, sr->input, sr->kind, sr->id);
			if (i >= 0) {
				b->b_from[i] = sr->from;
				b->b_until[i] = sr->until;
				b->b_task_of[i] = sr->task > 0 ? sr->task - 1 : RL_NO_TASK;
			}
		}
		return;
	}
	int64_t *lags = rl_calloc(nparts + 1, sizeof(int64_t));
	double  *rates = rl_calloc(nparts + 1, sizeof(double));
	for (size_t i = 0; i < nparts; i++) {
		int64_t end = parts[i].ip_latest;
		if (parts[i].ip_target >= 0 && parts[i].ip_target < end)
			end = parts[i].ip_target;
		lags[i] = end - parts[i].ip_next;
	}
	double total = 0; // no backpressure: the fixed cap alone
	if (lim->l_backpressure)
		total = d->d_rate > 0 ? d->d_rate : (double)lim->l_initial_rate;
	// Each input's splits (together in parts) get its share of the total,
	// in proportion to their lag, and its own cap per split.
	double all_lag = 0;
	for (size_t i = 0; i < nparts; i++)
		all_lag += lags[i] > 0 ? (double)lags[i] : 0;
	for (size_t first = 0, end; first < nparts; first = end) {
		double lag = 0;
		for (end = first; end < nparts && parts[end].ip_input == parts[first].ip_input;
		     end++)
			lag += lags[end] > 0 ? (double)lags[end] : 0;
		double                  share = first == 0 && end == nparts ? total
		                     : all_lag > 0                          ? total * lag / all_lag
		                                                            : 0;
		const rl_source_limits *ml
		    = rl_input_member_limits(d->d_input, parts[first].ip_input);
		rl_rate_split(
		    share, ml->l_max_rate_per_split, lags + first, end - first, rates + first);
	}
	for (size_t i = 0; i < nparts; i++) {
		rl_range_in in = {
			.from = parts[i].ip_next,
			.latest = parts[i].ip_latest,
			.target = parts[i].ip_target,
			.rate = rates[i],
		};
		b->b_until[i] = rl_range_until(&in, d->d_job->j_batch_ms);
	}
	rl_free(lags);
	rl_free(rates);
}

// replayed_tasks checks the stage-0 tasks a recovered batch recorded for
// its ranges (b_task_of, from cut_ranges) and returns their count. A record
// of an older rill has none: one task per non-empty range, in split order,
// as it ran then. So does a record whose tasks do not fit its ranges.
static size_t
replayed_tasks(batch *b)
{
	size_t   nranges = 0;
	uint32_t max = 0;
	bool     recorded = true;
	for (size_t i = 0; i < b->b_nparts; i++) {
		bool nonempty = b->b_until[i] > b->b_from[i];
		nranges += nonempty;
		if (nonempty && b->b_task_of[i] == RL_NO_TASK)
			recorded = false;
		else if (nonempty && b->b_task_of[i] + 1 > max)
			max = b->b_task_of[i] + 1;
	}
	if (recorded && max <= nranges)
		return max;
	size_t n = 0;
	for (size_t i = 0; i < b->b_nparts; i++)
		b->b_task_of[i] = b->b_until[i] > b->b_from[i] ? (uint32_t)n++ : RL_NO_TASK;
	return n;
}

// task_split is the j-th range launch tl reads.
static Rill__Split *
task_split(const Rill__TaskLaunch *tl, size_t j)
{
	return tl->n_splits > 0 ? tl->splits[j] : tl->split;
}

// plan_ranges cuts the ranges and makes the stage-0 tasks: small ranges
// share a task (driver/sizing.h), a recovered batch's as it recorded them.
static void
plan_ranges(rl_runner *d, batch *b)
{
	size_t         nparts;
	rl_input_part *parts = rl_input_parts(d->d_input, &nparts);
	b->b_nparts = nparts;
	b->b_from = rl_calloc(nparts + 1, sizeof(int64_t));
	b->b_until = rl_calloc(nparts + 1, sizeof(int64_t));
	b->b_end = rl_calloc(nparts + 1, sizeof(int64_t));
	b->b_task_of = rl_calloc(nparts + 1, sizeof(uint32_t));
	for (size_t i = 0; i < nparts; i++) {
		b->b_end[i] = parts[i].ip_latest; // refreshed for this batch
		b->b_task_of[i] = RL_NO_TASK;
	}
	b->b_plan_ms = rl_now_ms();
	cut_ranges(d, b, parts, nparts);
	if (b->b_width_adapts) {
		int64_t records = 0;
		for (size_t i = 0; i < nparts; i++)
			records += b->b_until[i] - b->b_from[i];
		b->b_nreduce = rl_shuffle_width_for(b->b_nreduce, records);
	}
	size_t ntasks;
	if (d->d_replay != NULL) {
		ntasks = replayed_tasks(b);
	} else {
		int64_t *records = rl_calloc(nparts + 1, sizeof(int64_t));
		int     *preferred = rl_calloc(nparts + 1, sizeof(int));
		for (size_t i = 0; i < nparts; i++) {
			records[i] = b->b_until[i] - b->b_from[i];
			preferred[i] = parts[i].ip_preferred;
		}
		// A task reads ranges of one input (it runs that input's steps).
		ntasks = 0;
		for (size_t first = 0, end; first < nparts; first = end) {
			for (end = first;
			     end < nparts && parts[end].ip_input == parts[first].ip_input; end++)
				;
			size_t n = rl_group_ranges(records + first, preferred + first, end - first,
			    rl_pool_cores(d->d_pool), b->b_task_of + first);
			for (size_t i = first; i < end; i++)
				if (b->b_task_of[i] != RL_NO_TASK)
					b->b_task_of[i] += (uint32_t)ntasks;
			ntasks += n;
		}
		rl_free(records);
		rl_free(preferred);
	}
	// Each task's ranges, together and in split order.
	size_t *first = rl_calloc(ntasks + 2, sizeof(size_t));
	for (size_t i = 0; i < nparts; i++)
		if (b->b_task_of[i] != RL_NO_TASK)
			first[b->b_task_of[i] + 1]++;
	for (size_t t = 0; t < ntasks; t++)
		first[t + 1] += first[t];
	b->b_map_parts = rl_calloc(first[ntasks] + 1, sizeof(size_t));
	size_t *fill = rl_calloc(ntasks + 1, sizeof(size_t));
	memcpy(fill, first, ntasks * sizeof(size_t));
	for (size_t i = 0; i < nparts; i++)
		if (b->b_task_of[i] != RL_NO_TASK)
			b->b_map_parts[fill[b->b_task_of[i]]++] = i;
	rl_free(fill);
	b->b_tasks[0] = new_tasks(ntasks);
	b->b_map_first = rl_calloc(ntasks + 1, sizeof(size_t));
	b->b_map_count = rl_calloc(ntasks + 1, sizeof(size_t));
	size_t n = 0;
	for (size_t t = 0; t < ntasks; t++) {
		size_t count = first[t + 1] - first[t];
		if (count == 0 || skipped(b, 0, d->d_plan->p_nstages, (uint32_t)t))
			continue; // no range left, or its output is committed already
		Rill__TaskLaunch *tl = new_launch(d, b, 0, (uint32_t)t);
		const size_t     *of = &b->b_map_parts[first[t]];
		tl->input = parts[of[0]].ip_input;
		if (count == 1) {
			tl->split
			    = new_split(d, b, &parts[of[0]], b->b_from[of[0]], b->b_until[of[0]]);
		} else {
			tl->splits = rl_arena_alloc(&b->b_arena, count * sizeof(Rill__Split *));
			tl->n_splits = count;
			for (size_t j = 0; j < count; j++)
				tl->splits[j] = new_split(
				    d, b, &parts[of[j]], b->b_from[of[j]], b->b_until[of[j]]);
		}
		b->b_tasks[0][n].t_launch = tl;
		b->b_tasks[0][n].t_preferred = parts[of[0]].ip_preferred;
		b->b_map_first[n] = first[t];
		b->b_map_count[n] = count;
		n++;
	}
	rl_free(first);
	b->b_ntasks[0] = n;
}

// exec_url is executor index's URL, copied into the batch's arena.
static char *
exec_url(rl_runner *d, batch *b, int index)
{
	char url[RL_POOL_URL_MAX] = "";
	rl_pool_exec_url(d->d_pool, index, url, sizeof(url));
	return rl_arena_memdup(&b->b_arena, url, strlen(url) + 1);
}

// A walk through the reduce partitions a map task wrote to.
typedef struct outputs {
	const Rill__TaskResult *o_res;
	size_t                  o_next;
	int64_t                 o_prev; // the last partition given, or -1
} outputs;

// next_output gives the walk's next partition below nreduce. An executor
// lists them in increasing order; an entry out of order (a repeat) is
// passed over, so that no output is fetched twice.
static bool
next_output(outputs *it, uint32_t nreduce, uint32_t *ret)
{
	while (it->o_next < it->o_res->n_output_partitions) {
		uint32_t p = it->o_res->output_partitions[it->o_next++];
		if (p < nreduce && (int64_t)p > it->o_prev) {
			it->o_prev = p;
			*ret = p;
			return true;
		}
	}
	return false;
}

static size_t
exec_key(int exec, int nexecs)
{
	return exec >= 0 && exec < nexecs ? (size_t)exec + 1 : 0;
}

// plan_reduce makes the tasks of shuffle stage s from the outputs of stage s-1:
// one per reduce partition that received anything, with what to fetch from
// each executor that holds some of it. Map tasks are taken executor by
// executor, so each partition's inputs come together by executor in one pass.
static void
plan_reduce(rl_runner *d, batch *b, uint32_t s)
{
	const rl_sched_task *maps = b->b_tasks[s - 1];
	size_t               nmaps = b->b_ntasks[s - 1];
	uint32_t             nreduce = rl_plan_width(d->d_plan, s, b->b_nreduce), r;
	int                  nexecs = rl_pool_size(d->d_pool);
	// The map tasks in executor order (a counting sort; key 0: no executor).
	size_t *by_exec = rl_calloc(nmaps + 1, sizeof(size_t));
	size_t *start = rl_calloc((size_t)nexecs + 2, sizeof(size_t));
	for (size_t m = 0; m < nmaps; m++)
		start[exec_key(maps[m].t_exec, nexecs) + 1]++;
	for (int e = 0; e < nexecs; e++)
		start[e + 1] += start[e];
	for (size_t m = 0; m < nmaps; m++)
		by_exec[start[exec_key(maps[m].t_exec, nexecs)]++] = m;
	rl_free(start);
	// Count each partition's map outputs and executors.
	size_t *nin = rl_calloc((size_t)nreduce + 1, sizeof(size_t));
	size_t *nsrc = rl_calloc((size_t)nreduce + 1, sizeof(size_t));
	int    *last = rl_calloc((size_t)nreduce + 1, sizeof(int));
	for (uint32_t p = 0; p < nreduce; p++)
		last[p] = INT32_MIN;
	for (size_t k = 0; k < nmaps; k++) {
		const rl_sched_task *m = &maps[by_exec[k]];
		for (outputs it = { m->t_result, 0, -1 }; next_output(&it, nreduce, &r);) {
			nin[r]++;
			if (last[r] != m->t_exec) {
				last[r] = m->t_exec;
				nsrc[r]++;
			}
		}
	}
	// Each partition's executors and map outputs, in the arena.
	char    ***urls = rl_calloc((size_t)nreduce + 1, sizeof(char **));
	uint32_t **counts = rl_calloc((size_t)nreduce + 1, sizeof(uint32_t *));
	uint32_t **mapped = rl_calloc((size_t)nreduce + 1, sizeof(uint32_t *));
	size_t    *nmapped = rl_calloc((size_t)nreduce + 1, sizeof(size_t));
	// A join's reducers are told each map output's input (its side).
	bool       join = d->d_plan->p_stages[s].st_join_step != NULL;
	uint32_t **inputs = rl_calloc((size_t)nreduce + 1, sizeof(uint32_t *));
	for (uint32_t p = 0; p < nreduce; p++) {
		last[p] = INT32_MIN;
		if (nin[p] == 0)
			continue;
		urls[p] = rl_arena_alloc(&b->b_arena, nsrc[p] * sizeof(char *));
		counts[p] = rl_arena_alloc(&b->b_arena, nsrc[p] * sizeof(uint32_t));
		mapped[p] = rl_arena_alloc(&b->b_arena, nin[p] * sizeof(uint32_t));
		if (join)
			inputs[p] = rl_arena_alloc(&b->b_arena, nin[p] * sizeof(uint32_t));
		nsrc[p] = 0;
	}
	char *url = NULL;
	int   url_of = INT32_MIN;
	for (size_t k = 0; k < nmaps; k++) {
		const rl_sched_task *m = &maps[by_exec[k]];
		if (m->t_exec != url_of) {
			url = exec_url(d, b, m->t_exec);
			url_of = m->t_exec;
		}
		for (outputs it = { m->t_result, 0, -1 }; next_output(&it, nreduce, &r);) {
			if (last[r] != m->t_exec) {
				last[r] = m->t_exec;
				urls[r][nsrc[r]] = url;
				counts[r][nsrc[r]++] = 0;
			}
			counts[r][nsrc[r] - 1]++;
			if (join)
				inputs[r][nmapped[r]] = m->t_launch->input;
			mapped[r][nmapped[r]++] = m->t_launch->partition;
		}
	}
	// A stateful stage runs every partition: each keeps and emits its state.
	bool           stateful = d->d_plan->p_stages[s].st_state_step != NULL;
	rl_sched_task *tasks = new_tasks(nreduce);
	size_t         n = 0;
	for (uint32_t p = 0; p < nreduce; p++) {
		if ((nin[p] == 0 && !stateful) || skipped(b, s, d->d_plan->p_nstages, p))
			continue;
		// A state partition goes back to the executor that keeps it warm.
		size_t warm = (size_t)s * nreduce + p;
		if (stateful && warm < d->d_state_exec_n)
			tasks[n].t_preferred = d->d_state_exec[warm];
		Rill__TaskLaunch *tl = new_launch(d, b, s, p);
		tl->fetch_urls = urls[p];
		tl->n_fetch_urls = nsrc[p];
		tl->fetch_counts = counts[p];
		tl->n_fetch_counts = nsrc[p];
		tl->fetch_maps = mapped[p];
		tl->n_fetch_maps = nmapped[p];
		if (join) {
			tl->fetch_inputs = inputs[p];
			tl->n_fetch_inputs = nmapped[p];
		}
		tasks[n++].t_launch = tl;
	}
	rl_free(inputs);
	rl_free(nmapped);
	rl_free(mapped);
	rl_free(counts);
	rl_free(urls);
	rl_free(last);
	rl_free(nsrc);
	rl_free(nin);
	rl_free(by_exec);
	b->b_tasks[s] = tasks;
	b->b_ntasks[s] = n;
}

// forget_lost_outputs makes the tasks of stage s whose outputs lived on a lost
// executor (or the named one) runnable again; returns how many.
static size_t
forget_lost_outputs(rl_runner *d, batch *b, uint32_t s, int named)
{
	size_t         n = 0;
	rl_sched_task *tasks = b->b_tasks[s];
	for (size_t i = 0; i < b->b_ntasks[s]; i++) {
		bool lost = tasks[i].t_exec >= 0 && !rl_pool_exec_alive(d->d_pool, tasks[i].t_exec);
		bool is_named = named >= 0 && tasks[i].t_launch->partition == (uint32_t)named;
		if (tasks[i].t_result != NULL && (lost || is_named)) {
			rl_sched_reset(&tasks[i], 1);
			n++;
		}
	}
	return n;
}

static void
batch_free(batch *b)
{
	for (size_t s = 0; s < MAX_STAGES; s++) {
		if (b->b_tasks[s] != NULL)
			rl_sched_reset(b->b_tasks[s], b->b_ntasks[s]);
		rl_free(b->b_tasks[s]);
	}
	rl_free(b->b_task_of);
	rl_free(b->b_map_parts);
	rl_free(b->b_map_first);
	rl_free(b->b_map_count);
	rl_free(b->b_from);
	rl_free(b->b_until);
	rl_free(b->b_end);
	rl_free(b->b_skip);
	rl_arena_fini(&b->b_arena);
}

// skip_lost_records moves the start of every pending stage-0 range past
// records that retention already deleted, logging how many are lost.
static rl_err
skip_lost_records(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	size_t nparts;
	rl_input_parts(d->d_input, &nparts);
	int64_t *earliest = rl_calloc(nparts + 1, sizeof(int64_t));
	rl_err   rv = rl_input_earliest(d->d_input, earliest, errbuf, errlen);
	for (size_t t = 0; rv == RL_OK && t < b->b_ntasks[0]; t++) {
		rl_sched_task *task = &b->b_tasks[0][t];
		if (task->t_result != NULL)
			continue;
		for (size_t j = 0; j < b->b_map_count[t]; j++) {
			size_t       i = b->b_map_parts[b->b_map_first[t] + j];
			Rill__Split *r = task_split(task->t_launch, j);
			if (r->from >= earliest[i])
				continue;
			int64_t from = earliest[i] < r->until ? earliest[i] : r->until;
			char    what[RL_SPLIT_ID_MAX + 64];
			rl_input_describe(d->d_input, i, what, sizeof(what));
			rl_warn(COMP, "records lost",
			    "%s from=%" PRId64 " until=%" PRId64 " lost=%" PRId64
			    " reason=\"deleted by retention before they were read; "
			    "fail_on_data_loss is false\"",
			    what, r->from, from, from - r->from);
			r->from = from;
			b->b_from[i] = from;
		}
	}
	rl_free(earliest);
	return rv;
}

// run_map_stage runs stage 0, applying fail_on_data_loss when a range
// starts before what the log still holds.
static rl_err
run_map_stage(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	uint32_t failed_map;
	for (int round = 0;; round++) {
		rl_err rv = rl_sched_run(d->d_pool, b->b_tasks[0], b->b_ntasks[0], &d->d_sched,
		    &failed_map, errbuf, errlen);
		if (rv != RL_ERR_DATA_LOSS)
			return rv;
		const rl_source_limits *lim = rl_input_limits(d->d_input);
		if (lim->l_fail_on_data_loss || round == MAX_STAGE_ROUNDS) {
			size_t len = strlen(errbuf);
			snprintf(errbuf + len, errlen - len, "; to skip lost records instead, %s",
			    lim->l_data_loss_hint != NULL ? lim->l_data_loss_hint
			                                  : "turn fail_on_data_loss off");
			return rv;
		}
		if ((rv = skip_lost_records(d, b, errbuf, errlen)) != RL_OK)
			return rv;
	}
}

// run_reduce_stage runs stage s (> 0) of the batch, whole, recomputing first
// what it reads of stage s - 1 that was lost with its executor: the lost map
// tasks of stage 0, or all of an intermediate stage s - 1 (recursively, as
// it reads stage s - 2 in turn). A stateful stage run again finds its
// partitions' state already holding the batch and emits it as it is.
static rl_err
run_reduce_stage(rl_runner *d, batch *b, uint32_t s, char *errbuf, size_t errlen)
{
	int      named = -1;
	rl_err   rv;
	uint32_t failed_map;
	for (int round = 0;; round++) {
		// Recompute map outputs that are gone (their executor was lost).
		if (forget_lost_outputs(d, b, s - 1, named) > 0) {
			rl_warn(COMP, "recomputing lost map outputs",
			    "batch_ms=%" PRId64 " stage=%" PRIu32, b->b_time_ms, s - 1);
			rv = s - 1 > 0 ? run_reduce_stage(d, b, s - 1, errbuf, errlen)
			               : run_map_stage(d, b, errbuf, errlen);
			if (rv != RL_OK)
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
			return rv;
		if (round + 1 == MAX_STAGE_ROUNDS)
			return rv;
		rl_warn(COMP, "shuffle fetch failed",
		    "batch_ms=%" PRId64 " stage=%" PRIu32 " map_partition=%" PRIu32 " error=\"%s\"",
		    b->b_time_ms, s, failed_map, errbuf);
		named = (int)failed_map;
	}
}

// run_stages runs every stage of the batch, recomputing map outputs that were
// lost with their executor.
static rl_err
run_stages(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	size_t nstages = d->d_plan->p_nstages;
	rl_err rv;
	if ((rv = run_map_stage(d, b, errbuf, errlen)) != RL_OK)
		return rv;
	// The watermark the window's stage moves to: from every map task's
	// greatest event time (a batch run again finds the same).
	b->b_event_after = b->b_event_before;
	b->b_late = 0;
	for (size_t i = 0; d->d_event != NULL && i < b->b_ntasks[0]; i++) {
		const Rill__TaskResult *res = b->b_tasks[0][i].t_result;
		if (res == NULL || res->metrics == NULL)
			continue;
		if (res->metrics->event_time_max_ms > b->b_event_after)
			b->b_event_after = res->metrics->event_time_max_ms;
		b->b_late += res->metrics->late_records;
	}
	for (uint32_t s = 1; s < nstages; s++)
		if ((rv = run_reduce_stage(d, b, s, errbuf, errlen)) != RL_OK)
			return rv;
	return RL_OK;
}

// zk_progress writes to /rill/jobs/<name>/offsets/<split id> the positions
// this batch moved (every position, the first time in a run). SPEC.md's
// offsets/<topic>/<partition>: a topic partition's split id is TOPIC/PARTITION.
// Only a newer leader's epoch is an error: this one is deposed.
static rl_err
zk_progress(
    rl_runner *d, const batch *b, rl_input_part *parts, size_t nparts, char *errbuf, size_t errlen)
{
	if (d->d_progress == NULL)
		return RL_OK;
	rl_progress_pos *pos = rl_calloc(nparts + 1, sizeof(*pos));
	size_t           n = 0;
	for (size_t i = 0; i < nparts && i < b->b_nparts; i++) {
		if (d->d_zk_synced && b->b_until[i] == b->b_from[i])
			continue;
		pos[n++] = (rl_progress_pos) { parts[i].ip_id, parts[i].ip_next };
	}
	char   why[1024];
	rl_err rv = rl_progress_write(d->d_progress, pos, n, why, sizeof(why));
	rl_free(pos);
	d->d_zk_synced = rv == RL_OK;
	if (rv == RL_ERR_STALE_EPOCH) {
		snprintf(errbuf, errlen,
		    "batch %" PRId64 " is done but its progress was refused (%s): stopped",
		    b->b_time_ms, why);
		return rv;
	}
	if (rv != RL_OK)
		rl_warn(COMP, "cannot write progress to ZooKeeper", "job=%s error=\"%s\"",
		    d->d_job->j_name, why);
	return RL_OK;
}

// advance moves every split past the batch and commits the progress where
// the source keeps it (its driver half's commit) and to ZooKeeper. Only a
// newer leader's epoch, refusing the latter, is an error.
static rl_err
advance(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	size_t         nparts;
	rl_input_part *parts = rl_input_parts(d->d_input, &nparts);
	for (size_t i = 0; i < b->b_nparts && i < nparts; i++)
		parts[i].ip_next = b->b_until[i];
	for (size_t t = 0; t < b->b_ntasks[0]; t++)
		for (size_t j = 0; j < b->b_map_count[t]; j++)
			parts[b->b_map_parts[b->b_map_first[t] + j]].ip_preferred
			    = b->b_tasks[0][t].t_exec;
	char why[512];
	if (rl_input_commit(d->d_input, why, sizeof(why)) != RL_OK)
		rl_warn(COMP, "cannot commit progress outside the checkpoint",
		    "source=%s error=\"%s\"", rl_input_connector(d->d_input), why);
	return zk_progress(d, b, parts, nparts, errbuf, errlen);
}

static int
cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x < y) - (x > y);
}

// prune_state keeps, in every state partition, the snapshots of the newest
// STATE_KEEP batches and removes older ones.
static void
prune_state(rl_runner *d)
{
	for (uint32_t s = 0; s < d->d_plan->p_nstages; s++) {
		if (d->d_plan->p_stages[s].st_state_step == NULL)
			continue;
		for (uint32_t p = 0; p < d->d_state_width; p++) {
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s/%" PRIu32 "/%" PRIu32, d->d_state_dir, s, p);
			DIR *dh = opendir(dir);
			if (dh == NULL)
				continue;
			int64_t       *times = NULL;
			size_t         n = 0, cap = 0;
			struct dirent *de;
			while ((de = readdir(dh)) != NULL) {
				char     *end;
				long long t = strtoll(de->d_name, &end, 10);
				if (end == de->d_name || strcmp(end, ".snap") != 0)
					continue;
				if (n == cap) {
					cap = rl_growth(cap, n + 1, 16);
					times = rl_realloc(times, cap * sizeof(int64_t));
				}
				times[n++] = t;
			}
			closedir(dh);
			qsort(times, n, sizeof(int64_t), cmp_desc);
			for (size_t k = STATE_KEEP; k < n; k++) {
				char path[4200];
				snprintf(path, sizeof(path), "%s/%" PRId64 ".snap", dir, times[k]);
				unlink(path);
			}
			rl_free(times);
		}
	}
}

// note_state_execs remembers, after batch b is done, which executor ran each
// state partition: it keeps the partition's table warm for the next batch.
static void
note_state_execs(rl_runner *d, const batch *b)
{
	size_t n = d->d_plan->p_nstages * (size_t)b->b_nreduce;
	if (d->d_state_exec_n != n) {
		d->d_state_exec = rl_realloc(d->d_state_exec, (n + 1) * sizeof(int));
		d->d_state_exec_n = n;
		for (size_t i = 0; i < n; i++)
			d->d_state_exec[i] = -1;
	}
	for (uint32_t s = 1; s < d->d_plan->p_nstages; s++) {
		if (d->d_plan->p_stages[s].st_state_step == NULL)
			continue;
		for (size_t i = 0; i < b->b_ntasks[s]; i++) {
			const rl_sched_task *t = &b->b_tasks[s][i];
			uint32_t             p = t->t_launch->partition;
			if (p < b->b_nreduce && t->t_result != NULL)
				d->d_state_exec[(size_t)s * b->b_nreduce + p] = t->t_exec;
		}
	}
}

// find_committed marks, for a recovered batch whose sink transactions were
// prepared, the sink partitions whose transaction did commit: they must not
// be written again.
static rl_err
find_committed(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	size_t last = d->d_plan->p_nstages - 1,
	       width = rl_plan_width(d->d_plan, last, b->b_nreduce);
	if (last == 0) { // the sink tasks are the map tasks the record gives
		size_t nranges = 0, ntasks = 0;
		for (size_t r = 0; r < d->d_replay->n_splits; r++) {
			const Rill__SplitRange *sr = d->d_replay->splits[r];
			nranges += sr->until > sr->from;
			if (sr->until > sr->from && sr->task > ntasks)
				ntasks = sr->task;
		}
		width = ntasks > 0 && ntasks <= nranges ? ntasks : nranges;
	}
	b->b_skip = rl_calloc(width + 1, sizeof(bool));
	b->b_nskip = width;
	size_t committed = 0;
	for (uint32_t p = 0; p < width; p++) {
		rl_err rv = d->d_sink->sk_committed(
		    d->d_sink_state, p, b->b_time_ms, &b->b_skip[p], errbuf, errlen);
		if (rv != RL_OK)
			return rv;
		committed += b->b_skip[p];
	}
	rl_info(COMP, "sink transactions already committed",
	    "job=%s batch_ms=%" PRId64 " committed=%zu of=%zu", d->d_job->j_name, b->b_time_ms,
	    committed, width);
	return RL_OK;
}

// commit_transactions records the batch as prepared, has every sink task's
// transaction committed, and runs again the tasks whose transaction did not
// commit (their executor died in between) until all have.
static rl_err
commit_transactions(rl_runner *d, batch *b, char *errbuf, size_t errlen)
{
	uint32_t last = (uint32_t)d->d_plan->p_nstages - 1;
	rl_err   rv = write_record(d, b, RILL__BATCH_RECORD__PHASE__PREPARED, errbuf, errlen);
	if (rv == RL_OK && halt_at(d, "sink-prepared", &rv, errbuf, errlen))
		return rv; // transactions open, none committed
	for (int round = 0; rv == RL_OK; round++) {
		size_t         n = b->b_ntasks[last];
		rl_sched_task *tasks = b->b_tasks[last];
		bool          *failed = rl_calloc(n + 1, sizeof(bool));
		size_t nfailed = rl_sink_finish(d->d_pool, d->d_job, rl_job_sink_kind(d->d_job),
		    d->d_opts.epoch, b->b_time_ms, last, tasks, n, true, failed);
		for (size_t i = 0; i < n && nfailed > 0; i++) {
			bool done = false; // the answer may have been lost, not the commit
			if (failed[i]
			    && d->d_sink->sk_committed(d->d_sink_state,
			           tasks[i].t_launch->partition, b->b_time_ms, &done, errbuf,
			           errlen)
			        == RL_OK
			    && done) {
				failed[i] = false;
				nfailed--;
			}
		}
		if (nfailed == 0) {
			rl_free(failed);
			break;
		}
		if (round == MAX_STAGE_ROUNDS) {
			snprintf(errbuf, errlen,
			    "%zu sink transactions of batch %" PRId64 " did not commit", nfailed,
			    b->b_time_ms);
			rl_free(failed);
			return RL_ERR_IO;
		}
		rl_warn(COMP, "writing sink partitions again",
		    "job=%s batch_ms=%" PRId64 " partitions=%zu", d->d_job->j_name, b->b_time_ms,
		    nfailed);
		if (last == 0) {
			for (size_t i = 0; i < n; i++)
				if (failed[i])
					rl_sched_reset(&tasks[i], 1);
			rl_free(failed);
			rv = run_map_stage(d, b, errbuf, errlen);
			continue;
		}
		// Everything but the failed partitions is committed: skip it.
		rl_free(b->b_skip);
		b->b_nskip = rl_plan_width(d->d_plan, last, b->b_nreduce);
		b->b_skip = rl_calloc(b->b_nskip + 1, sizeof(bool));
		for (size_t p = 0; p < b->b_nskip; p++)
			b->b_skip[p] = true;
		for (size_t i = 0; i < n; i++)
			if (failed[i])
				b->b_skip[tasks[i].t_launch->partition] = false;
		rl_free(failed);
		rv = run_stages(d, b, errbuf, errlen);
	}
	return rv;
}

// abort_transactions lets go of what the sink tasks of a failed batch
// prepared (best effort: a re-run fences them anyway).
static void
abort_transactions(rl_runner *d, batch *b)
{
	size_t last = d->d_plan->p_nstages - 1;
	if (!d->d_two_phase || b->b_tasks[last] == NULL)
		return;
	bool *failed = rl_calloc(b->b_ntasks[last] + 1, sizeof(bool));
	rl_sink_finish(d->d_pool, d->d_job, rl_job_sink_kind(d->d_job), d->d_opts.epoch,
	    b->b_time_ms, (uint32_t)last, b->b_tasks[last], b->b_ntasks[last], false, failed);
	rl_free(failed);
}

// record_latency adds the batch's records to the latency histogram: each
// record's age when the batch was planned, plus planning to commit.
static void
record_latency(rl_runner *d, const batch *b, int64_t commit_ms)
{
	int64_t since_plan = commit_ms - b->b_plan_ms;
	for (size_t i = 0; i < b->b_ntasks[0]; i++) {
		const Rill__TaskMetrics *m = b->b_tasks[0][i].t_result->metrics;
		for (size_t k = 0; m != NULL && k < m->n_record_age; k++) {
			const Rill__HistBucket *hb = m->record_age[k];
			if (hb->bucket < RL_HIST_BUCKETS)
				rl_hist_add(&d->d_latency, rl_hist_upper(hb->bucket) + since_plan,
				    hb->count);
		}
	}
}

// warn_dropped says when the batch's operators dropped records whose value
// they could not read (key_by {json: …} on a value that is not a JSON
// object): they are left out, not retried, so the job goes on.
static void
warn_dropped(rl_runner *d, const batch *b)
{
	uint64_t malformed = 0, missing = 0;
	for (size_t s = 0; s < d->d_plan->p_nstages; s++)
		for (size_t i = 0; i < b->b_ntasks[s]; i++) {
			const Rill__TaskResult *res = b->b_tasks[s][i].t_result;
			if (res != NULL && res->metrics != NULL) {
				malformed += res->metrics->malformed_records;
				missing += res->metrics->missing_records;
			}
		}
	if (b->b_late > 0)
		rl_info(COMP, "late records dropped",
		    "job=%s batch_ms=%" PRId64 " late=%" PRIu64 " watermark_ms=%" PRId64
		    " reason=\"every event-time window that would hold them was emitted\"",
		    d->d_job->j_name, b->b_time_ms, b->b_late, watermark(d, b->b_event_before));
	if (malformed > 0)
		rl_warn(COMP, "records dropped",
		    "job=%s batch_ms=%" PRId64 " malformed=%" PRIu64 " missing_key=%" PRIu64
		    " reason=\"a key_by could not read the value (e.g. not a JSON object)\"",
		    d->d_job->j_name, b->b_time_ms, malformed, missing);
	else if (missing > 0)
		rl_debug(COMP, "records without a key dropped",
		    "job=%s batch_ms=%" PRId64 " missing_key=%" PRIu64, d->d_job->j_name,
		    b->b_time_ms, missing);
}

// ensure_changelog names the state's changelog topic at the job's first
// stateful batch (rill-JOB-state-T, T that batch's time: a job started
// afresh never meets an older run's state) and has it created, compacted,
// with a partition per state partition of every stateful stage; a run that
// recovered the name checks the topic once.
static rl_err
ensure_changelog(rl_runner *d, const batch *b, char *errbuf, size_t errlen)
{
	if (!d->d_use_changelog || d->d_changelog_ready)
		return RL_OK;
	if (d->d_changelog == NULL)
		d->d_changelog
		    = rl_strdup_printf("rill-%s-state-%" PRId64, d->d_job->j_name, b->b_time_ms);
	int32_t nstateful = 0;
	for (size_t s = 0; s < d->d_plan->p_nstages; s++)
		nstateful += d->d_plan->p_stages[s].st_state_step != NULL;
	const rl_kafka_source *src = d->d_job->j_source.c_conf;
	rl_kafka_props         props = { src->k_prop_names, src->k_prop_values, src->k_nprops };
	rl_err rv = rl_kafka_changelog_ensure(src->k_brokers, &props, d->d_changelog,
	    nstateful * (int32_t)b->b_nreduce, 30000, errbuf, errlen);
	if (rv == RL_OK) {
		d->d_changelog_ready = true;
		rl_info(COMP, "state changelog", "job=%s topic=%s partitions=%" PRId32,
		    d->d_job->j_name, d->d_changelog, nstateful * (int32_t)b->b_nreduce);
	}
	return rv;
}

// lap adds the time since *since to *acc and restarts the clock.
static void
lap(int64_t *since, int64_t *acc)
{
	int64_t now = rl_mono_us();
	*acc += now - *since;
	*since = now;
}

// run_batch runs batch T from its plan to its commit.
static rl_err
run_batch(rl_runner *d, int64_t batch_ms, uint64_t *ret_records, size_t *ret_tasks, char *errbuf,
    size_t errlen)
{
	batch b = {
		.b_time_ms = batch_ms,
		.b_event_before = d->d_event_max,
		.b_event_after = d->d_event_max,
	};
	size_t          nstages = d->d_plan->p_nstages, nparts;
	rl_runner_batch rb = { .rb_batch_ms = batch_ms };
	int64_t         clock = rl_mono_us();
	rl_arena_init(&b.b_arena, 16 * 1024);
	rl_err rv = rl_input_refresh(d->d_input, errbuf, errlen);
	lap(&clock, &rb.rb_us[RL_PHASE_REFRESH]);
	if (rv != RL_OK) {
		*ret_tasks = SIZE_MAX; // tells the loop: no latest positions, no batch
		goto out;
	}
	rl_input_parts(d->d_input, &nparts);
	if (d->d_replay != NULL && d->d_replay->shuffle_partitions > 0)
		b.b_nreduce = d->d_replay->shuffle_partitions; // the same buckets as the first run
	else if (d->d_state_width > 0)
		b.b_nreduce = d->d_state_width; // the state is split this many ways, for good
	else if (d->d_job->j_shuffle_partitions > 0)
		b.b_nreduce = (uint32_t)d->d_job->j_shuffle_partitions;
	else {
		b.b_nreduce = rl_shuffle_width_default(nparts, rl_pool_cores(d->d_pool));
		// A stateless job's width may follow the batch's size; a stateful
		// one keeps its first batch's width for good.
		b.b_width_adapts = rl_plan_stateful(d->d_plan) == NULL;
	}
	if (d->d_replay != NULL && d->d_two_phase
	    && d->d_replay->phase == RILL__BATCH_RECORD__PHASE__PREPARED
	    && (rv = find_committed(d, &b, errbuf, errlen)) != RL_OK)
		goto out;
	plan_ranges(d, &b);
	*ret_tasks = b.b_ntasks[0];
	lap(&clock, &rb.rb_us[RL_PHASE_PLAN]);
	// Nothing new: no task, no output, no record. A recovered batch whose
	// sink tasks all committed (a job without a shuffle: no task left)
	// still goes on to its done record and moves past its ranges. A job
	// with state runs its state stage anyway once some batch has written
	// state: update_state_by_key emits every key's state every batch.
	if (b.b_ntasks[0] == 0 && b.b_skip == NULL && d->d_state_read_ms <= 0)
		goto out;
	if ((rv = ensure_changelog(d, &b, errbuf, errlen)) != RL_OK)
		goto out;
	// The plan is durable before anything runs.
	if (halt_at(d, "batch-planning", &rv, errbuf, errlen))
		goto out;
	if ((rv = write_record(d, &b, RILL__BATCH_RECORD__PHASE__PLANNED, errbuf, errlen)) != RL_OK)
		goto out;
	if (halt_at(d, "batch-planned", &rv, errbuf, errlen)) // planned, nothing ran
		goto out;
	lap(&clock, &rb.rb_us[RL_PHASE_RECORD_PLANNED]);
	if (d->d_sink->sk_prepare != NULL
	    && (rv = d->d_sink->sk_prepare(d->d_sink_state, batch_ms, errbuf, errlen)) != RL_OK)
		goto out;
	if (d->d_late_sink != NULL && d->d_late_sink->sk_prepare != NULL
	    && (rv = d->d_late_sink->sk_prepare(d->d_late_state, batch_ms, errbuf, errlen))
	        != RL_OK)
		goto out;
	if ((rv = run_stages(d, &b, errbuf, errlen)) != RL_OK)
		goto out;
	if (halt_at(d, "batch-ran", &rv, errbuf, errlen)) // every task ran, nothing committed
		goto out;
	lap(&clock, &rb.rb_us[RL_PHASE_STAGES]);
	for (size_t i = 0; i < b.b_ntasks[0]; i++) {
		const Rill__TaskMetrics *m = b.b_tasks[0][i].t_result->metrics;
		b.b_records += m != NULL ? m->input_records : 0;
	}
	warn_dropped(d, &b);
	// The late records, written by the map tasks, before the batch's
	// output: a batch run again writes them again, the same.
	if (d->d_late_sink != NULL && d->d_late_sink->sk_commit != NULL) {
		rl_sink_batch lb = {
			.sb_time_ms = batch_ms,
			.sb_tasks = b.b_tasks[0],
			.sb_ntasks = b.b_ntasks[0],
		};
		if ((rv = d->d_late_sink->sk_commit(d->d_late_state, &lb, errbuf, errlen)) != RL_OK)
			goto out;
	}
	if (d->d_two_phase) {
		rv = commit_transactions(d, &b, errbuf, errlen);
	} else if (d->d_sink->sk_commit != NULL) {
		rl_sink_batch sb = {
			.sb_time_ms = batch_ms,
			.sb_tasks = b.b_tasks[nstages - 1],
			.sb_ntasks = b.b_ntasks[nstages - 1],
		};
		rv = d->d_sink->sk_commit(d->d_sink_state, &sb, errbuf, errlen);
	}
	if (rv != RL_OK)
		goto out;
	record_latency(d, &b, rl_now_ms());
	if (halt_at(d, "sink-committed", &rv, errbuf, errlen)) // output visible, batch not done
		goto out;
	lap(&clock, &rb.rb_us[RL_PHASE_COMMIT]);
	if ((rv = write_record(d, &b, RILL__BATCH_RECORD__PHASE__DONE, errbuf, errlen)) != RL_OK)
		goto out;
	if (halt_at(d, "batch-done", &rv, errbuf, errlen)) // done, progress not yet committed
		goto out;
	lap(&clock, &rb.rb_us[RL_PHASE_RECORD_DONE]);
	if (d->d_stateful) {
		d->d_state_width = b.b_nreduce;
		d->d_state_read_ms = batch_ms;
		d->d_event_max = b.b_event_after;
		d->d_late += b.b_late;
		note_state_execs(d, &b);
		if (!d->d_use_changelog && d->d_state_dir != NULL)
			prune_state(d);
	}
	if ((rv = advance(d, &b, errbuf, errlen)) != RL_OK) {
		d->d_crashed = true; // deposed: leave everything as it is
		goto out;
	}
	lap(&clock, &rb.rb_us[RL_PHASE_ADVANCE]);
	*ret_records = b.b_records;
	rb.rb_records = b.b_records;
	rb.rb_splits = b.b_nparts;
	rb.rb_map_tasks = b.b_ntasks[0];
	for (size_t s = 0; s < nstages; s++)
		rb.rb_tasks += b.b_ntasks[s];
	for (size_t i = 0; i < b.b_nparts; i++)
		rb.rb_ranges += b.b_until[i] > b.b_from[i];
	rb.rb_shuffle_partitions = nstages > 1 ? b.b_nreduce : 0;
	rl_debug(COMP, "batch phases",
	    "batch_ms=%" PRId64 " refresh_ms=%.3f plan_ms=%.3f planned_record_ms=%.3f"
	    " stages_ms=%.3f commit_ms=%.3f done_record_ms=%.3f advance_ms=%.3f",
	    batch_ms, (double)rb.rb_us[RL_PHASE_REFRESH] / 1000,
	    (double)rb.rb_us[RL_PHASE_PLAN] / 1000,
	    (double)rb.rb_us[RL_PHASE_RECORD_PLANNED] / 1000,
	    (double)rb.rb_us[RL_PHASE_STAGES] / 1000, (double)rb.rb_us[RL_PHASE_COMMIT] / 1000,
	    (double)rb.rb_us[RL_PHASE_RECORD_DONE] / 1000,
	    (double)rb.rb_us[RL_PHASE_ADVANCE] / 1000);
	if (d->d_opts.on_batch != NULL)
		d->d_opts.on_batch(d->d_opts.on_batch_arg, &rb);
out:
	if (rv != RL_OK && !d->d_crashed)
		abort_transactions(d, &b);
	if (rv == RL_OK && d->d_replay != NULL) {
		rill__batch_record__free_unpacked(d->d_replay, NULL);
		d->d_replay = NULL;
	}
	batch_free(&b);
	return rv;
}

static bool
caught_up(rl_input *in)
{
	size_t         n;
	rl_input_part *parts = rl_input_parts(in, &n);
	for (size_t i = 0; i < n; i++)
		if (parts[i].ip_next < parts[i].ip_target && parts[i].ip_next < parts[i].ip_latest)
			return false;
	return true;
}

// recover positions the input from the checkpoint (or starting_offsets) and
// returns the first batch time to run.
static rl_err
recover(rl_runner *d, int64_t *ret_first_ms, char *errbuf, size_t errlen)
{
	const rl_job      *job = d->d_job;
	Rill__BatchRecord *rec = NULL;
	rl_err             rv;
	if (d->d_log != NULL && (rv = rl_batch_log_latest(d->d_log, &rec, errbuf, errlen)) != RL_OK)
		return rv;
	if (rec == NULL) {
		if ((rv = rl_input_start(d->d_input, NULL, errbuf, errlen)) != RL_OK)
			return rv;
		*ret_first_ms = rl_clock_next_tick(rl_now_ms(), job->j_batch_ms);
		return RL_OK;
	}
	if (strcmp(rec->job, job->j_name) != 0) {
		snprintf(errbuf, errlen,
		    "checkpoint directory %s belongs to job '%s', not '%s': give this job a "
		    "directory of its own",
		    rl_batch_log_where(d->d_log), rec->job, job->j_name);
		rill__batch_record__free_unpacked(rec, NULL);
		return RL_ERR_INVAL;
	}
	if ((rv = check_state_fits(d, rec, errbuf, errlen)) != RL_OK
	    || (rv = rl_input_start(d->d_input, rec, errbuf, errlen)) != RL_OK) {
		rill__batch_record__free_unpacked(rec, NULL);
		return rv;
	}
	// The state a batch starts from: after a done batch its own snapshots,
	// for a batch run again the ones it started from the first time.
	d->d_state_read_ms = rec->phase == RILL__BATCH_RECORD__PHASE__DONE ? rec->batch_time_ms
	                                                                   : rec->state_read_ms;
	d->d_event_max = rec->phase == RILL__BATCH_RECORD__PHASE__DONE ? rec->event_time_after_ms
	                                                               : rec->event_time_before_ms;
	if (rec->state_changelog != NULL && rec->state_changelog[0] != '\0' && d->d_use_changelog) {
		d->d_changelog = rl_strdup(rec->state_changelog);
	} else if (d->d_stateful && d->d_state_read_ms > 0 && d->d_use_changelog) {
		// State of an older rill, in snapshot files: it stays there.
		d->d_use_changelog = false;
		if (d->d_state_dir == NULL) {
			snprintf(errbuf, errlen,
			    "the state of job %s is in snapshot files (written by an older "
			    "rill), but this driver has no --state-dir to read them from",
			    job->j_name);
			rill__batch_record__free_unpacked(rec, NULL);
			return RL_ERR_INVAL;
		}
	}
	if (rec->rate != NULL && rec->rate->latest_rate > 0) {
		d->d_pid.p_latest_rate = rec->rate->latest_rate;
		d->d_pid.p_latest_error = rec->rate->latest_error;
		d->d_pid.p_latest_time_ms = rec->rate->latest_time_ms;
		d->d_pid.p_first_run = rec->rate->first_run;
		if (!d->d_pid.p_first_run)
			d->d_rate = rec->rate->latest_rate;
	}
	if (rec->phase == RILL__BATCH_RECORD__PHASE__DONE) {
		*ret_first_ms = rl_clock_resume(
		    rec->batch_time_ms, job->j_batch_ms, rl_now_ms(), job->j_catch_up);
		rl_info(COMP, "resuming from checkpoint",
		    "job=%s last_batch_ms=%" PRId64 " next_batch_ms=%" PRId64 " catch_up=%s",
		    job->j_name, rec->batch_time_ms, *ret_first_ms,
		    job->j_catch_up == RL_CATCH_UP_ALL ? "all" : "latest");
		rill__batch_record__free_unpacked(rec, NULL);
		return RL_OK;
	}
	rl_info(COMP, "re-running a batch that did not finish",
	    "job=%s batch_ms=%" PRId64 " phase=%s", job->j_name, rec->batch_time_ms,
	    rec->phase == RILL__BATCH_RECORD__PHASE__PLANNED ? "planned" : "prepared");
	*ret_first_ms = rec->batch_time_ms;
	d->d_replay = rec;
	return RL_OK;
}

// fence_sink leaves what sink tasks of an earlier run prepared unable to
// commit, for every sink partition a batch of this run may use.
static void
fence_sink(rl_runner *d)
{
	if (!d->d_two_phase || d->d_sink->sk_fence == NULL)
		return;
	size_t nparts;
	rl_input_parts(d->d_input, &nparts);
	uint32_t width = (uint32_t)nparts;
	if (d->d_replay != NULL && d->d_replay->shuffle_partitions > width)
		width = d->d_replay->shuffle_partitions;
	if (d->d_job->j_shuffle_partitions > width)
		width = (uint32_t)d->d_job->j_shuffle_partitions;
	uint32_t fixed = d->d_plan->p_stages[d->d_plan->p_nstages - 1].st_partitions;
	if (fixed > width)
		width = fixed; // the sink stage follows a repartition
	d->d_sink->sk_fence(d->d_sink_state, width);
}

// warm_readers gives every split an executor (round robin) and has its
// source's executor half start reading the split where the first batch will
// read: the data is prefetched before that batch asks, and the split's later
// tasks go to the same warm executor.
static void
warm_readers(rl_runner *d)
{
	size_t         nparts;
	rl_input_part *parts = rl_input_parts(d->d_input, &nparts);
	int            nexecs = rl_pool_size(d->d_pool);
	if (nparts == 0 || nexecs == 0)
		return;
	batch b = { .b_time_ms = 0 };
	rl_arena_init(&b.b_arena, 4096);
	rl_sched_task *tasks = new_tasks(nparts);
	for (size_t i = 0; i < nparts; i++) {
		Rill__TaskLaunch *tl = new_launch(d, &b, 0, (uint32_t)i);
		// The backlog (up to the split's latest position, as refreshed
		// before) tells the executor whether prefetching it now fits its
		// budget; none is said when the position is not known.
		int64_t end
		    = parts[i].ip_latest > parts[i].ip_next ? parts[i].ip_latest : parts[i].ip_next;
		tl->split = new_split(d, &b, &parts[i], parts[i].ip_next, end);
		tl->input = parts[i].ip_input;
		tl->warm_only = true;
		// Executor e gets splits e, e + nexecs, ...: this many.
		size_t e = i % (size_t)nexecs;
		tl->splits_here
		    = (uint32_t)(nparts / (size_t)nexecs + (e < nparts % (size_t)nexecs));
		tasks[i].t_launch = tl;
		tasks[i].t_preferred = (int)e;
	}
	uint32_t failed;
	char     why[512];
	if (rl_sched_run(d->d_pool, tasks, nparts, &d->d_sched, &failed, why, sizeof(why)) == RL_OK)
		for (size_t i = 0; i < nparts; i++)
			parts[i].ip_preferred = tasks[i].t_exec;
	else
		rl_warn(
		    COMP, "cannot warm the readers", "job=%s error=\"%s\"", d->d_job->j_name, why);
	rl_sched_reset(tasks, nparts);
	rl_free(tasks);
	rl_arena_fini(&b.b_arena);
}

// after_batch feeds a finished batch to the rate estimator.
static void
after_batch(rl_runner *d, uint64_t records, int64_t processing_us, int64_t delay_ms)
{
	if (!rl_input_limits(d->d_input)->l_backpressure)
		return;
	double  rate;
	int64_t processing_ms = (processing_us + 999) / 1000;
	if (rl_pid_compute(
	        &d->d_pid, rl_now_ms(), (int64_t)records, processing_ms, delay_ms, &rate)) {
		d->d_rate = rate;
		rl_debug(COMP, "backpressure rate", "job=%s rate=%.1f", d->d_job->j_name, rate);
	}
}

rl_err
rl_runner_run(rl_runner *d, rl_runner_stats *stats, char *errbuf, size_t errlen)
{
	const int64_t interval = d->d_job->j_batch_ms;
	const int64_t started = rl_mono_ms();
	rl_err        rv = RL_OK;
	int64_t       batch_ms, unreachable_since = -1;
	memset(stats, 0, sizeof(*stats));
	// Like Spark's maxRegisteredResourcesWaitingTime: wait for the executors
	// asked for, then go on with those there are; none at all is an error.
	if (d->d_opts.min_executors > 0
	    && !rl_pool_wait_for(d->d_pool, d->d_opts.min_executors, 30000, &d->d_stop)) {
		if (d->d_stop) { // asked to stop before anything ran: nothing to finish
			rl_info(COMP, "job stopped",
			    "job=%s batches=0 records=0 result=ok while=\"waiting for executors\"",
			    d->d_job->j_name);
			return RL_OK;
		}
		int alive = rl_pool_alive(d->d_pool);
		if (alive == 0) {
			snprintf(errbuf, errlen,
			    "no executor registered within 30 s (waiting for %d)",
			    d->d_opts.min_executors);
			return RL_ERR_TIMEDOUT;
		}
		rl_warn(COMP, "going on with fewer executors",
		    "job=%s registered=%d wanted=%d waited_ms=30000", d->d_job->j_name, alive,
		    d->d_opts.min_executors);
	}
	if ((rv = recover(d, &batch_ms, errbuf, errlen)) != RL_OK)
		return rv;
	fence_sink(d);
	// Where each split ends now: available-now's targets, and the warm-ups'
	// backlogs (without it, they start with none known).
	char why[512];
	if ((rv = rl_input_refresh(d->d_input, why, sizeof(why))) != RL_OK) {
		if (d->d_opts.available_now) {
			snprintf(errbuf, errlen, "%s", why);
			return rv;
		}
		rl_warn(COMP, "cannot read the partitions' offsets before warming",
		    "job=%s error=\"%s\"", d->d_job->j_name, why);
	}
	if (d->d_opts.available_now)
		rl_input_set_targets(d->d_input);
	warm_readers(d);
	rl_info(COMP, "job started",
	    "job=%s batch_ms=%" PRId64 " stages=%zu available_now=%d checkpoint=%s",
	    d->d_job->j_name, interval, d->d_plan->p_nstages, d->d_opts.available_now,
	    d->d_log != NULL ? rl_batch_log_where(d->d_log) : "none");

	while (!d->d_stop) {
		if (d->d_replay == NULL && d->d_opts.available_now && caught_up(d->d_input))
			break;
		if (d->d_opts.run_for_ms > 0 && rl_mono_ms() - started >= d->d_opts.run_for_ms)
			break;
		if (!d->d_opts.available_now) {
			// Wait for the batch's time, waking up for a stop.
			while (!d->d_stop && rl_now_ms() < batch_ms)
				rl_sleep_ms(
				    batch_ms - rl_now_ms() < 50 ? batch_ms - rl_now_ms() : 50);
			if (d->d_stop)
				break;
		}
		int64_t  start_wall = rl_now_ms(), start = rl_mono_us();
		uint64_t records = 0;
		size_t   ntasks = 0;
		bool     replay = d->d_replay != NULL;
		rv = run_batch(d, batch_ms, &records, &ntasks, errbuf, errlen);
		if (rv != RL_OK && ntasks == SIZE_MAX) {
			// The watermarks could not be read: the brokers may be back
			// soon. Nothing was planned; try at the next tick, for a while.
			if (unreachable_since < 0)
				unreachable_since = rl_mono_ms();
			if (rl_mono_ms() - unreachable_since < WATERMARK_PATIENCE_MS) {
				rl_warn(COMP, "cannot read the partitions' offsets, trying again",
				    "job=%s error=\"%s\"", d->d_job->j_name, errbuf);
				rl_sleep_ms(interval < 1000 ? interval : 1000);
				if (d->d_replay == NULL)
					batch_ms += interval;
				continue;
			}
			size_t len = strlen(errbuf);
			snprintf(errbuf + len, errlen - len, " (for %d s)",
			    WATERMARK_PATIENCE_MS / 1000);
		}
		unreachable_since = -1;
		if (rv != RL_OK) {
			rl_error(COMP,
			    rv == RL_ERR_STALE_EPOCH ? "deposed: stopped" : "batch failed",
			    "job=%s batch_ms=%" PRId64 " error=\"%s\"", d->d_job->j_name, batch_ms,
			    errbuf);
			break;
		}
		int64_t processing_us = rl_mono_us() - start;
		int64_t delay = start_wall > batch_ms ? start_wall - batch_ms : 0;
		stats->batches += ntasks > 0;
		stats->records += records;
		rl_info(COMP, "batch done",
		    "job=%s batch_ms=%" PRId64 " records=%" PRIu64
		    " tasks=%zu processing_ms=%.3f scheduling_delay_ms=%" PRId64
		    " total_delay_ms=%.3f",
		    d->d_job->j_name, batch_ms, records, ntasks, (double)processing_us / 1000.0,
		    delay, (double)delay + (double)processing_us / 1000.0);
		// Available-now batches run back to back, not on the clock: their
		// "delay" is no backlog, and must not pull the rate down.
		if (ntasks > 0)
			after_batch(d, records, processing_us, d->d_opts.available_now ? 0 : delay);
		// Late batches queue, never skipped; available-now runs them back to
		// back. After a recovered batch, catch_up decides about missed ones.
		if (replay)
			batch_ms = rl_clock_resume(
			    batch_ms, interval, rl_now_ms(), d->d_job->j_catch_up);
		else
			batch_ms += interval;
	}
	stats->elapsed_ms = rl_mono_ms() - started;
	stats->late_records = d->d_late;
	char late[48] = "";
	if (d->d_event != NULL)
		snprintf(late, sizeof(late), " late_records=%" PRIu64, d->d_late);
	rl_info(COMP, "job stopped",
	    "job=%s batches=%" PRIu64 " records=%" PRIu64 " elapsed_ms=%" PRId64
	    " latency_p50_ms=%" PRId64 " latency_p99_ms=%" PRId64 " latency_max_ms=%" PRId64
	    " peak_rss_kb=%llu result=%s%s",
	    d->d_job->j_name, stats->batches, stats->records, stats->elapsed_ms,
	    rl_hist_quantile(&d->d_latency, 0.5), rl_hist_quantile(&d->d_latency, 0.99),
	    d->d_latency.h_max, (unsigned long long)(rl_peak_rss_bytes() / 1024),
	    rv == RL_OK ? "ok" : rl_errname(rv), late);
	return rv;
}
