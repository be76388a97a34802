// SPDX-License-Identifier: Apache-2.0
// Stage execution: place, launch asynchronously over nng, collect, retry.
#include "driver/scheduler.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
	rl_pool       *r_pool;
	rl_sched_task *r_tasks;
	completion    *r_queue; // guarded by the pool's lock
	size_t         r_qlen, r_qcap;
	int            r_inflight;
	int            r_timeout_ms;
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
	pthread_mutex_lock(&pool->p_mu);
	if (r->r_qlen == r->r_qcap) {
		r->r_qcap = rl_growth(r->r_qcap, r->r_qlen + 1, 16);
		r->r_queue = rl_realloc(r->r_queue, r->r_qcap * sizeof(completion));
	}
	completion *c = &r->r_queue[r->r_qlen++];
	*c = (completion) { la->l_task, la->l_exec, err, reply, "" };
	snprintf(c->c_why, sizeof(c->c_why), "%s", why);
	pool->p_execs[la->l_exec]->e_busy--;
	r->r_inflight--;
	pthread_cond_broadcast(&pool->p_cond);
	pthread_mutex_unlock(&pool->p_mu);
	rl_free(la);
}

// pick chooses an executor for t, or -1 if none has a free core. @locks p_mu held
static int
pick(rl_pool *pool, const rl_sched_task *t)
{
	if (t->t_preferred >= 0 && t->t_preferred < pool->p_nexecs) {
		rl_exec *e = pool->p_execs[t->t_preferred];
		if (e->e_alive && e->e_busy < e->e_cores && e->e_index != t->t_excluded)
			return e->e_index;
	}
	int best = -1, best_free = 0, alive = 0;
	for (int i = 0; i < pool->p_nexecs; i++) {
		rl_exec *e = pool->p_execs[i];
		if (!e->e_alive)
			continue;
		alive++;
		int free = e->e_cores - e->e_busy;
		if (i == t->t_excluded)
			continue;
		if (free > best_free) {
			best = i;
			best_free = free;
		}
	}
	// The executor it failed on is still better than none at all.
	if (best < 0 && alive == 1 && t->t_excluded >= 0) {
		rl_exec *e = pool->p_execs[t->t_excluded];
		if (e->e_alive && e->e_busy < e->e_cores)
			best = t->t_excluded;
	}
	return best;
}

static bool
deterministic(rl_err code)
{
	// Retrying cannot help: bad job, bad data, data gone.
	return code == RL_ERR_PARSE || code == RL_ERR_INVAL || code == RL_ERR_NOTSUP
	    || code == RL_ERR_DATA_LOSS;
}

static void
timed_wait(rl_pool *pool, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&pool->p_cond, &pool->p_mu, &ts);
}

// handle processes one completion. Returns RL_OK to go on, else the stage's
// failure with errbuf written. @locks p_mu held
static rl_err
handle(run *r, completion *c, const rl_sched_opts *opts, uint32_t *ret_failed_map, char *errbuf,
    size_t errlen)
{
	rl_sched_task          *t = &r->r_tasks[c->c_task];
	const Rill__TaskLaunch *tl = t->t_launch;
	rl_exec                *e = r->r_pool->p_execs[c->c_exec];
	const Rill__TaskResult *res = NULL;
	char                    why[512];
	rl_err                  code = c->c_err;
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
			    tl->batch_time_ms, tl->stage, tl->partition, e->e_id,
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
		snprintf(errbuf, errlen, "executor %s refused the task: %s", e->e_id, why);
		return RL_ERR_STALE_EPOCH;
	}
	if (refused) // not run at all: try again, no attempt used
		return RL_OK;
	t->t_attempts++;
	t->t_excluded = c->c_exec;
	rl_warn(COMP, "task attempt failed",
	    "batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32 " attempt=%" PRIu32
	    " executor=%s error=\"%s\"",
	    tl->batch_time_ms, tl->stage, tl->partition, tl->attempt, e->e_id, why);
	if (deterministic(code) || t->t_attempts >= opts->max_attempts) {
		snprintf(errbuf, errlen, "stage %" PRIu32 " task %" PRIu32 " failed %s: %s",
		    tl->stage, tl->partition,
		    deterministic(code) ? "(retrying cannot help)" : "on every attempt", why);
		return code != RL_OK ? code : RL_ERR_INTERNAL;
	}
	return RL_OK;
}

