// SPDX-License-Identifier: Apache-2.0
// Stage execution: place, launch asynchronously over nng, collect, retry.
#include "driver/scheduler.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"

#define COMP "driver"

enum { TASK_PENDING, TASK_RUNNING, TASK_DONE };

typedef struct completion {
	size_t  c_task;
	int     c_exec;
	rl_err  c_err;
	rl_msg *c_msg;
	char    c_why[256]; // the call's failure in nng's or the peer's words
} completion;

typedef struct run {
	rl_pool        *r_pool;
	rl_sched_task  *r_tasks;
	int             r_timeout_ms;
	pthread_mutex_t r_mu; // guards the queue, r_inflight and r_telling
	completion     *r_queue; // filled on nng threads, emptied by the run
	size_t          r_qlen, r_qcap;
	int             r_inflight;
	int             r_telling; // ExecutorsLost notices not answered yet
} run;

typedef struct launch_arg {
	run   *l_run;
	size_t l_task;
	int    l_exec;
} launch_arg;

static void
on_done(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	launch_arg *la = arg;
	run        *r = la->l_run;
	rl_pool    *pool = r->r_pool;
	completion  c = { la->l_task, la->l_exec, err, reply, "" };
	snprintf(c.c_why, sizeof(c.c_why), "%s", why != NULL ? why : "");
	rl_free(la);
	// The core is free before the run sees the result (its next stage may
	// want the same executor).
	rl_pool_release(pool, c.c_exec);
	pthread_mutex_lock(&r->r_mu);
	if (r->r_qlen == r->r_qcap) {
		r->r_qcap = rl_growth(r->r_qcap, r->r_qlen + 1, 16);
		r->r_queue = rl_realloc(r->r_queue, r->r_qcap * sizeof(completion));
	}
	r->r_queue[r->r_qlen++] = c;
	r->r_inflight--;
	pthread_mutex_unlock(&r->r_mu);
	// The run may be gone from here on (its stack frame): only the pool.
	rl_pool_wake(pool);
}

// inflight counts the run's launches not completed yet.
static int
inflight(run *r)
{
	pthread_mutex_lock(&r->r_mu);
	int n = r->r_inflight;
	pthread_mutex_unlock(&r->r_mu);
	return n;
}

// take_completions swaps the run's queue with *spare (capacity *spare_cap)
// and returns how many completions *spare now holds.
static size_t
take_completions(run *r, completion **spare, size_t *spare_cap)
{
	pthread_mutex_lock(&r->r_mu);
	completion *q = r->r_queue;
	size_t      n = r->r_qlen, cap = r->r_qcap;
	r->r_queue = *spare;
	r->r_qcap = *spare_cap;
	r->r_qlen = 0;
	pthread_mutex_unlock(&r->r_mu);
	*spare = q;
	*spare_cap = cap;
	return n;
}

static bool
deterministic(rl_err code)
{
	// Retrying cannot help: bad job, bad data, data gone.
	return code == RL_ERR_PARSE || code == RL_ERR_INVAL || code == RL_ERR_NOTSUP
	    || code == RL_ERR_DATA_LOSS;
}

