// SPDX-License-Identifier: Apache-2.0
// Executor: job cache, task dispatch, shuffle serving, registration and
// heartbeats with a driver, or its node in ZooKeeper.
#include "executor/executor.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.pb-c.h"
#include "common/alloc.h"
#include "common/cmdline.h"
#include "common/connector.h"
#include "common/fault.h"
#include "common/hash.h"
#include "common/jobfile.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/rpc.h"
#include "common/sysinfo.h"
#include "common/time.h"
#include "common/udf.h"
#include "common/zk.h"
#include "executor/artifacts.h"
#include "executor/shuffle.h"
#include "executor/sink.h"
#include "executor/source.h"
#include "executor/state.h"
#include "executor/task.h"

#define COMP "executor"
// Extra server workers beyond the cores: shuffle fetches never wait behind tasks.
#define FETCH_WORKERS 4

// A job this executor has seen, compiled once per spec hash.
typedef struct job_entry {
	struct job_entry *j_next;
	uint64_t          j_hash;
	rl_job           *j_job;
	rl_plan          *j_plan;
	// Per input of the plan (the job's source, each union's): the executor
	// half of its source and its resource, made on its first stage-0 task.
	const rl_source_exec_ops **j_source;
	void                     **j_source_shared;
	uint64_t                   j_epoch; // highest leader epoch seen for this job
	char j_artifact[RL_SHA256_HEX_LEN]; // the artifact it was bound to, "" if none
} job_entry;

// A peer executor this one fetches from, or was told is lost.
typedef struct peer {
	struct peer   *p_next;
	char          *p_url;
	rl_rpc_client *p_cli; // NULL until a fetch needs it
	// The sequence number (x_seq) of the driver's last word that this peer
	// is lost, 0 if none: fetches from it by tasks accepted before fail.
	uint64_t p_lost_seq;
} peer;

typedef struct busy       busy;
typedef struct fetch_wait fetch_wait;

struct rl_executor {
	char              x_id[128];
	int               x_cores;
	int               x_heartbeat_ms;
	bool              x_exit_with_driver;
	rl_rpc_server    *x_server;
	rl_rpc_client    *x_driver;
	rl_zk            *x_zk; // with --zk: the session that owns x_node (run's thread)
	char             *x_zk_connect;
	int               x_zk_session_ms;
	char              x_node[192]; // /rill/executors/<id>
	rl_shuffle_store *x_shuffle;
	rl_state_cache   *x_state; // warm state partitions
	char             *x_spill_dir; // state partitions past a job's budget (RocksDB)
	rl_sink_shared   *x_sinks; // every sink kind's resource (Kafka: producers)
	rl_artifacts     *x_artifacts; // user-function libraries, by sha256
	pthread_mutex_t   x_mu; // guards x_jobs, x_peers, x_fetches and job entries
	job_entry        *x_jobs;
	peer             *x_peers;
	fetch_wait       *x_fetches; // the fetches in progress, for handle_executors_lost
	bool              x_closing; // under x_mu: fetches give up on their peers (exit)
	// Numbers task launches and lost-peer notices in the order they arrive:
	// a notice applies to the tasks accepted before it.
	atomic_uint_fast64_t x_seq;
	pthread_mutex_t      x_busy_mu; // guards x_busy
	busy                *x_busy; // the requests being handled, for a stuck shutdown
	int                  x_stop_grace_ms;
	_Atomic int          x_running;
	atomic_int           x_stop; // set by rl_executor_stop (a signal handler, another thread)
};

// ---- jobs ----

// job_find is the compiled job of a launch, or NULL. @locks x_mu held
static job_entry *
job_find(rl_executor *ex, const Rill__TaskLaunch *tl)
{
	const char *sha = tl->artifact_sha256 != NULL ? tl->artifact_sha256 : "";
	for (job_entry *e = ex->x_jobs; e != NULL; e = e->j_next)
		if (e->j_hash == tl->spec_hash && strcmp(e->j_job->j_name, tl->job) == 0
		    && strcmp(e->j_artifact, sha) == 0)
			return e;
	return NULL;
}

// job_get finds or compiles the job of a launch: parsed, planned and, when
// it names user functions, bound to its artifact (fetched from the driver
// and loaded on first use). Compiling happens outside x_mu (a fetch may
// take a while); of two workers that compiled the same job, the first one
// in keeps its entry. Errors go to errbuf and *ret_err.
static job_entry *
job_get(rl_executor *ex, const Rill__TaskLaunch *tl, rl_err *ret_err, char *errbuf, size_t errlen)
{
	pthread_mutex_lock(&ex->x_mu);
	job_entry *e = job_find(ex, tl);
	pthread_mutex_unlock(&ex->x_mu);
	if (e != NULL)
		return e;
	const char *sha = tl->artifact_sha256 != NULL ? tl->artifact_sha256 : "";
	rl_job     *job;
	rl_plan    *plan = NULL;
	char        name[96];
	rl_err      rv;
	snprintf(name, sizeof(name), "job %s (from the driver)", tl->job);
	if ((rv = rl_job_parse(
	         (const char *)tl->job_spec.data, tl->job_spec.len, name, &job, errbuf, errlen))
	    != RL_OK) {
		*ret_err = RL_ERR_PARSE;
		return NULL;
	}
	if ((rv = rl_plan_build(job, &plan, errbuf, errlen)) != RL_OK)
		goto err_job;
	if (rl_job_uses_udfs(job)) {
		const rl_udf_lib *lib = NULL;
		if (sha[0] != '\0'
		    && (rv = rl_artifacts_get(
		            ex->x_artifacts, sha, tl->artifact_url, &lib, errbuf, errlen))
		        != RL_OK)
			goto err_job;
		if ((rv = rl_udf_bind(lib, job, errbuf, errlen)) != RL_OK)
			goto err_job;
	}
	e = RL_NEW(job_entry);
	e->j_source = rl_calloc(plan->p_ninputs, sizeof(*e->j_source));
	e->j_source_shared = rl_calloc(plan->p_ninputs, sizeof(*e->j_source_shared));
	e->j_hash = tl->spec_hash;
	e->j_job = job;
	e->j_plan = plan;
	snprintf(e->j_artifact, sizeof(e->j_artifact), "%s", sha);
	pthread_mutex_lock(&ex->x_mu);
	job_entry *other = job_find(ex, tl);
	if (other == NULL) {
		e->j_next = ex->x_jobs;
		ex->x_jobs = e;
	}
	pthread_mutex_unlock(&ex->x_mu);
	if (other != NULL) {
		rl_plan_destroy(plan);
		rl_job_destroy(job);
		rl_free(e->j_source);
		rl_free(e->j_source_shared);
		rl_free(e);
		return other;
	}
	rl_info(COMP, "job compiled", "job=%s stages=%zu spec_hash=%016" PRIx64 " artifact=%s",
	    job->j_name, plan->p_nstages, tl->spec_hash, sha[0] != '\0' ? sha : "-");
	return e;
err_job:
	rl_plan_destroy(plan);
	rl_job_destroy(job);
	*ret_err = rv;
	return NULL;
}