// lost_input finds an input of t whose map output lived on an executor that
// is gone (none alive at its URL). Launching t could only wait for the fetch
// to time out; the caller recomputes the output instead.
static const Rill__ShuffleInput *
lost_input(const rl_pool *pool, const rl_sched_task *t)
{
	const Rill__TaskLaunch *tl = t->t_launch;
	for (size_t i = 0; i < tl->n_inputs; i++) {
		const char *url = tl->inputs[i]->executor_url;
		bool        known = false, alive = false;
		for (int k = 0; k < pool->p_nexecs; k++) {
			if (strcmp(pool->p_execs[k]->e_url, url) == 0) {
				known = true;
				alive |= pool->p_execs[k]->e_alive;
			}
		}
		if (known && !alive)
			return tl->inputs[i];
	}
	return NULL;
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
	rl_rpc_call_async(pool->p_execs[ei]->e_client, &env, r->r_timeout_ms, on_done, la);
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
	size_t  done = 0;
	rl_err  rv = RL_OK;
	int64_t none_since = -1;
	size_t *to_launch = rl_calloc(n + 1, sizeof(size_t));
	int    *on_exec = rl_calloc(n + 1, sizeof(int));
	for (size_t i = 0; i < n; i++)
		if (tasks[i].t_state == TASK_DONE)
			done++;

	pthread_mutex_lock(&pool->p_mu);
	while (done < n && rv == RL_OK) {
		rl_pool_check(pool);
		for (size_t i = 0; i < n && rv == RL_OK; i++) {
			const Rill__ShuffleInput *in;
			if (tasks[i].t_state != TASK_PENDING
			    || (in = lost_input(pool, &tasks[i])) == NULL)
				continue;
			*ret_failed_map = in->map_partition;
			snprintf(errbuf, errlen,
			    "stage %" PRIu32 " task %" PRIu32 ": map output %" PRIu32
			    " was on %s, which is gone",
			    tasks[i].t_launch->stage, tasks[i].t_launch->partition,
			    in->map_partition, in->executor_url);
			rv = RL_ERR_FETCH_FAILED;
		}
		if (rv != RL_OK)
			break;
		// Place what can be placed.
		size_t nl = 0;
		for (size_t i = 0; i < n; i++) {
			if (tasks[i].t_state != TASK_PENDING)
				continue;
			int ei = pick(pool, &tasks[i]);
			if (ei < 0)
				continue;
			tasks[i].t_state = TASK_RUNNING;
			pool->p_execs[ei]->e_busy++;
			r.r_inflight++;
			to_launch[nl] = i;
			on_exec[nl++] = ei;
		}
		if (nl > 0) {
			// Launch without the lock: a launch that fails at once completes inline.
			pthread_mutex_unlock(&pool->p_mu);
			for (size_t k = 0; k < nl; k++)
				launch(&r, to_launch[k], on_exec[k]);
			pthread_mutex_lock(&pool->p_mu);
		}
		// Collect.
		for (size_t k = 0; k < r.r_qlen; k++) {
			completion *c = &r.r_queue[k];
			if (rv != RL_OK) {
				rl_msg_free(c->c_msg);
				continue;
			}
			rv = handle(&r, c, opts, ret_failed_map, errbuf, errlen);
			if (r.r_tasks[c->c_task].t_state == TASK_DONE)
				done++;
		}
		r.r_qlen = 0;
		if (done == n || rv != RL_OK)
			break;
		if (rl_pool_alive(pool) == 0 && r.r_inflight == 0) {
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
		if (r.r_qlen == 0)
			timed_wait(pool, 100);
	}
	// Leave nothing in flight behind.
	if (r.r_inflight > 0)
		for (int i = 0; i < pool->p_nexecs; i++)
			if (pool->p_execs[i]->e_client != NULL)
				rl_rpc_client_cancel_all(pool->p_execs[i]->e_client);
	while (r.r_inflight > 0)
		timed_wait(pool, 100);
	for (size_t k = 0; k < r.r_qlen; k++)
		rl_msg_free(r.r_queue[k].c_msg);
	pthread_mutex_unlock(&pool->p_mu);
	for (size_t i = 0; i < n; i++)
		if (tasks[i].t_state == TASK_RUNNING)
			tasks[i].t_state = TASK_PENDING;
	rl_free(r.r_queue);
	rl_free(to_launch);
	rl_free(on_exec);
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