// handle processes one completion. Returns RL_OK to go on, else the stage's
// failure with errbuf written.
static rl_err
handle(run *r, completion *c, const rl_sched_opts *opts, uint32_t *ret_failed_map, char *errbuf,
    size_t errlen)
{
	rl_sched_task          *t = &r->r_tasks[c->c_task];
	const Rill__TaskLaunch *tl = t->t_launch;
	const Rill__TaskResult *res = NULL;
	char                    why[512], exec_id[RL_POOL_ID_MAX] = "?";
	rl_pool_exec_id(r->r_pool, c->c_exec, exec_id, sizeof(exec_id));
	rl_err code = c->c_err;
	if (c->c_err == RL_OK) {
		res = c->c_msg->m_env->body_case == RILL__ENVELOPE__BODY_TASK_RESULT
		    ? c->c_msg->m_env->task_result
		    : NULL;
		if (res == NULL || res->stage != tl->stage || res->partition != tl->partition
		    || res->batch_time_ms != tl->batch_time_ms) {
			snprintf(why, sizeof(why), "reply does not match the task");
			code = RL_ERR_PROTO;
			res = NULL;
		}
	} else {
		snprintf(why, sizeof(why), "%s (%s)", rl_strerror(c->c_err), c->c_why);
	}
	if (res != NULL && res->status == RILL__TASK_RESULT__STATUS__OK) {
		if (rl_log_enabled(RL_LOG_DEBUG) && res->metrics != NULL)
			rl_log(RL_LOG_DEBUG, COMP, "task done",
			    "batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
			    " executor=%s records=%" PRIu64 " run_ms=%.3f fetch_wait_ms=%.3f",
			    tl->batch_time_ms, tl->stage, tl->partition, exec_id,
			    res->metrics->input_records, (double)res->metrics->run_us / 1000.0,
			    (double)res->metrics->fetch_wait_us / 1000.0);
		t->t_state = TASK_DONE;
		t->t_msg = c->c_msg;
		t->t_result = res;
		t->t_exec = c->c_exec;
		return RL_OK;
	}
	if (res != NULL) {
		code = res->code != RL_OK && rl_err_known((int)res->code) ? (rl_err)res->code
		                                                          : RL_ERR_INTERNAL;
		snprintf(
		    why, sizeof(why), "%s", res->error != NULL ? res->error : rl_strerror(code));
	}
	t->t_state = TASK_PENDING;
	if (res != NULL && res->status == RILL__TASK_RESULT__STATUS__FETCH_FAILED) {
		*ret_failed_map = res->failed_map_partition;
		snprintf(errbuf, errlen, "stage %" PRIu32 " task %" PRIu32 ": %s", tl->stage,
		    tl->partition, why);
		rl_msg_free(c->c_msg);
		return RL_ERR_FETCH_FAILED;
	}
	bool refused = res != NULL && res->status == RILL__TASK_RESULT__STATUS__REFUSED;
	rl_msg_free(c->c_msg);
	if (refused && code == RL_ERR_STALE_EPOCH) {
		snprintf(errbuf, errlen, "executor %s refused the task: %s", exec_id, why);
		return RL_ERR_STALE_EPOCH;
	}
	if (refused) // not run at all: try again, no attempt used
		return RL_OK;
	t->t_attempts++;
	t->t_excluded = c->c_exec;
	rl_warn(COMP, "task attempt failed",
	    "batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32 " attempt=%" PRIu32
	    " executor=%s error=\"%s\"",
	    tl->batch_time_ms, tl->stage, tl->partition, tl->attempt, exec_id, why);
	if (deterministic(code) || t->t_attempts >= opts->max_attempts) {
		snprintf(errbuf, errlen, "stage %" PRIu32 " task %" PRIu32 " failed %s: %s",
		    tl->stage, tl->partition,
		    deterministic(code) ? "(retrying cannot help)" : "on every attempt", why);
		return code != RL_OK ? code : RL_ERR_INTERNAL;
	}
	return RL_OK;
}

// lost_input finds an executor that holds map outputs t fetches and is gone
// (at one of the URLs lost[], none alive there) and writes the first such
// output's map partition to *ret_map. Launching t could only wait for the
// fetch to time out; the caller recomputes the outputs instead.
static const char *
lost_input(char *const *lost, size_t nlost, const rl_sched_task *t, uint32_t *ret_map)
{
	const Rill__TaskLaunch *tl = t->t_launch;
	size_t                  first = 0;
	for (size_t i = 0; i < tl->n_fetch_urls && i < tl->n_fetch_counts; i++) {
		uint32_t count = tl->fetch_counts[i];
		for (size_t k = 0; k < nlost && count > 0 && first < tl->n_fetch_maps; k++) {
			if (strcmp(tl->fetch_urls[i], lost[k]) == 0) {
				*ret_map = tl->fetch_maps[first];
				return tl->fetch_urls[i];
			}
		}
		first += count;
	}
	return NULL;
}

// find_lost_input looks for a pending task with a lost input (see
// lost_input): RL_ERR_FETCH_FAILED naming one of its map outputs, or RL_OK.
static rl_err
find_lost_input(rl_pool *pool, rl_sched_task *tasks, size_t n, uint32_t *ret_failed_map,
    char *errbuf, size_t errlen)
{
	size_t nlost;
	char **lost = rl_pool_lost_urls(pool, &nlost);
	rl_err rv = RL_OK;
	for (size_t i = 0; i < n && nlost > 0; i++) {
		const char *url;
		uint32_t    map;
		if (tasks[i].t_state != TASK_PENDING
		    || (url = lost_input(lost, nlost, &tasks[i], &map)) == NULL)
			continue;
		*ret_failed_map = map;
		snprintf(errbuf, errlen,
		    "stage %" PRIu32 " task %" PRIu32 ": map output %" PRIu32
		    " was on %s, which is gone",
		    tasks[i].t_launch->stage, tasks[i].t_launch->partition, map, url);
		rv = RL_ERR_FETCH_FAILED;
		break;
	}
	rl_free(lost);
	return rv;
}