// job_source finds the executor half of the source of the job's input
// (0: its own source; k: the k-th union's) and makes its shared resource on
// first use; NULL with errbuf on failure.
static void *
job_source(
    rl_executor *ex, job_entry *e, uint32_t input, rl_err *ret_err, char *errbuf, size_t errlen)
{
	if (input >= e->j_plan->p_ninputs) {
		snprintf(errbuf, errlen, "input %" PRIu32 " of a job with %zu inputs", input,
		    e->j_plan->p_ninputs);
		*ret_err = RL_ERR_PROTO;
		return NULL;
	}
	const rl_job *view = &e->j_plan->p_inputs[input].pi_job;
	pthread_mutex_lock(&ex->x_mu);
	rl_err rv = RL_OK;
	if (e->j_source[input] == NULL) {
		const char               *kind = rl_job_source_kind(view);
		const rl_source_exec_ops *ops = rl_source_exec_find(kind);
		if (ops == NULL || ops->se_version != RL_SOURCE_EXEC_VERSION) {
			snprintf(
			    errbuf, errlen, "source '%s' is not supported by this executor", kind);
			rv = RL_ERR_NOTSUP;
		} else if ((rv = ops->se_job_open(view, &e->j_source_shared[input], errbuf, errlen))
		    == RL_OK) {
			e->j_source[input] = ops;
		}
	}
	void *shared = e->j_source_shared[input];
	pthread_mutex_unlock(&ex->x_mu);
	*ret_err = rv;
	return rv == RL_OK ? shared : NULL;
}

static void
jobs_free(rl_executor *ex)
{
	job_entry *e = ex->x_jobs;
	while (e != NULL) {
		job_entry *next = e->j_next;
		for (size_t k = 0; k < e->j_plan->p_ninputs; k++)
			if (e->j_source[k] != NULL)
				e->j_source[k]->se_job_close(e->j_source_shared[k]);
		rl_free(e->j_source);
		rl_free(e->j_source_shared);
		rl_plan_destroy(e->j_plan);
		rl_job_destroy(e->j_job);
		rl_free(e);
		e = next;
	}
	ex->x_jobs = NULL;
}

// ---- shuffle fetch (the task side) ----

// A peer not connected within this long is taken as gone: the driver then
// recomputes its map outputs, rather than the task waiting out its fetch
// (nng redials a dead peer until the call's timeout).
#define PEER_CONNECT_MS 3000
// A fetch's own limit. A peer that went silent on an open connection (its
// host cut off) is not noticed sooner by the fetch itself: the driver, which
// loses it after missed heartbeats (or its ZooKeeper session), says so with
// ExecutorsLost, and the fetch gives up then (handle_executors_lost).
#define FETCH_TIMEOUT_MS 30000

// peer_find is url's entry, made if create (else NULL when there is none).
// @locks x_mu held
static peer *
peer_find(rl_executor *ex, const char *url, bool create)
{
	peer *p;
	for (p = ex->x_peers; p != NULL; p = p->p_next)
		if (strcmp(p->p_url, url) == 0)
			return p;
	if (!create)
		return NULL;
	p = RL_NEW(peer);
	p->p_url = rl_strdup(url);
	p->p_next = ex->x_peers;
	ex->x_peers = p;
	return p;
}

// peer_gone says whether the driver said url's executor is lost after the
// task numbered seq was accepted. @locks x_mu held
static bool
peer_gone(rl_executor *ex, const char *url, uint64_t seq)
{
	const peer *p = peer_find(ex, url, false);
	return p != NULL && p->p_lost_seq > seq;
}

// peer_client is the client for fetches from url, dialed on first use.
static rl_rpc_client *
peer_client(rl_executor *ex, const char *url, char *errbuf, size_t errlen)
{
	pthread_mutex_lock(&ex->x_mu);
	peer *p = peer_find(ex, url, true);
	if (p->p_cli == NULL)
		rl_rpc_client_create(url, &p->p_cli, errbuf, errlen);
	rl_rpc_client *cli = p->p_cli;
	pthread_mutex_unlock(&ex->x_mu);
	return cli;
}

// One peer's answer to a fetch, delivered on an nng thread.
typedef struct fetch_call {
	fetch_wait *f_wait;
	bool        f_issued; // an rpc call was made (w_mu once issued)
	bool        f_done; // it completed (w_mu)
	rl_err      f_err;
	rl_msg     *f_reply;
	bool        f_unreachable; // no connection within PEER_CONNECT_MS
	char        f_why[256]; // f_err in nng's or the peer's words, or ""
} fetch_call;

// One task's fetch, shared with the callbacks of its calls. A task that
// gives up on a lost peer returns before its calls complete: whoever drops
// the last reference frees it.
struct fetch_wait {
	fetch_wait           *w_next; // in x_fetches, while the task waits (x_mu)
	uint64_t              w_seq; // the task's number (x_seq at its launch)
	const rl_fetch_group *w_groups; // the task's, valid while in x_fetches
	size_t                w_ngroups;
	pthread_mutex_t       w_mu; // guards what follows and w_calls
	pthread_cond_t        w_cond;
	size_t                w_refs; // the task's own, plus one per call in flight
	size_t                w_pending; // calls not completed
	ptrdiff_t             w_gone; // the group of a peer the driver lost, or -1
	fetch_call            w_calls[];
};

static fetch_wait *
wait_create(const rl_fetch_group *groups, size_t ngroups, uint64_t seq)
{
	fetch_wait *w = rl_calloc(1, sizeof(*w) + (ngroups + 1) * sizeof(fetch_call));
	w->w_seq = seq;
	w->w_groups = groups;
	w->w_ngroups = ngroups;
	w->w_refs = 1;
	w->w_gone = -1;
	pthread_mutex_init(&w->w_mu, NULL);
	pthread_cond_init(&w->w_cond, NULL);
	for (size_t g = 0; g < ngroups; g++)
		w->w_calls[g].f_wait = w;
	return w;
}

// wait_unref drops a reference taken with w_mu held (and releases w_mu);
// the last one frees w with the replies it still holds.
static void
wait_unref(fetch_wait *w)
{
	bool last = --w->w_refs == 0;
	pthread_mutex_unlock(&w->w_mu);
	if (!last)
		return;
	for (size_t g = 0; g < w->w_ngroups; g++)
		rl_msg_free(w->w_calls[g].f_reply);
	pthread_cond_destroy(&w->w_cond);
	pthread_mutex_destroy(&w->w_mu);
	rl_free(w);
}

// wait_peer_lost makes a fetch that still waits for url give up; true if
// it did. @locks x_mu held (w is in x_fetches)
static bool
wait_peer_lost(fetch_wait *w, const char *url, const char *self)
{
	bool gave_up = false;
	pthread_mutex_lock(&w->w_mu);
	for (size_t g = 0; g < w->w_ngroups && w->w_gone < 0; g++) {
		if (strcmp(w->w_groups[g].g_url, url) != 0 || strcmp(url, self) == 0
		    || w->w_calls[g].f_done)
			continue;
		w->w_gone = (ptrdiff_t)g;
		gave_up = true;
		pthread_cond_signal(&w->w_cond);
	}
	pthread_mutex_unlock(&w->w_mu);
	return gave_up;
}

static void
fetch_done(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	fetch_call *c = arg;
	fetch_wait *w = c->f_wait;
	pthread_mutex_lock(&w->w_mu);
	c->f_done = true;
	c->f_err = err;
	snprintf(c->f_why, sizeof(c->f_why), "%s", why);
	c->f_reply = reply;
	w->w_pending--;
	pthread_cond_signal(&w->w_cond);
	wait_unref(w);
}