// The pending tasks, in the order they are placed: a ring of task indexes
// (each task is in it at most once).
typedef struct queue {
	size_t *q_items;
	size_t  q_cap, q_head, q_len;
} queue;

static void
queue_push(queue *q, size_t task)
{
	q->q_items[(q->q_head + q->q_len++) % q->q_cap] = task;
}

// queue_unpop puts back the task queue_pop just gave.
static void
queue_unpop(queue *q, size_t task)
{
	q->q_head = (q->q_head + q->q_cap - 1) % q->q_cap;
	q->q_items[q->q_head] = task;
	q->q_len++;
}

static size_t
queue_pop(queue *q)
{
	size_t task = q->q_items[q->q_head];
	q->q_head = (q->q_head + 1) % q->q_cap;
	q->q_len--;
	return task;
}

// A task told that an input's executor is lost and still running this long
// after is told again: the notice may have overtaken its launch on the way.
#define TELL_AGAIN_MS 2000
#define TELL_TIMEOUT_MS 3000

typedef struct tell_arg {
	run *ta_run;
	char ta_exec[RL_POOL_ID_MAX];
} tell_arg;

static void
on_told(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	tell_arg                     *ta = arg;
	run                          *r = ta->ta_run;
	rl_pool                      *pool = r->r_pool;
	const Rill__ExecutorsLostAck *ack
	    = reply != NULL && reply->m_env->body_case == RILL__ENVELOPE__BODY_EXECUTORS_LOST_ACK
	    ? reply->m_env->executors_lost_ack
	    : NULL;
	// Canceled: the run ended, or that executor is lost too.
	if (err != RL_OK && err != RL_ERR_CANCELED)
		rl_warn(COMP, "cannot tell an executor of lost peers",
		    "executor=%s error=\"%s (%s)\"", ta->ta_exec, rl_strerror(err), why);
	else if (err == RL_OK && (ack == NULL || !ack->accepted))
		rl_warn(COMP, "an executor refused news of lost peers", "executor=%s error=\"%s\"",
		    ta->ta_exec,
		    ack != NULL && ack->reason != NULL ? ack->reason : "unexpected reply");
	rl_msg_free(reply);
	rl_free(ta);
	pthread_mutex_lock(&r->r_mu);
	r->r_telling--;
	pthread_mutex_unlock(&r->r_mu);
	rl_pool_wake(pool); // the run may be gone from here on: only the pool
}

// telling counts the run's notices not answered yet.
static int
telling(run *r)
{
	pthread_mutex_lock(&r->r_mu);
	int n = r->r_telling;
	pthread_mutex_unlock(&r->r_mu);
	return n;
}

// tell_lost tells the executor running t which of t's inputs were on
// executors that are lost, if any (ExecutorsLost): its fetch from them, which
// could otherwise wait out its timeout on a peer gone silent, fails at once
// and t comes back FETCH_FAILED. Returns whether there were any.
static bool
tell_lost(run *r, rl_sched_task *t)
{
	rl_pool                *pool = r->r_pool;
	const Rill__TaskLaunch *tl = t->t_launch;
	char                  **urls = rl_calloc(tl->n_fetch_urls + 1, sizeof(char *));
	size_t                  nurls = 0;
	for (size_t i = 0; i < tl->n_fetch_urls; i++) // one entry per executor
		if (rl_pool_url_state_of(pool, tl->fetch_urls[i]) == RL_POOL_URL_LOST)
			urls[nurls++] = tl->fetch_urls[i];
	if (nurls > 0) {
		tell_arg *ta = RL_NEW(tell_arg);
		ta->ta_run = r;
		snprintf(ta->ta_exec, sizeof(ta->ta_exec), "?");
		rl_pool_exec_id(pool, t->t_on, ta->ta_exec, sizeof(ta->ta_exec));
		if (t->t_told_ms == 0)
			rl_warn(COMP, "telling an executor of its task's lost inputs",
			    "batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
			    " executor=%s lost=%s lost_executors=%zu",
			    tl->batch_time_ms, tl->stage, tl->partition, ta->ta_exec, urls[0],
			    nurls);
		Rill__ExecutorsLost lost = RILL__EXECUTORS_LOST__INIT;
		lost.job = tl->job;
		lost.epoch = tl->epoch;
		lost.listen_urls = urls;
		lost.n_listen_urls = nurls;
		Rill__Envelope env = RILL__ENVELOPE__INIT;
		env.body_case = RILL__ENVELOPE__BODY_EXECUTORS_LOST;
		env.executors_lost = &lost;
		pthread_mutex_lock(&r->r_mu);
		r->r_telling++;
		pthread_mutex_unlock(&r->r_mu);
		rl_pool_call_async(pool, t->t_on, &env, TELL_TIMEOUT_MS, on_told, ta);
	}
	rl_free(urls);
	return nurls > 0;
}

// tell_running tells the executors of running reduce tasks about lost
// inputs: of every task not looked at since the last loss (launched after
// it, maybe with inputs on the executor just lost), and again of those told
// before: a launch accepted after the notice it raced with is not given up
// by that notice.
static void
tell_running(run *r, size_t n, uint64_t losses)
{
	int64_t now = rl_mono_ms();
	for (size_t i = 0; i < n; i++) {
		rl_sched_task *t = &r->r_tasks[i];
		// A task on a lost executor is retried anyway (its call was canceled).
		if (t->t_state != TASK_RUNNING || t->t_launch->n_fetch_urls == 0
		    || !rl_pool_exec_alive(r->r_pool, t->t_on))
			continue;
		bool again = t->t_told_ms > 0 && now - t->t_told_ms >= TELL_AGAIN_MS;
		bool unchecked = t->t_checked_losses != losses;
		t->t_checked_losses = losses;
		if (unchecked || again) // 0: none lost (any more), nothing to say again
			t->t_told_ms = tell_lost(r, t) ? now : 0;
	}
}

static void
launch(run *r, size_t ti, int ei)
{
	rl_pool       *pool = r->r_pool;
	rl_sched_task *t = &r->r_tasks[ti];
	launch_arg    *la = rl_malloc(sizeof(*la));
	*la = (launch_arg) { r, ti, ei };
	t->t_launch->attempt = (uint32_t)t->t_attempts;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = t->t_launch;
	rl_pool_call_async(pool, ei, &env, r->r_timeout_ms, on_done, la);
}