// fetch_local hands the task the blocks this executor holds itself.
static rl_err
fetch_local(rl_executor *ex, const rl_fetch_group *g, const rl_map_output_id *base,
    uint32_t reduce_partition, rl_block_cb cb, void *cb_arg, uint32_t *ret_failed_map, char *errbuf,
    size_t errlen)
{
	for (size_t m = 0; m < g->g_nmaps; m++) {
		rl_map_output_id id = *base;
		id.map_partition = g->g_maps[m];
		rl_block_ref ref;
		if (!rl_shuffle_acquire(ex->x_shuffle, &id, reduce_partition, &ref)) {
			snprintf(errbuf, errlen,
			    "local shuffle output %s/%" PRId64 "/%" PRIu32 "/%" PRIu32 " is gone",
			    id.job, id.batch_ms, id.stage, id.map_partition);
			*ret_failed_map = id.map_partition;
			return RL_ERR_FETCH_FAILED;
		}
		rl_err rv = cb(cb_arg, id.map_partition, ref.b_data, ref.b_len);
		rl_shuffle_release(ex->x_shuffle, &ref);
		if (rv != RL_OK)
			return rv;
	}
	return RL_OK;
}

// gone_error says that the driver lost group g's executor.
static rl_err
gone_error(const rl_fetch_group *g, uint32_t *ret_failed_map, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen,
	    "fetching %zu map outputs from %s: the driver lost that executor (gave up waiting)",
	    g->g_nmaps, g->g_url);
	*ret_failed_map = g->g_maps[0];
	return RL_ERR_FETCH_FAILED;
}

// use_reply checks a peer's segments against the request and hands the task
// each block.
static rl_err
use_reply(const rl_fetch_group *g, const fetch_call *c, rl_block_cb cb, void *cb_arg,
    uint32_t *ret_failed_map, char *errbuf, size_t errlen)
{
	if (c->f_unreachable) {
		snprintf(errbuf, errlen,
		    "fetching %zu map outputs from %s: no connection within %d ms", g->g_nmaps,
		    g->g_url, PEER_CONNECT_MS);
		*ret_failed_map = g->g_maps[0];
		return RL_ERR_FETCH_FAILED;
	}
	if (c->f_err != RL_OK) {
		snprintf(errbuf, errlen, "fetching %zu map outputs from %s: %s (%s)", g->g_nmaps,
		    g->g_url, rl_strerror(c->f_err), c->f_why);
		*ret_failed_map = g->g_maps[0];
		return RL_ERR_FETCH_FAILED;
	}
	const Rill__ShuffleBlock *blk
	    = c->f_reply->m_env->body_case == RILL__ENVELOPE__BODY_SHUFFLE_BLOCK
	    ? c->f_reply->m_env->shuffle_block
	    : NULL;
	if (blk == NULL || blk->n_segments != g->g_nmaps) {
		snprintf(errbuf, errlen, "fetching from %s: unexpected reply", g->g_url);
		*ret_failed_map = g->g_maps[0];
		return RL_ERR_FETCH_FAILED;
	}
	uint64_t total = 0;
	for (size_t m = 0; m < blk->n_segments; m++)
		total += blk->segments[m]->bytes;
	if (total != c->f_reply->m_tail_len) {
		snprintf(errbuf, errlen,
		    "fetching from %s: segments of %" PRIu64 " bytes in a tail of %zu", g->g_url,
		    total, c->f_reply->m_tail_len);
		*ret_failed_map = g->g_maps[0];
		return RL_ERR_FETCH_FAILED;
	}
	const uint8_t *p = c->f_reply->m_tail;
	for (size_t m = 0; m < blk->n_segments; m++) {
		const Rill__ShuffleSegment *seg = blk->segments[m];
		if (!seg->found || seg->map_partition != g->g_maps[m]) {
			snprintf(errbuf, errlen,
			    "map output %" PRIu32 " at %s: not found (executor restarted?)",
			    g->g_maps[m], g->g_url);
			*ret_failed_map = g->g_maps[m];
			return RL_ERR_FETCH_FAILED;
		}
		rl_err rv = cb(cb_arg, g->g_maps[m], p, (size_t)seg->bytes);
		if (rv != RL_OK)
			return rv;
		p += seg->bytes;
	}
	return RL_OK;
}

// What fetch needs of its task besides the groups: t_fetch_arg.
typedef struct fetch_task {
	rl_executor *ft_ex;
	uint64_t     ft_seq; // the task's number (x_seq)
} fetch_task;

// wait_register puts w in x_fetches, where a lost-peer notice finds it, and
// marks it given up already if the driver said one of its peers is lost
// after the task was accepted.
static void
wait_register(rl_executor *ex, fetch_wait *w, const char *self)
{
	pthread_mutex_lock(&ex->x_mu);
	w->w_next = ex->x_fetches;
	ex->x_fetches = w;
	pthread_mutex_lock(&w->w_mu);
	for (size_t g = 0; g < w->w_ngroups && w->w_gone < 0; g++)
		if (strcmp(w->w_groups[g].g_url, self) != 0
		    && (ex->x_closing || peer_gone(ex, w->w_groups[g].g_url, w->w_seq)))
			w->w_gone = (ptrdiff_t)g;
	pthread_mutex_unlock(&w->w_mu);
	pthread_mutex_unlock(&ex->x_mu);
}

// abandon_fetches makes every fetch from a peer give up now and later ones
// give up at once: an exiting executor does not wait out a peer that may be
// unreachable (its host cut) for the fetch timeout.
static void
abandon_fetches(rl_executor *ex)
{
	pthread_mutex_lock(&ex->x_mu);
	ex->x_closing = true;
	for (fetch_wait *w = ex->x_fetches; w != NULL; w = w->w_next)
		for (size_t g = 0; g < w->w_ngroups; g++)
			if (wait_peer_lost(
			        w, w->w_groups[g].g_url, rl_rpc_server_url(ex->x_server)))
				break;
	pthread_mutex_unlock(&ex->x_mu);
}

static void
wait_unregister(rl_executor *ex, fetch_wait *w)
{
	pthread_mutex_lock(&ex->x_mu);
	fetch_wait **pp = &ex->x_fetches;
	while (*pp != w)
		pp = &(*pp)->w_next;
	*pp = w->w_next;
	pthread_mutex_unlock(&ex->x_mu);
}

// wait_gone is the group the fetch gave up on, or -1.
static ptrdiff_t
wait_gone(fetch_wait *w)
{
	pthread_mutex_lock(&w->w_mu);
	ptrdiff_t gone = w->w_gone;
	pthread_mutex_unlock(&w->w_mu);
	return gone;
}

static rl_err
fetch(void *arg, const rl_fetch_group *groups, size_t ngroups, const rl_map_output_id *id,
    uint32_t reduce_partition, rl_block_cb cb, void *cb_arg, uint32_t *ret_failed_map, char *errbuf,
    size_t errlen)
{
	const fetch_task *ft = arg;
	rl_executor      *ex = ft->ft_ex;
	const char       *self = rl_rpc_server_url(ex->x_server);
	fetch_wait       *w = wait_create(groups, ngroups, ft->ft_seq);
	rl_err            rv = RL_OK;
	wait_register(ex, w, self);

	// Ask every peer at once.
	for (size_t g = 0; g < ngroups && wait_gone(w) < 0; g++) {
		if (strcmp(groups[g].g_url, self) == 0)
			continue;
		fetch_call    *c = &w->w_calls[g];
		rl_rpc_client *cli = peer_client(ex, groups[g].g_url, errbuf, errlen);
		if (cli == NULL) {
			c->f_err = RL_ERR_NET;
			snprintf(c->f_why, sizeof(c->f_why), "%s", errbuf);
			continue;
		}
		if (!rl_rpc_client_wait_connected(cli, PEER_CONNECT_MS)) {
			c->f_err = RL_ERR_NET;
			c->f_unreachable = true;
			continue;
		}
		Rill__ShuffleFetch req = RILL__SHUFFLE_FETCH__INIT;
		req.job = (char *)(uintptr_t)id->job;
		req.batch_time_ms = id->batch_ms;
		req.stage = id->stage;
		req.reduce_partition = reduce_partition;
		req.map_partitions = (uint32_t *)(uintptr_t)groups[g].g_maps;
		req.n_map_partitions = groups[g].g_nmaps;
		Rill__Envelope env = RILL__ENVELOPE__INIT;
		env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_FETCH;
		env.shuffle_fetch = &req;
		pthread_mutex_lock(&w->w_mu);
		c->f_issued = true;
		w->w_pending++;
		w->w_refs++;
		pthread_mutex_unlock(&w->w_mu);
		rl_rpc_call_async(cli, &env, FETCH_TIMEOUT_MS, fetch_done, c);
	}
	// Meanwhile, what is here.
	for (size_t g = 0; g < ngroups && rv == RL_OK && wait_gone(w) < 0; g++)
		if (strcmp(groups[g].g_url, self) == 0)
			rv = fetch_local(ex, &groups[g], id, reduce_partition, cb, cb_arg,
			    ret_failed_map, errbuf, errlen);
	// Every call completes, or the driver says a peer still awaited is lost.
	pthread_mutex_lock(&w->w_mu);
	while (w->w_pending > 0 && w->w_gone < 0)
		pthread_cond_wait(&w->w_cond, &w->w_mu);
	pthread_mutex_unlock(&w->w_mu);
	wait_unregister(ex, w);
	ptrdiff_t gone = wait_gone(w); // final: no notice finds w any more
	if (gone >= 0) {
		// Calls may still be in flight: they free w when they complete.
		if (rv == RL_OK)
			rv = gone_error(&groups[gone], ret_failed_map, errbuf, errlen);
	} else {
		for (size_t g = 0; g < ngroups && rv == RL_OK; g++)
			if (strcmp(groups[g].g_url, self) != 0)
				rv = use_reply(&groups[g], &w->w_calls[g], cb, cb_arg,
				    ret_failed_map, errbuf, errlen);
	}
	pthread_mutex_lock(&w->w_mu);
	wait_unref(w);
	return rv;
}

// ---- request handlers ----

static void
result_init(rl_arena *arena, rl_reply *reply, const Rill__TaskLaunch *tl, const char *executor_id,
    Rill__TaskResult **ret)
{
	Rill__TaskResult *res = rl_arena_alloc(arena, sizeof(*res));
	rill__task_result__init(res);
	res->job = tl->job;
	res->batch_time_ms = tl->batch_time_ms;
	res->stage = tl->stage;
	res->partition = tl->partition;
	res->attempt = tl->attempt;
	res->executor_id = (char *)(uintptr_t)executor_id;
	reply->r_env.body_case = RILL__ENVELOPE__BODY_TASK_RESULT;
	reply->r_env.task_result = res;
	*ret = res;
}

static void
refuse(rl_arena *arena, Rill__TaskResult *res, rl_err code, const char *why)
{
	res->status = RILL__TASK_RESULT__STATUS__REFUSED;
	res->code = (uint32_t)code;
	res->error = rl_arena_memdup(arena, why, strlen(why) + 1);
}

static void
fail(rl_arena *arena, Rill__TaskResult *res, rl_err code, const char *why)
{
	refuse(arena, res, code, why);
	res->status = RILL__TASK_RESULT__STATUS__FAILED;
}

static void
handle_launch(rl_executor *ex, const Rill__TaskLaunch *tl, rl_reply *reply)
{
	Rill__TaskResult *res;
	char              why[512] = "";
	fetch_task        ft = { ex, atomic_fetch_add(&ex->x_seq, 1) + 1 };
	result_init(reply->r_arena, reply, tl, ex->x_id, &res);
	if (tl->job == NULL || tl->job[0] == '\0' || tl->job_spec.len == 0) {
		fail(reply->r_arena, res, RL_ERR_PROTO, "task launch without a job");
		return;
	}
	// Compiled jobs are cached by this hash: one that does not belong to
	// the text would hand later launches the wrong plan.
	if (rl_hash64(tl->job_spec.data, tl->job_spec.len) != tl->spec_hash) {
		fail(reply->r_arena, res, RL_ERR_PROTO,
		    "task launch: spec_hash does not match the job text");
		return;
	}
	if (atomic_fetch_add(&ex->x_running, 1) >= ex->x_cores) {
		atomic_fetch_sub(&ex->x_running, 1);
		refuse(reply->r_arena, res, RL_ERR_BUSY, "no free core");
		return;
	}
	rl_err     jrv = RL_OK;
	job_entry *e = job_get(ex, tl, &jrv, why, sizeof(why));
	if (e == NULL) {
		rl_warn(COMP, "task refused",
		    "job=%s batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
		    " error=\"%s\"",
		    tl->job, tl->batch_time_ms, tl->stage, tl->partition, why);
		fail(reply->r_arena, res, jrv, why);
		goto out;
	}
	pthread_mutex_lock(&ex->x_mu);
	uint64_t seen = e->j_epoch; // read under the lock: other workers raise it
	bool     stale = tl->epoch < seen;
	if (!stale)
		e->j_epoch = tl->epoch;
	pthread_mutex_unlock(&ex->x_mu);
	if (stale) {
		snprintf(why, sizeof(why),
		    "epoch %" PRIu64 " is older than %" PRIu64 " (deposed leader)", tl->epoch,
		    seen);
		rl_warn(COMP, "task refused",
		    "job=%s batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
		    " error=\"%s\"",
		    tl->job, tl->batch_time_ms, tl->stage, tl->partition, why);
		refuse(reply->r_arena, res, RL_ERR_STALE_EPOCH, why);
		goto out;
	}
	rl_shuffle_drop_before(ex->x_shuffle, tl->job, tl->retain_from_batch_ms);
	rl_err rv;
	if (tl->warm_only) {
		const Rill__Split *sp = tl->split;
		void              *shared = job_source(ex, e, tl->input, &rv, why, sizeof(why));
		if (sp == NULL || sp->id == NULL || sp->id[0] == '\0') {
			fail(reply->r_arena, res, RL_ERR_PROTO, "warm-up without a split range");
		} else if (shared == NULL) {
			fail(reply->r_arena, res, rv, why);
		} else {
			rl_split_range range = rl_source_range(sp);
			range.sr_splits_here = tl->splits_here;
			rv = e->j_source[tl->input]->se_warm != NULL
			    ? e->j_source[tl->input]->se_warm(shared, &range, why, sizeof(why))
			    : RL_OK;
			if (rv != RL_OK)
				fail(reply->r_arena, res, rv, why);
			else
				res->status = RILL__TASK_RESULT__STATUS__OK;
		}
		goto out;
	}
	rl_task_ctx ctx = {
		.t_job = e->j_job,
		.t_plan = e->j_plan,
		.t_shuffle = ex->x_shuffle,
		.t_fetch = fetch,
		.t_fetch_arg = &ft,
		.t_sinks = ex->x_sinks,
		.t_state = ex->x_state,
		.t_spill_dir = ex->x_spill_dir,
		.t_source_idle_timeout_ms = 30000,
	};
	if (tl->stage == 0) {
		if ((ctx.t_source_shared = job_source(ex, e, tl->input, &rv, why, sizeof(why)))
		    == NULL) {
			fail(reply->r_arena, res, rv, why);
			goto out;
		}
		ctx.t_source = e->j_source[tl->input];
	}
	if (tl->stage > 0) { // tests: lose this executor while it holds map outputs
		char point[160];
		snprintf(point, sizeof(point), "reduce-task-%s", ex->x_id);
		if (rl_fault_point(point)) { // a test's hook: this executor died here
			fail(reply->r_arena, res, RL_ERR_CANCELED, "crashed at fault point");
			goto out;
		}
	}
	rl_task_run(&ctx, tl, reply->r_arena, res);
	if (res->status != RILL__TASK_RESULT__STATUS__OK)
		rl_warn(COMP, "task failed",
		    "job=%s batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
		    " attempt=%" PRIu32 " error=\"%s\"",
		    tl->job, tl->batch_time_ms, tl->stage, tl->partition, tl->attempt, res->error);
out:
	atomic_fetch_sub(&ex->x_running, 1);
}