rl_err
rl_sched_run(rl_pool *pool, rl_sched_task *tasks, size_t n, const rl_sched_opts *opts,
    uint32_t *ret_failed_map, char *errbuf, size_t errlen)
{
	run r = {
		.r_pool = pool,
		.r_tasks = tasks,
		.r_timeout_ms = opts->task_timeout_ms > 0 ? opts->task_timeout_ms : -1,
	};
	pthread_mutex_init(&r.r_mu, NULL);
	size_t      done = 0;
	rl_err      rv = RL_OK;
	int64_t     none_since = -1;
	size_t     *to_launch = rl_calloc(n + 1, sizeof(size_t));
	int        *on_exec = rl_calloc(n + 1, sizeof(int));
	queue       pending = { .q_items = rl_calloc(n + 1, sizeof(size_t)), .q_cap = n + 1 };
	completion *got = NULL; // the completions being handled
	size_t      got_cap = 0, ngot = 0;
	bool        has_inputs = false;
	for (size_t i = 0; i < n; i++) {
		has_inputs |= tasks[i].t_launch->n_fetch_urls > 0;
		if (tasks[i].t_state == TASK_DONE)
			done++;
		else
			queue_push(&pending, i);
	}
	// Inputs are checked for lost executors once, then after every loss.
	uint64_t losses = rl_pool_losses(pool);
	bool     check_inputs = has_inputs;

	while (done < n && rv == RL_OK) {
		// Read before looking: an event after this point ends the wait below.
		uint64_t seen = rl_pool_events(pool);
		rl_pool_check(pool);
		uint64_t now_losses = rl_pool_losses(pool);
		// Running reducers hear of lost inputs first: a stage that ends
		// below on a pending one leaves them no wait on a silent peer.
		if (has_inputs)
			tell_running(&r, n, now_losses);
		if (has_inputs && (check_inputs || now_losses != losses)) {
			losses = now_losses;
			check_inputs = false;
			if ((rv = find_lost_input(pool, tasks, n, ret_failed_map, errbuf, errlen))
			    != RL_OK)
				break;
		}
		// Place what can be placed, in order, until no executor has a core.
		size_t nl = 0, tries = pending.q_len;
		for (size_t k = 0; k < tries; k++) {
			size_t i = queue_pop(&pending);
			int ei = rl_pool_reserve(pool, tasks[i].t_preferred, tasks[i].t_excluded);
			if (ei < 0 && tasks[i].t_excluded < 0) {
				queue_unpop(&pending, i); // no free core anywhere: first next time
				break;
			}
			if (ei < 0) { // only the executor it failed on may have one
				queue_push(&pending, i);
				continue;
			}
			tasks[i].t_state = TASK_RUNNING;
			tasks[i].t_on = ei;
			tasks[i].t_told_ms = 0;
			tasks[i].t_checked_losses = 0; // looked at once if any loss happened
			to_launch[nl] = i;
			on_exec[nl++] = ei;
		}
		pthread_mutex_lock(&r.r_mu);
		r.r_inflight += (int)nl;
		pthread_mutex_unlock(&r.r_mu);
		// A launch that fails at once completes inline.
		for (size_t k = 0; k < nl; k++)
			launch(&r, to_launch[k], on_exec[k]);
		// Collect.
		ngot = take_completions(&r, &got, &got_cap);
		for (size_t k = 0; k < ngot; k++) {
			completion *c = &got[k];
			if (rv != RL_OK) {
				rl_msg_free(c->c_msg);
				continue;
			}
			rv = handle(&r, c, opts, ret_failed_map, errbuf, errlen);
			if (r.r_tasks[c->c_task].t_state == TASK_DONE)
				done++;
			else if (r.r_tasks[c->c_task].t_state == TASK_PENDING)
				queue_push(&pending, c->c_task);
		}
		if (done == n || rv != RL_OK)
			break;
		if (rl_pool_alive(pool) == 0 && inflight(&r) == 0) {
			if (none_since < 0)
				none_since = rl_mono_ms();
			if (rl_mono_ms() - none_since > opts->no_executor_timeout_ms) {
				snprintf(errbuf, errlen, "no executor alive for %" PRId64 " ms",
				    opts->no_executor_timeout_ms);
				rv = RL_ERR_TIMEDOUT;
				break;
			}
		} else {
			none_since = -1;
		}
		rl_pool_wait(pool, seen, 100);
	}
	// News of lost peers is answered before the calls are canceled: a
	// notice canceled before nng sent it would leave a task waiting on a
	// silent peer (its executor's core with it) for the fetch's 30 s. Tasks
	// launched since the last look (this stage may end on a lost input
	// found below them) are told first.
	if (has_inputs)
		tell_running(&r, n, rl_pool_losses(pool));
	for (;;) {
		uint64_t seen = rl_pool_events(pool);
		if (telling(&r) == 0)
			break;
		rl_pool_wait(pool, seen, 100);
	}
	// Leave nothing in flight behind.
	if (inflight(&r) > 0)
		rl_pool_cancel_calls(pool);
	for (;;) {
		uint64_t seen = rl_pool_events(pool);
		if (inflight(&r) == 0 && telling(&r) == 0)
			break;
		rl_pool_wait(pool, seen, 100);
	}
	// No nng thread touches the run any more.
	for (size_t k = 0; k < r.r_qlen; k++)
		rl_msg_free(r.r_queue[k].c_msg);
	for (size_t i = 0; i < n; i++)
		if (tasks[i].t_state == TASK_RUNNING)
			tasks[i].t_state = TASK_PENDING;
	rl_free(r.r_queue);
	rl_free(got);
	rl_free(to_launch);
	rl_free(on_exec);
	rl_free(pending.q_items);
	pthread_mutex_destroy(&r.r_mu);
	return rv;
}

void
rl_sched_reset(rl_sched_task *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rl_msg_free(tasks[i].t_msg);
		tasks[i].t_msg = NULL;
		tasks[i].t_result = NULL;
		tasks[i].t_state = TASK_PENDING;
		tasks[i].t_attempts = 0;
		tasks[i].t_excluded = -1;
		tasks[i].t_exec = -1;
	}
}