static void
handle_fetch(rl_executor *ex, const Rill__ShuffleFetch *f, rl_reply *reply)
{
	Rill__ShuffleBlock *blk = rl_arena_alloc(reply->r_arena, sizeof(*blk));
	rill__shuffle_block__init(blk);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_BLOCK;
	reply->r_env.shuffle_block = blk;
	if (f->job == NULL)
		return;
	char point[160]; // tests: a peer that takes a fetch and never answers (a cut host)
	snprintf(point, sizeof(point), "shuffle-fetch-stage-%" PRIu32 "-%s", f->stage, ex->x_id);
	rl_fault_point(point);
	snprintf(point, sizeof(point), "shuffle-fetch-%s", ex->x_id);
	rl_fault_point(point);
	// Every block goes into one tail, one after the other, with its segment.
	size_t        n = f->n_map_partitions;
	rl_block_ref *refs = rl_arena_alloc(reply->r_arena, (n + 1) * sizeof(*refs));
	blk->segments = rl_arena_alloc(reply->r_arena, (n + 1) * sizeof(void *));
	size_t total = 0;
	for (size_t m = 0; m < n; m++) {
		Rill__ShuffleSegment *seg = rl_arena_alloc(reply->r_arena, sizeof(*seg));
		rill__shuffle_segment__init(seg);
		seg->map_partition = f->map_partitions[m];
		rl_map_output_id id = {
			.job = f->job,
			.batch_ms = f->batch_time_ms,
			.stage = f->stage,
			.map_partition = f->map_partitions[m],
		};
		memset(&refs[m], 0, sizeof(refs[m]));
		if (rl_shuffle_acquire(ex->x_shuffle, &id, f->reduce_partition, &refs[m])) {
			seg->found = true;
			seg->records = refs[m].b_records;
			seg->bytes = refs[m].b_len;
			total += refs[m].b_len;
		}
		blk->segments[blk->n_segments++] = seg;
	}
	uint8_t *tail = rl_arena_alloc(reply->r_arena, total + 1);
	size_t   off = 0;
	for (size_t m = 0; m < n; m++) {
		if (refs[m].b_owner == NULL)
			continue;
		memcpy(tail + off, refs[m].b_data, refs[m].b_len);
		off += refs[m].b_len;
		rl_shuffle_release(ex->x_shuffle, &refs[m]);
	}
	reply->r_tail = tail;
	reply->r_tail_len = total;
}

// job_epoch is the highest leader epoch this executor has seen for job (0:
// none: it never ran a task of it).
static uint64_t
job_epoch(rl_executor *ex, const char *job)
{
	uint64_t seen = 0;
	pthread_mutex_lock(&ex->x_mu);
	for (job_entry *e = ex->x_jobs; e != NULL; e = e->j_next)
		if (strcmp(e->j_job->j_name, job) == 0 && e->j_epoch > seen)
			seen = e->j_epoch;
	pthread_mutex_unlock(&ex->x_mu);
	return seen;
}

static void
handle_sink_finish(rl_executor *ex, const Rill__SinkFinish *f, rl_reply *reply)
{
	Rill__SinkFinished *done = rl_arena_alloc(reply->r_arena, sizeof(*done));
	rill__sink_finished__init(done);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_SINK_FINISHED;
	reply->r_env.sink_finished = done;
	if (f->job == NULL)
		return;
	done->results = rl_arena_alloc(reply->r_arena, (f->n_partitions + 1) * sizeof(void *));
	uint64_t seen = job_epoch(ex, f->job);
	for (size_t i = 0; i < f->n_partitions; i++) {
		Rill__SinkPartitionResult *r = rl_arena_alloc(reply->r_arena, sizeof(*r));
		rill__sink_partition_result__init(r);
		char why[512] = "";
		r->partition = f->partitions[i];
		const rl_sink_ops *ops = rl_sink_exec_find(f->sink != NULL ? f->sink : "");
		if (f->epoch < seen) // a deposed leader must not commit
			snprintf(why, sizeof(why),
			    "epoch %" PRIu64 " is older than %" PRIu64 " (deposed leader)",
			    f->epoch, seen);
		else if (ops == NULL || ops->s_finish == NULL)
			snprintf(why, sizeof(why), "sink '%s' has no prepared output to finish",
			    f->sink != NULL ? f->sink : "");
		else
			r->ok = ops->s_finish(rl_sink_shared_get(ex->x_sinks, ops), f->job,
			            f->partitions[i], f->batch_time_ms, f->commit, why, sizeof(why))
			    == RL_OK;
		if (!r->ok) {
			r->error = rl_arena_memdup(reply->r_arena, why, strlen(why) + 1);
			rl_warn(COMP, "sink transaction not finished",
			    "job=%s batch_ms=%" PRId64 " partition=%" PRIu32
			    " commit=%d error=\"%s\"",
			    f->job, f->batch_time_ms, f->partitions[i], f->commit, why);
		}
		done->results[done->n_results++] = r;
	}
}

// handle_executors_lost makes the fetches from lost executors give up: those
// waiting now and those yet to start, of every task accepted before.
static void
handle_executors_lost(rl_executor *ex, const Rill__ExecutorsLost *l, rl_reply *reply)
{
	Rill__ExecutorsLostAck *ack = rl_arena_alloc(reply->r_arena, sizeof(*ack));
	rill__executors_lost_ack__init(ack);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_EXECUTORS_LOST_ACK;
	reply->r_env.executors_lost_ack = ack;
	if (l->job == NULL || l->job[0] == '\0') {
		ack->reason = "executors lost: no job";
		return;
	}
	uint64_t seen = job_epoch(ex, l->job);
	if (l->epoch < seen) { // a deposed leader's view of the cluster
		char why[160];
		snprintf(why, sizeof(why),
		    "epoch %" PRIu64 " is older than %" PRIu64 " (deposed leader)", l->epoch, seen);
		ack->reason = rl_arena_memdup(reply->r_arena, why, strlen(why) + 1);
		return;
	}
	const char *self = rl_rpc_server_url(ex->x_server);
	uint32_t   *gave_up
	    = rl_arena_alloc(reply->r_arena, (l->n_listen_urls + 1) * sizeof(uint32_t));
	pthread_mutex_lock(&ex->x_mu);
	for (size_t i = 0; i < l->n_listen_urls; i++) {
		const char *url = l->listen_urls[i];
		char        host[200];
		int         port;
		gave_up[i] = 0;
		if (strcmp(url, self) == 0 || !rl_rpc_url_split(url, host, sizeof(host), &port))
			continue; // not a peer
		peer *p = peer_find(ex, url, true);
		p->p_lost_seq = atomic_fetch_add(&ex->x_seq, 1) + 1;
		for (fetch_wait *w = ex->x_fetches; w != NULL; w = w->w_next)
			if (w->w_seq < p->p_lost_seq)
				gave_up[i] += wait_peer_lost(w, url, self);
	}
	pthread_mutex_unlock(&ex->x_mu);
	ack->accepted = true;
	for (size_t i = 0; i < l->n_listen_urls; i++) {
		ack->fetches_failed += gave_up[i];
		if (gave_up[i] > 0)
			rl_warn(COMP, "fetches from a lost executor given up",
			    "job=%s url=%s fetches=%" PRIu32, l->job, l->listen_urls[i],
			    gave_up[i]);
	}
}

// ---- requests in progress, named when a shutdown is stuck ----

struct busy {
	busy                 *b_next, *b_prev;
	const Rill__Envelope *b_req;
	const char           *b_peer;
	int64_t               b_since_ms;
};

static void
busy_add(rl_executor *ex, busy *b)
{
	pthread_mutex_lock(&ex->x_busy_mu);
	b->b_next = ex->x_busy;
	if (ex->x_busy != NULL)
		ex->x_busy->b_prev = b;
	ex->x_busy = b;
	pthread_mutex_unlock(&ex->x_busy_mu);
}

static void
busy_remove(rl_executor *ex, busy *b)
{
	pthread_mutex_lock(&ex->x_busy_mu);
	if (b->b_prev != NULL)
		b->b_prev->b_next = b->b_next;
	else
		ex->x_busy = b->b_next;
	if (b->b_next != NULL)
		b->b_next->b_prev = b->b_prev;
	pthread_mutex_unlock(&ex->x_busy_mu);
}

// busy_describe says what request b is. @locks x_busy_mu held (b stays valid)
static void
busy_describe(const busy *b, char *buf, size_t len)
{
	const Rill__Envelope *env = b->b_req;
	switch (env->body_case) {
	case RILL__ENVELOPE__BODY_TASK_LAUNCH: {
		const Rill__TaskLaunch *tl = env->task_launch;
		snprintf(buf, len,
		    "task job=%s batch_ms=%" PRId64 " stage=%" PRIu32 " partition=%" PRIu32
		    " attempt=%" PRIu32,
		    tl->job, tl->batch_time_ms, tl->stage, tl->partition, tl->attempt);
		break;
	}
	case RILL__ENVELOPE__BODY_SINK_FINISH: {
		const Rill__SinkFinish *f = env->sink_finish;
		snprintf(buf, len, "sink %s job=%s batch_ms=%" PRId64 " partitions=%zu",
		    f->commit ? "commit" : "abort", f->job != NULL ? f->job : "", f->batch_time_ms,
		    f->n_partitions);
		break;
	}
	case RILL__ENVELOPE__BODY_SHUFFLE_FETCH:
		snprintf(buf, len, "shuffle fetch job=%s batch_ms=%" PRId64 " for %s",
		    env->shuffle_fetch->job != NULL ? env->shuffle_fetch->job : "",
		    env->shuffle_fetch->batch_time_ms, b->b_peer);
		break;
	default:
		snprintf(buf, len, "request %d from %s", (int)env->body_case, b->b_peer);
		break;
	}
}

static void
handle(void *arg, const rl_msg *req, const char *peer_addr, rl_reply *reply)
{
	rl_executor *ex = arg;
	busy         b = { .b_req = req->m_env, .b_peer = peer_addr, .b_since_ms = rl_mono_ms() };
	busy_add(ex, &b);
	switch (req->m_env->body_case) {
	case RILL__ENVELOPE__BODY_EXECUTORS_LOST:
		handle_executors_lost(ex, req->m_env->executors_lost, reply);
		break;
	case RILL__ENVELOPE__BODY_SINK_FINISH:
		handle_sink_finish(ex, req->m_env->sink_finish, reply);
		break;
	case RILL__ENVELOPE__BODY_TASK_LAUNCH:
		handle_launch(ex, req->m_env->task_launch, reply);
		break;
	case RILL__ENVELOPE__BODY_SHUFFLE_FETCH:
		handle_fetch(ex, req->m_env->shuffle_fetch, reply);
		break;
	default:
		rl_warn(COMP, "unexpected request", "peer=%s body=%d", peer_addr,
		    (int)req->m_env->body_case);
		break; // the server answers "request not understood"
	}
	busy_remove(ex, &b);
}

// ---- lifecycle ----

rl_err
rl_executor_create(const rl_executor_opts *opts, rl_executor **ret, char *errbuf, size_t errlen)
{
	rl_executor *ex = RL_NEW(rl_executor);
	rl_err       rv;
	ex->x_cores = opts->cores > 0 ? opts->cores : 1;
	ex->x_heartbeat_ms = opts->heartbeat_ms > 0 ? opts->heartbeat_ms : 1000;
	ex->x_exit_with_driver = opts->exit_with_driver;
	if (opts->id != NULL) {
		snprintf(ex->x_id, sizeof(ex->x_id), "%s", opts->id);
	} else {
		char host[64] = "host";
		gethostname(host, sizeof(host) - 1);
		snprintf(ex->x_id, sizeof(ex->x_id), "%s-%d", host, (int)getpid());
	}
	ex->x_stop_grace_ms = opts->stop_grace_ms;
	pthread_mutex_init(&ex->x_mu, NULL);
	pthread_mutex_init(&ex->x_busy_mu, NULL);
	ex->x_shuffle = rl_shuffle_store_create();
	ex->x_state = rl_state_cache_create();
	ex->x_spill_dir = opts->work_dir != NULL
	    ? rl_strdup_printf("%s/state", opts->work_dir)
	    : rl_strdup_printf("%s/rill-executor-%s/state",
	        getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp", ex->x_id);
	ex->x_sinks = rl_sink_shared_create();
	ex->x_artifacts = rl_artifacts_create();
	if ((rv = rl_rpc_server_create(opts->listen_url, ex->x_cores + FETCH_WORKERS, handle, ex,
	         &ex->x_server, errbuf, errlen))
	    != RL_OK)
		goto err_executor;
	if (opts->driver_url != NULL && opts->zk_connect != NULL) {
		snprintf(errbuf, errlen,
		    "a driver URL and a ZooKeeper connect string exclude each other");
		rv = RL_ERR_USAGE;
		goto err_server;
	}
	if (opts->driver_url != NULL
	    && (rv = rl_rpc_client_create(opts->driver_url, &ex->x_driver, errbuf, errlen))
	        != RL_OK)
		goto err_server;
	if (opts->zk_connect != NULL) {
		if (strchr(ex->x_id, '/') != NULL || strcmp(ex->x_id, ".") == 0
		    || strcmp(ex->x_id, "..") == 0) {
			snprintf(errbuf, errlen, "executor id '%s' cannot name a ZooKeeper node",
			    ex->x_id);
			rv = RL_ERR_INVAL;
			goto err_server;
		}
		snprintf(ex->x_node, sizeof(ex->x_node), "/rill/executors/%s", ex->x_id);
		ex->x_zk_session_ms
		    = opts->zk_session_timeout_ms > 0 ? opts->zk_session_timeout_ms : 10000;
		int connect_ms
		    = opts->zk_connect_timeout_ms > 0 ? opts->zk_connect_timeout_ms : 10000;
		if ((rv = rl_zk_connect(opts->zk_connect, ex->x_zk_session_ms, connect_ms,
		         &ex->x_zk, errbuf, errlen))
		    != RL_OK)
			goto err_server;
		ex->x_zk_connect = rl_strdup(opts->zk_connect);
	}
	*ret = ex;
	return RL_OK;

err_server:
	rl_rpc_server_destroy(ex->x_server);
err_executor:
	rl_artifacts_destroy(ex->x_artifacts);
	rl_sink_shared_destroy(ex->x_sinks);
	rl_shuffle_store_destroy(ex->x_shuffle);
	rl_state_cache_destroy(ex->x_state); // removes the RocksDB stores
	rl_free(ex->x_spill_dir);
	pthread_mutex_destroy(&ex->x_busy_mu);
	pthread_mutex_destroy(&ex->x_mu);
	rl_free(ex);
	return rv;
}

const char *
rl_executor_url(const rl_executor *ex)
{
	return rl_rpc_server_url(ex->x_server);
}

static rl_err
send_register(rl_executor *ex, char *errbuf, size_t errlen)
{
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	Rill__Register reg = RILL__REGISTER__INIT;
	reg.executor_id = ex->x_id;
	reg.listen_url = (char *)(uintptr_t)rl_rpc_server_url(ex->x_server);
	reg.cores = (uint32_t)ex->x_cores;
	reg.version = RL_VERSION;
	reg.host = host;
	reg.pid = (uint32_t)getpid();
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_REGISTER;
	env.register_ = &reg;
	rl_msg *reply;
	rl_err  rv = rl_rpc_call(ex->x_driver, &env, NULL, 0, 2000, &reply, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	const Rill__RegisterAck *ack = reply->m_env->body_case == RILL__ENVELOPE__BODY_REGISTER_ACK
	    ? reply->m_env->register_ack
	    : NULL;
	if (ack == NULL || !ack->accepted) {
		snprintf(errbuf, errlen, "driver refused registration: %s",
		    ack != NULL && ack->reason != NULL ? ack->reason : "unexpected reply");
		rv = RL_ERR_INVAL;
	}
	rl_msg_free(reply);
	return rv;
}

// send_heartbeat returns RL_ERR_NOENT when the driver asks to register again.
static rl_err
send_heartbeat(rl_executor *ex, char *errbuf, size_t errlen)
{
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = ex->x_id;
	hb.sent_ms = rl_now_ms();
	hb.tasks_running = (uint32_t)ex->x_running;
	hb.rss_bytes = rl_rss_bytes();
	hb.shuffle_bytes = rl_shuffle_bytes(ex->x_shuffle);
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	rl_msg *reply;
	rl_err  rv = rl_rpc_call(ex->x_driver, &env, NULL, 0, 2000, &reply, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	bool known = reply->m_env->body_case == RILL__ENVELOPE__BODY_HEARTBEAT_ACK
	    && reply->m_env->heartbeat_ack->known;
	rl_msg_free(reply);
	return known ? RL_OK : RL_ERR_NOENT;
}

// ---- the node in ZooKeeper (--zk) ----

// How often run checks that its node is still there.
#define NODE_CHECK_MS 1000

// node_data packs this executor's ExecutorInfo; free with rl_free.
static uint8_t *
node_data(rl_executor *ex, size_t *ret_len)
{
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	Rill__ExecutorInfo info = RILL__EXECUTOR_INFO__INIT;
	info.version = 1;
	info.id = ex->x_id;
	info.listen_url = (char *)(uintptr_t)rl_rpc_server_url(ex->x_server);
	info.cores = (uint32_t)ex->x_cores;
	info.rill_version = RL_VERSION;
	info.host = host;
	info.pid = (uint32_t)getpid();
	size_t   len = rill__executor_info__get_packed_size(&info);
	uint8_t *buf = rl_malloc(len + 1);
	rill__executor_info__pack(&info, buf);
	*ret_len = len;
	return buf;
}

// node_keep makes sure x_node exists and belongs to this session: creates it
// when missing. RL_ERR_EXISTS when another session holds it (a previous run
// of this id whose session has not expired yet, or a second executor with
// the same id). @locality run's thread
static rl_err
node_keep(rl_executor *ex, char *errbuf, size_t errlen)
{
	rl_zk_stat st;
	rl_err     rv = rl_zk_exists(ex->x_zk, ex->x_node, NULL, 0, &st, errbuf, errlen);
	if (rv == RL_OK) {
		if (st.ephemeral_owner == rl_zk_session_id(ex->x_zk))
			return RL_OK;
		snprintf(errbuf, errlen,
		    "%s is held by ZooKeeper session 0x%" PRIx64 " (another executor with id '%s', "
		    "or a previous one whose session has not expired yet)",
		    ex->x_node, (uint64_t)st.ephemeral_owner, ex->x_id);
		return RL_ERR_EXISTS;
	}
	if (rv != RL_ERR_NOENT)
		return rv;
	size_t   len;
	uint8_t *data = node_data(ex, &len);
	rv = rl_zk_create(ex->x_zk, ex->x_node, data, len, RL_ZK_EPHEMERAL, NULL, errbuf, errlen);
	rl_free(data);
	if (rv == RL_OK)
		rl_info(COMP, "executor announced in ZooKeeper", "id=%s node=%s url=%s zk=%s",
		    ex->x_id, ex->x_node, rl_rpc_server_url(ex->x_server), ex->x_zk_connect);
	return rv;
}

// run_zk keeps the node until stopped: checks it every NODE_CHECK_MS,
// re-creates it when gone, and opens a new session after an expiry.
static rl_err
run_zk(rl_executor *ex)
{
	char   why[512];
	rl_err last = RL_OK;
	while (!ex->x_stop) {
		rl_err rv = RL_OK;
		if (ex->x_zk != NULL && rl_zk_expired(ex->x_zk)) {
			rl_warn(COMP, "ZooKeeper session expired, opening a new one", "id=%s zk=%s",
			    ex->x_id, ex->x_zk_connect);
			rl_zk_close(ex->x_zk);
			ex->x_zk = NULL;
		}
		if (ex->x_zk == NULL)
			rv = rl_zk_connect(ex->x_zk_connect, ex->x_zk_session_ms, 2000, &ex->x_zk,
			    why, sizeof(why));
		if (rv == RL_OK)
			rv = node_keep(ex, why, sizeof(why));
		if (rv != RL_OK && rv != last) // say it once, not every second
			rl_warn(COMP, "cannot keep the executor's ZooKeeper node",
			    "id=%s error=\"%s\"", ex->x_id, why);
		last = rv;
		for (int64_t slept = 0; slept < NODE_CHECK_MS && !ex->x_stop; slept += 50)
			rl_sleep_ms(50);
	}
	return RL_OK;
}

rl_err
rl_executor_run(rl_executor *ex)
{
	char why[512];
	rl_info(COMP, "executor listening", "id=%s url=%s cores=%d", ex->x_id,
	    rl_rpc_server_url(ex->x_server), ex->x_cores);
	if (ex->x_zk_connect != NULL)
		return run_zk(ex);
	bool          registered = false, auth_refused = false;
	int64_t       last_contact = rl_mono_ms();
	const int64_t driver_gone_ms = 10 * (int64_t)ex->x_heartbeat_ms + 5000;
	while (!ex->x_stop) {
		if (ex->x_driver == NULL) {
			rl_sleep_ms(100);
			continue;
		}
		rl_err rv = registered ? send_heartbeat(ex, why, sizeof(why))
		                       : send_register(ex, why, sizeof(why));
		if (rv == RL_OK) {
			if (!registered)
				rl_info(COMP, "registered with driver", "id=%s driver=%s", ex->x_id,
				    rl_rpc_client_url(ex->x_driver));
			registered = true;
			last_contact = rl_mono_ms();
		} else if (rv == RL_ERR_NOENT) {
			registered = false;
			continue;
		} else if (rv == RL_ERR_AUTH && !auth_refused) {
			// Another cluster secret (or none): said once, tried again.
			rl_warn(COMP, "driver refused this executor",
			    "id=%s driver=%s error=\"%s\"", ex->x_id,
			    rl_rpc_client_url(ex->x_driver), why);
			auth_refused = true;
		}
		if (rv != RL_OK && ex->x_exit_with_driver
		    && rl_mono_ms() - last_contact > driver_gone_ms) {
			rl_warn(COMP, "driver gone, exiting", "id=%s error=\"%s\"", ex->x_id, why);
			return RL_ERR_CLOSED;
		}
		for (int64_t slept = 0; slept < ex->x_heartbeat_ms && !ex->x_stop; slept += 50)
			rl_sleep_ms(50);
	}
	return RL_OK;
}

void
rl_executor_stop(rl_executor *ex)
{
	ex->x_stop = 1;
}

// ---- a bounded shutdown ----

// The watchdog of one rl_executor_destroy: ends the process when the
// destroy has not returned within x_stop_grace_ms.
typedef struct watchdog {
	rl_executor    *wd_ex;
	pthread_t       wd_thread;
	pthread_mutex_t wd_mu; // guards wd_done and wd_phase
	pthread_cond_t  wd_cond;
	bool            wd_done;
	const char     *wd_phase; // what destroy is doing
} watchdog;

// watchdog_fire logs what keeps the executor from exiting, then exits.
// @locks wd_mu held (destroy cannot get past its next phase)
static void
watchdog_fire(watchdog *wd)
{
	rl_executor *ex = wd->wd_ex;
	int          stuck = 0;
	int64_t      now = rl_mono_ms();
	pthread_mutex_lock(&ex->x_busy_mu);
	for (const busy *b = ex->x_busy; b != NULL; b = b->b_next, stuck++) {
		char what[512];
		busy_describe(b, what, sizeof(what));
		rl_error(COMP, "still running at exit", "id=%s request=\"%s\" running_ms=%" PRId64,
		    ex->x_id, what, now - b->b_since_ms);
	}
	pthread_mutex_unlock(&ex->x_busy_mu);
	rl_error(COMP, "shutdown stuck, exiting",
	    "id=%s grace_ms=%d phase=\"%s\" stuck=%d status=%d", ex->x_id, ex->x_stop_grace_ms,
	    wd->wd_phase, stuck, RL_EXIT_FAILURE);
	_exit(RL_EXIT_FAILURE);
}

static void *
watchdog_main(void *arg)
{
	watchdog       *wd = arg;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wd->wd_ex->x_stop_grace_ms / 1000;
	until.tv_nsec += (long)(wd->wd_ex->x_stop_grace_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&wd->wd_mu);
	int rv = 0;
	while (!wd->wd_done && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&wd->wd_cond, &wd->wd_mu, &until);
	if (!wd->wd_done)
		watchdog_fire(wd);
	pthread_mutex_unlock(&wd->wd_mu);
	return NULL;
}

// watchdog_start arms a watchdog for ex's destroy, or returns false (none:
// no grace set, or no thread).
static bool
watchdog_start(rl_executor *ex, watchdog *wd)
{
	if (ex->x_stop_grace_ms <= 0)
		return false;
	*wd = (watchdog) { .wd_ex = ex, .wd_phase = "closing the ZooKeeper session" };
	pthread_mutex_init(&wd->wd_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	int rv = pthread_create(&wd->wd_thread, NULL, watchdog_main, wd);
	if (rv != 0) {
		rl_warn(COMP, "no shutdown watchdog", "id=%s error=\"%s\"", ex->x_id, strerror(rv));
		pthread_cond_destroy(&wd->wd_cond);
		pthread_mutex_destroy(&wd->wd_mu);
		return false;
	}
	return true;
}

static void
watchdog_phase(watchdog *wd, bool armed, const char *phase)
{
	if (!armed)
		return;
	pthread_mutex_lock(&wd->wd_mu);
	wd->wd_phase = phase;
	pthread_mutex_unlock(&wd->wd_mu);
}

static void
watchdog_stop(watchdog *wd, bool armed)
{
	if (!armed)
		return;
	pthread_mutex_lock(&wd->wd_mu);
	wd->wd_done = true;
	pthread_cond_signal(&wd->wd_cond);
	pthread_mutex_unlock(&wd->wd_mu);
	pthread_join(wd->wd_thread, NULL);
	pthread_cond_destroy(&wd->wd_cond);
	pthread_mutex_destroy(&wd->wd_mu);
}

void
rl_executor_destroy(rl_executor *ex)
{
	if (ex == NULL)
		return;
	watchdog wd;
	bool     armed = watchdog_start(ex, &wd);
	rl_zk_close(ex->x_zk); // the node goes with the session: no driver dials us any more
	rl_free(ex->x_zk_connect);
	watchdog_phase(&wd, armed, "waiting for the requests in progress");
	abandon_fetches(ex);
	rl_rpc_server_destroy(ex->x_server);
	watchdog_phase(&wd, armed, "closing the connections");
	rl_rpc_client_destroy(ex->x_driver);
	peer *p = ex->x_peers;
	while (p != NULL) {
		peer *next = p->p_next;
		rl_rpc_client_destroy(p->p_cli);
		rl_free(p->p_url);
		rl_free(p);
		p = next;
	}
	watchdog_phase(&wd, armed, "closing the sources and sinks");
	jobs_free(ex);
	rl_sink_shared_destroy(ex->x_sinks);
	rl_state_cache_destroy(ex->x_state); // its changelog writers; removes the RocksDB stores
	rl_free(ex->x_spill_dir);
	// Last: nothing bound to a library runs any more.
	rl_artifacts_destroy(ex->x_artifacts);
	watchdog_stop(&wd, armed);
	rl_shuffle_store_destroy(ex->x_shuffle);
	pthread_mutex_destroy(&ex->x_busy_mu);
	pthread_mutex_destroy(&ex->x_mu);
	rl_free(ex);
}
