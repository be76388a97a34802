// SPDX-License-Identifier: Apache-2.0
// Executor registry: Register/Heartbeat handling, executors found in
// ZooKeeper, and loss detection.
#include "driver/executors.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"

#define COMP "driver"
#define FREE_BUCKETS 1026 // free cores 0 .. 1025 (1024 cores, one release too many)

typedef struct rl_exec {
	int              e_index; // stable for the driver's lifetime
	char             e_id[RL_POOL_ID_MAX];
	char             e_url[RL_POOL_URL_MAX];
	int              e_cores;
	int              e_busy; // tasks in flight
	int              e_bucket; // the free-core bucket it is filed in, or -1
	int              e_free_prev, e_free_next; // its neighbours there (indexes), or -1
	bool             e_alive;
	bool             e_remote; // added by rl_pool_add_remote: no heartbeats
	bool             e_listed; // remote: its node exists (alive = listed and connected)
	int64_t          e_last_seen; // monotonic ms of the last heartbeat
	uint64_t         e_rss_bytes;
	rl_rpc_client   *e_client; // lives until the pool is destroyed
	rl_pool_local_fn e_local; // an executor in this process (no client), or NULL
	void            *e_local_arg;
	struct rl_pool  *e_pool;
} rl_exec;

// An artifact the pool serves (ArtifactFetch); freed when its last holder
// (the pool's list, a reply being sent) lets go.
typedef struct pool_artifact {
	struct pool_artifact *a_next;
	char                  a_sha[RL_SHA256_HEX_LEN];
	uint8_t              *a_data;
	size_t                a_len;
	int                   a_holders; // under p_mu
	int                   a_listed; // rl_pool_add_artifact calls not yet released
} pool_artifact;

// Every field is guarded by p_mu, taken only in this file and never held
// while calling out of it (except into rpc.c's client cancel, which takes
// only the client's own lock).
struct rl_pool {
	pthread_mutex_t p_mu;
	pthread_cond_t  p_cond; // p_events changed
	rl_exec       **p_execs; // grows (rl_realloc) on registrations
	int             p_nexecs;
	int64_t         p_timeout_ms; // heartbeat silence that means lost
	uint64_t        p_events; // bumped on every join, loss, release and wake
	uint64_t        p_losses; // bumped on every loss
	// Live executors with free cores, filed by how many (bucket k: k free,
	// the last one k or more), so that a task with no preferred executor
	// finds the one with the most at once: heads, and the highest bucket
	// that may be non-empty.
	int             p_free_head[FREE_BUCKETS];
	int             p_free_max;
	rl_rpc_server  *p_server; // registrations, heartbeats and artifact fetches
	pool_artifact  *p_artifacts;
	rl_rpc_client **p_retired; // clients of executors that came back elsewhere
	int             p_nretired;
	bool            p_closing;
};

// event wakes the waiters of rl_pool_wait. @locks p_mu held
static void
event(rl_pool *pool)
{
	pool->p_events++;
	pthread_cond_broadcast(&pool->p_cond);
}

// exec_at is executor index, or NULL. @locks p_mu held
static rl_exec *
exec_at(rl_pool *pool, int index)
{
	return index >= 0 && index < pool->p_nexecs ? pool->p_execs[index] : NULL;
}

// unfile takes e out of its free-core bucket. @locks p_mu held
static void
unfile(rl_pool *pool, rl_exec *e)
{
	if (e->e_bucket < 0)
		return;
	if (e->e_free_prev >= 0)
		pool->p_execs[e->e_free_prev]->e_free_next = e->e_free_next;
	else
		pool->p_free_head[e->e_bucket] = e->e_free_next;
	if (e->e_free_next >= 0)
		pool->p_execs[e->e_free_next]->e_free_prev = e->e_free_prev;
	e->e_bucket = e->e_free_prev = e->e_free_next = -1;
}

// refile files e by its free cores, after e_alive, e_cores or e_busy changed.
// @locks p_mu held
static void
refile(rl_pool *pool, rl_exec *e)
{
	unfile(pool, e);
	int free = e->e_cores - e->e_busy;
	if (!e->e_alive || free <= 0)
		return;
	int k = free < FREE_BUCKETS ? free : FREE_BUCKETS - 1;
	e->e_bucket = k;
	e->e_free_prev = -1;
	e->e_free_next = pool->p_free_head[k];
	if (e->e_free_next >= 0)
		pool->p_execs[e->e_free_next]->e_free_prev = e->e_index;
	pool->p_free_head[k] = e->e_index;
	if (k > pool->p_free_max)
		pool->p_free_max = k;
}

// new_exec adds an executor of index p_nexecs, filed nowhere. @locks p_mu held
static rl_exec *
new_exec(rl_pool *pool, const char *id)
{
	rl_exec *e = RL_NEW(rl_exec);
	e->e_index = pool->p_nexecs;
	e->e_pool = pool;
	e->e_bucket = e->e_free_prev = e->e_free_next = -1;
	snprintf(e->e_id, sizeof(e->e_id), "%s", id);
	pool->p_execs = rl_realloc(pool->p_execs, (size_t)(pool->p_nexecs + 1) * sizeof(rl_exec *));
	pool->p_execs[pool->p_nexecs++] = e;
	return e;
}

// lose marks e lost and ends its calls in flight (they are retried). @locks p_mu held
static void
lose(rl_pool *pool, rl_exec *e, const char *why)
{
	if (!e->e_alive)
		return;
	e->e_alive = false;
	unfile(pool, e);
	pool->p_losses++;
	rl_warn(COMP, "executor lost", "id=%s url=%s reason=\"%s\"", e->e_id, e->e_url, why);
	if (e->e_client != NULL)
		rl_rpc_client_cancel_all(e->e_client);
	event(pool);
}

// revive marks a listed remote executor alive once connected. @locks p_mu held
static void
revive(rl_pool *pool, rl_exec *e)
{
	if (e->e_alive || !e->e_remote || !e->e_listed || e->e_client == NULL
	    || !rl_rpc_client_wait_connected(e->e_client, 0))
		return;
	e->e_alive = true;
	refile(pool, e);
	rl_info(COMP, "executor connected", "id=%s url=%s cores=%d source=zookeeper", e->e_id,
	    e->e_url, e->e_cores);
	event(pool);
}

static void
on_link(void *arg, bool up)
{
	rl_exec *e = arg;
	rl_pool *pool = e->e_pool;
	pthread_mutex_lock(&pool->p_mu);
	if (!pool->p_closing && up)
		revive(pool, e);
	else if (!pool->p_closing)
		lose(pool, e, "connection closed");
	pthread_mutex_unlock(&pool->p_mu);
}

static rl_exec *
find(rl_pool *pool, const char *id)
{
	for (int i = 0; i < pool->p_nexecs; i++)
		if (strcmp(pool->p_execs[i]->e_id, id) == 0)
			return pool->p_execs[i];
	return NULL;
}

// retire keeps e's client until the pool is destroyed (calls may still be
// finishing on nng threads) and leaves e without one. @locks p_mu held
static void
retire(rl_pool *pool, rl_exec *e)
{
	pool->p_retired
	    = rl_realloc(pool->p_retired, (size_t)(pool->p_nretired + 1) * sizeof(rl_rpc_client *));
	pool->p_retired[pool->p_nretired++] = e->e_client;
	e->e_client = NULL;
}

static void
handle_register(rl_pool *pool, const Rill__Register *reg, const char *peer, rl_reply *reply)
{
	Rill__RegisterAck *ack = rl_arena_alloc(reply->r_arena, sizeof(*ack));
	rill__register_ack__init(ack);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_REGISTER_ACK;
	reply->r_env.register_ack = ack;
	char host[200];
	int  port;
	if (reg->executor_id == NULL || reg->executor_id[0] == '\0' || reg->listen_url == NULL
	    || !rl_rpc_url_split(reg->listen_url, host, sizeof(host), &port) || reg->cores == 0
	    || reg->cores > 1024) {
		ack->reason = "registration needs an id, a tcp:// listen URL and 1 to 1024 cores";
		rl_warn(COMP, "refused executor registration", "peer=%s", peer);
		return;
	}
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = find(pool, reg->executor_id);
	if (e != NULL && e->e_alive && strcmp(e->e_url, reg->listen_url) == 0) {
		e->e_last_seen = rl_mono_ms();
		ack->accepted = true;
		goto out;
	}
	if (e != NULL && strcmp(e->e_url, reg->listen_url) != 0) {
		// Same id, new address: a restarted executor. Forget the old one.
		// Its client may still be finishing calls on nng threads that wait
		// for p_mu: retire it, destroy it with the pool.
		lose(pool, e, "re-registered at another address");
		retire(pool, e);
	}
	if (e == NULL)
		e = new_exec(pool, reg->executor_id);
	if (e->e_client == NULL) {
		char why[256];
		snprintf(e->e_url, sizeof(e->e_url), "%s", reg->listen_url);
		if (rl_rpc_client_create(e->e_url, &e->e_client, why, sizeof(why)) != RL_OK) {
			ack->reason = rl_arena_memdup(reply->r_arena, why, strlen(why) + 1);
			goto out;
		}
		rl_rpc_client_on_link(e->e_client, on_link, e);
		e->e_local = NULL; // a stand-in's id, now a real executor's
	}
	e->e_cores = (int)reg->cores;
	e->e_busy = 0;
	e->e_alive = true;
	e->e_remote = false;
	refile(pool, e);
	e->e_last_seen = rl_mono_ms();
	ack->accepted = true;
	rl_info(COMP, "executor registered",
	    "id=%s url=%s cores=%d version=%s host=%s pid=%" PRIu32, e->e_id, e->e_url, e->e_cores,
	    reg->version != NULL ? reg->version : "?", reg->host != NULL ? reg->host : "?",
	    reg->pid);
	event(pool);
out:
	pthread_mutex_unlock(&pool->p_mu);
}

static void
handle_heartbeat(rl_pool *pool, const Rill__Heartbeat *hb, rl_reply *reply)
{
	Rill__HeartbeatAck *ack = rl_arena_alloc(reply->r_arena, sizeof(*ack));
	rill__heartbeat_ack__init(ack);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT_ACK;
	reply->r_env.heartbeat_ack = ack;
	if (hb->executor_id == NULL)
		return;
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = find(pool, hb->executor_id);
	if (e != NULL && e->e_alive) {
		e->e_last_seen = rl_mono_ms();
		e->e_rss_bytes = hb->rss_bytes;
		ack->known = true;
	}
	pthread_mutex_unlock(&pool->p_mu);
}

// ---- artifacts ----

// unhold drops one holder of a; the last frees it. @locks p_mu held
static void
unhold(rl_pool *pool, pool_artifact *a)
{
	if (--a->a_holders > 0)
		return;
	for (pool_artifact **pp = &pool->p_artifacts; *pp != NULL; pp = &(*pp)->a_next)
		if (*pp == a) {
			*pp = a->a_next;
			break;
		}
	rl_free(a->a_data);
	rl_free(a);
}

typedef struct artifact_send {
	rl_pool       *pool;
	pool_artifact *a;
} artifact_send;

static void
artifact_sent(void *arg)
{
	artifact_send *s = arg;
	pthread_mutex_lock(&s->pool->p_mu);
	unhold(s->pool, s->a);
	pthread_mutex_unlock(&s->pool->p_mu);
}

// find_artifact is the pool's artifact with sha, one a job lists if
// listed (else one a reply may still be sending too), or NULL.
// @locks p_mu held
static pool_artifact *
find_artifact(rl_pool *pool, const char *sha, bool listed)
{
	for (pool_artifact *a = pool->p_artifacts; a != NULL && sha != NULL; a = a->a_next)
		if ((!listed || a->a_listed > 0) && strcmp(a->a_sha, sha) == 0)
			return a;
	return NULL;
}

void
rl_pool_add_artifact(rl_pool *pool, const char *sha, const void *data, size_t len)
{
	pthread_mutex_lock(&pool->p_mu);
	pool_artifact *a = find_artifact(pool, sha, false);
	if (a == NULL) {
		a = RL_NEW(pool_artifact);
		snprintf(a->a_sha, sizeof(a->a_sha), "%s", sha);
		a->a_data = rl_malloc(len + 1);
		memcpy(a->a_data, data, len);
		a->a_len = len;
		a->a_next = pool->p_artifacts;
		pool->p_artifacts = a;
	}
	a->a_holders++;
	a->a_listed++;
	pthread_mutex_unlock(&pool->p_mu);
}

void
rl_pool_release_artifact(rl_pool *pool, const char *sha)
{
	pthread_mutex_lock(&pool->p_mu);
	pool_artifact *a = find_artifact(pool, sha, true);
	if (a != NULL) {
		a->a_listed--;
		unhold(pool, a);
	}
	pthread_mutex_unlock(&pool->p_mu);
}

// handle_artifact_fetch sends an artifact's bytes as the reply's tail.
static void
handle_artifact_fetch(
    rl_pool *pool, const Rill__ArtifactFetch *f, const char *peer, rl_reply *reply)
{
	pthread_mutex_lock(&pool->p_mu);
	pool_artifact *a = find_artifact(pool, f->sha256, true);
	if (a != NULL)
		a->a_holders++;
	pthread_mutex_unlock(&pool->p_mu);
	if (a == NULL) {
		Rill__ErrorReply *er = rl_arena_alloc(reply->r_arena, sizeof(*er));
		rill__error_reply__init(er);
		er->code = RL_ERR_NOENT;
		er->message = "this driver serves no artifact with that sha256";
		reply->r_env.body_case = RILL__ENVELOPE__BODY_ERROR;
		reply->r_env.error = er;
		rl_warn(COMP, "unknown artifact asked for", "peer=%s sha256=%.64s", peer,
		    f->sha256 != NULL ? f->sha256 : "");
		return;
	}
	Rill__ArtifactData *d = rl_arena_alloc(reply->r_arena, sizeof(*d));
	rill__artifact_data__init(d);
	d->sha256 = a->a_sha;
	d->size = a->a_len;
	reply->r_env.body_case = RILL__ENVELOPE__BODY_ARTIFACT_DATA;
	reply->r_env.artifact_data = d;
	reply->r_tail = a->a_data;
	reply->r_tail_len = a->a_len;
	artifact_send *s = rl_arena_alloc(reply->r_arena, sizeof(*s));
	*s = (artifact_send) { pool, a };
	reply->r_done = artifact_sent;
	reply->r_done_arg = s;
	rl_info(COMP, "artifact sent", "peer=%s sha256=%s bytes=%zu job=%s", peer, a->a_sha,
	    a->a_len, f->job != NULL ? f->job : "");
}

static void
handle(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	rl_pool *pool = arg;
	switch (req->m_env->body_case) {
	case RILL__ENVELOPE__BODY_REGISTER:
		handle_register(pool, req->m_env->register_, peer, reply);
		break;
	case RILL__ENVELOPE__BODY_HEARTBEAT:
		handle_heartbeat(pool, req->m_env->heartbeat, reply);
		break;
	case RILL__ENVELOPE__BODY_ARTIFACT_FETCH:
		handle_artifact_fetch(pool, req->m_env->artifact_fetch, peer, reply);
		break;
	default:
		rl_warn(COMP, "unexpected request", "peer=%s body=%d", peer,
		    (int)req->m_env->body_case);
		break;
	}
}

rl_err
rl_pool_create(
    const char *url, int64_t heartbeat_timeout_ms, rl_pool **ret, char *errbuf, size_t errlen)
{
	rl_pool *pool = RL_NEW(rl_pool);
	pool->p_timeout_ms = heartbeat_timeout_ms;
	for (int k = 0; k < FREE_BUCKETS; k++)
		pool->p_free_head[k] = -1;
	pthread_mutex_init(&pool->p_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->p_cond, &ca);
	pthread_condattr_destroy(&ca);
	rl_err rv = rl_rpc_server_create(url, 2, handle, pool, &pool->p_server, errbuf, errlen);
	if (rv != RL_OK) {
		rl_pool_destroy(pool);
		return rv;
	}
	*ret = pool;
	return RL_OK;
}

void
rl_pool_destroy(rl_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->p_mu);
	pool->p_closing = true; // our own closing of the links is no loss
	pthread_mutex_unlock(&pool->p_mu);
	rl_rpc_server_destroy(pool->p_server);
	for (int i = 0; i < pool->p_nexecs; i++) {
		rl_rpc_client_destroy(pool->p_execs[i]->e_client);
		rl_free(pool->p_execs[i]);
	}
	rl_free(pool->p_execs);
	for (int i = 0; i < pool->p_nretired; i++)
		rl_rpc_client_destroy(pool->p_retired[i]);
	rl_free(pool->p_retired);
	// The server is closed: no reply holds an artifact any more.
	while (pool->p_artifacts != NULL) {
		pool_artifact *a = pool->p_artifacts;
		pool->p_artifacts = a->a_next;
		rl_free(a->a_data);
		rl_free(a);
	}
	pthread_cond_destroy(&pool->p_cond);
	pthread_mutex_destroy(&pool->p_mu);
	rl_free(pool);
}

const char *
rl_pool_url(const rl_pool *pool)
{
	return rl_rpc_server_url(pool->p_server);
}

// alive counts live executors. @locks p_mu held
static int
alive(const rl_pool *pool)
{
	int n = 0;
	for (int i = 0; i < pool->p_nexecs; i++)
		n += pool->p_execs[i]->e_alive;
	return n;
}

void
rl_pool_check(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	int64_t now = rl_mono_ms();
	for (int i = 0; i < pool->p_nexecs; i++) {
		rl_exec *e = pool->p_execs[i];
		if (e->e_alive && !e->e_remote && e->e_local == NULL
		    && now - e->e_last_seen > pool->p_timeout_ms)
			lose(pool, e, "no heartbeat");
	}
	pthread_mutex_unlock(&pool->p_mu);
}

rl_err
rl_pool_add_remote(
    rl_pool *pool, const char *id, const char *url, int cores, char *errbuf, size_t errlen)
{
	char host[200];
	int  port;
	if (id == NULL || id[0] == '\0' || strlen(id) >= RL_POOL_ID_MAX || url == NULL
	    || strlen(url) >= RL_POOL_URL_MAX || !rl_rpc_url_split(url, host, sizeof(host), &port)
	    || cores < 1 || cores > 1024) {
		snprintf(errbuf, errlen,
		    "executor '%s': needs an id, a tcp:// listen URL and 1 to 1024 cores "
		    "(url '%s', cores %d)",
		    id != NULL ? id : "", url != NULL ? url : "", cores);
		return RL_ERR_INVAL;
	}
	rl_err rv = RL_OK;
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = find(pool, id);
	if (e != NULL && e->e_client != NULL && strcmp(e->e_url, url) != 0) {
		lose(pool, e, "listed at another address");
		retire(pool, e);
	}
	if (e == NULL)
		e = new_exec(pool, id);
	bool was_listed = e->e_remote && e->e_listed;
	e->e_cores = cores;
	refile(pool, e);
	e->e_remote = true;
	e->e_listed = true;
	if (e->e_client == NULL) {
		snprintf(e->e_url, sizeof(e->e_url), "%s", url);
		if ((rv = rl_rpc_client_create(e->e_url, &e->e_client, errbuf, errlen)) != RL_OK) {
			e->e_listed = false;
			goto out;
		}
		rl_rpc_client_on_link(e->e_client, on_link, e);
		e->e_local = NULL; // a stand-in's id, now a real executor's
	}
	if (!was_listed)
		rl_info(COMP, "executor found", "id=%s url=%s cores=%d source=zookeeper", e->e_id,
		    e->e_url, e->e_cores);
	revive(pool, e); // now if connected already; else when the link comes up
out:
	pthread_mutex_unlock(&pool->p_mu);
	return rv;
}

void
rl_pool_remove(rl_pool *pool, const char *id, const char *why)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = find(pool, id);
	if (e != NULL && e->e_remote && e->e_listed) {
		e->e_listed = false;
		lose(pool, e, why);
	}
	pthread_mutex_unlock(&pool->p_mu);
}

rl_err
rl_pool_add_local(rl_pool *pool, const char *id, int cores, rl_pool_local_fn fn, void *arg,
    char *errbuf, size_t errlen)
{
	if (id == NULL || id[0] == '\0' || strlen(id) + sizeof("local://") > RL_POOL_URL_MAX
	    || strlen(id) >= RL_POOL_ID_MAX || cores < 1 || cores > 1024 || fn == NULL) {
		snprintf(errbuf, errlen,
		    "local executor '%s': needs an id (up to %d bytes), a function and 1 to 1024 "
		    "cores (cores %d)",
		    id != NULL ? id : "", RL_POOL_ID_MAX - 1, cores);
		return RL_ERR_INVAL;
	}
	pthread_mutex_lock(&pool->p_mu);
	if (find(pool, id) != NULL) {
		pthread_mutex_unlock(&pool->p_mu);
		snprintf(errbuf, errlen, "local executor '%s': the pool knows that id already", id);
		return RL_ERR_INVAL;
	}
	rl_exec *e = new_exec(pool, id);
	snprintf(e->e_url, sizeof(e->e_url), "local://%s", id);
	e->e_cores = cores;
	e->e_alive = true;
	e->e_local = fn;
	e->e_local_arg = arg;
	refile(pool, e);
	event(pool);
	pthread_mutex_unlock(&pool->p_mu);
	return RL_OK;
}

int
rl_pool_find(rl_pool *pool, const char *id)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = find(pool, id);
	int      index = e != NULL ? e->e_index : -1;
	pthread_mutex_unlock(&pool->p_mu);
	return index;
}

int
rl_pool_exec_cores(rl_pool *pool, int index)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = exec_at(pool, index);
	int      cores = e != NULL ? e->e_cores : 0;
	pthread_mutex_unlock(&pool->p_mu);
	return cores;
}

int
rl_pool_cores(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	int n = 0;
	for (int i = 0; i < pool->p_nexecs; i++)
		n += pool->p_execs[i]->e_alive ? pool->p_execs[i]->e_cores : 0;
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

int
rl_pool_size(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	int n = pool->p_nexecs;
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

int
rl_pool_alive(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	int n = alive(pool);
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

bool
rl_pool_exec_alive(rl_pool *pool, int index)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = exec_at(pool, index);
	bool     ok = e != NULL && e->e_alive;
	pthread_mutex_unlock(&pool->p_mu);
	return ok;
}

bool
rl_pool_exec_url(rl_pool *pool, int index, char *buf, size_t len)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = exec_at(pool, index);
	if (e != NULL)
		snprintf(buf, len, "%s", e->e_url);
	pthread_mutex_unlock(&pool->p_mu);
	return e != NULL;
}

bool
rl_pool_exec_id(rl_pool *pool, int index, char *buf, size_t len)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = exec_at(pool, index);
	if (e != NULL)
		snprintf(buf, len, "%s", e->e_id);
	pthread_mutex_unlock(&pool->p_mu);
	return e != NULL;
}

rl_pool_url_state
rl_pool_url_state_of(rl_pool *pool, const char *url)
{
	rl_pool_url_state state = RL_POOL_URL_UNKNOWN;
	pthread_mutex_lock(&pool->p_mu);
	for (int i = 0; i < pool->p_nexecs && state != RL_POOL_URL_ALIVE; i++)
		if (strcmp(pool->p_execs[i]->e_url, url) == 0)
			state = pool->p_execs[i]->e_alive ? RL_POOL_URL_ALIVE : RL_POOL_URL_LOST;
	pthread_mutex_unlock(&pool->p_mu);
	return state;
}

uint64_t
rl_pool_losses(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	uint64_t n = pool->p_losses;
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

// url_alive says whether a live executor is at url. @locks p_mu held
static bool
url_alive(const rl_pool *pool, const char *url)
{
	for (int i = 0; i < pool->p_nexecs; i++)
		if (pool->p_execs[i]->e_alive && strcmp(pool->p_execs[i]->e_url, url) == 0)
			return true;
	return false;
}

char **
rl_pool_lost_urls(rl_pool *pool, size_t *ret_count)
{
	pthread_mutex_lock(&pool->p_mu);
	size_t n = 0, bytes = 0;
	for (int i = 0; i < pool->p_nexecs; i++) {
		const rl_exec *e = pool->p_execs[i];
		if (!e->e_alive && !url_alive(pool, e->e_url)) {
			n++;
			bytes += strlen(e->e_url) + 1;
		}
	}
	char **urls = rl_malloc((n + 1) * sizeof(char *) + bytes + 1);
	char  *at = (char *)(urls + n + 1);
	size_t k = 0;
	for (int i = 0; i < pool->p_nexecs && k < n; i++) {
		const rl_exec *e = pool->p_execs[i];
		if (e->e_alive || url_alive(pool, e->e_url))
			continue;
		size_t len = strlen(e->e_url) + 1;
		memcpy(at, e->e_url, len);
		urls[k++] = at;
		at += len;
	}
	urls[k] = NULL;
	pthread_mutex_unlock(&pool->p_mu);
	*ret_count = k;
	return urls;
}

// has_core says whether e can take one more task. @locks p_mu held
static bool
has_core(const rl_exec *e)
{
	return e != NULL && e->e_alive && e->e_busy < e->e_cores;
}

int
rl_pool_reserve(rl_pool *pool, int preferred, int excluded)
{
	pthread_mutex_lock(&pool->p_mu);
	int      best = -1;
	rl_exec *e = exec_at(pool, preferred);
	if (has_core(e) && preferred != excluded) {
		best = preferred;
		goto out;
	}
	// The most free cores: the first executor, other than excluded, in the
	// highest bucket that has one.
	for (int k = pool->p_free_max; k > 0 && best < 0; k--) {
		int at = pool->p_free_head[k];
		if (at < 0 && k == pool->p_free_max)
			pool->p_free_max = k - 1; // empty at the top: look lower from now on
		for (; at >= 0 && best < 0; at = pool->p_execs[at]->e_free_next)
			if (at != excluded)
				best = at;
	}
	// The executor it failed on is still better than none at all.
	if (best < 0 && has_core(exec_at(pool, excluded)) && alive(pool) == 1)
		best = excluded;
out:
	if (best >= 0) {
		pool->p_execs[best]->e_busy++;
		refile(pool, pool->p_execs[best]);
	}
	pthread_mutex_unlock(&pool->p_mu);
	return best;
}

void
rl_pool_release(rl_pool *pool, int index)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec *e = exec_at(pool, index);
	if (e != NULL) {
		e->e_busy--;
		refile(pool, e);
	}
	event(pool);
	pthread_mutex_unlock(&pool->p_mu);
}

// client_of is executor index's client, or NULL, and its local function if
// it is in this process. Clients are destroyed only with the pool, so the
// caller may use it after the lock is released.
static rl_rpc_client *
client_of(rl_pool *pool, int index, rl_pool_local_fn *ret_local, void **ret_local_arg)
{
	pthread_mutex_lock(&pool->p_mu);
	rl_exec       *e = exec_at(pool, index);
	rl_rpc_client *cli = e != NULL ? e->e_client : NULL;
	*ret_local = e != NULL && e->e_alive ? e->e_local : NULL;
	*ret_local_arg = e != NULL ? e->e_local_arg : NULL;
	pthread_mutex_unlock(&pool->p_mu);
	return cli;
}

// call_local has an executor in this process answer req: the request
// encoded as a client would, the reply decoded as one from the network.
static rl_err
call_local(
    rl_pool_local_fn fn, void *arg, Rill__Envelope *req, rl_msg **ret, char *errbuf, size_t errlen)
{
	rl_buf frame = RL_BUF_INIT;
	rl_frame_encode(req, NULL, 0, &frame);
	rl_buf_fini(&frame);
	rl_err rv = fn(arg, req, &frame, errbuf, errlen);
	if (rv == RL_OK)
		rv = rl_msg_decode(frame.b_data, frame.b_len, ret, errbuf, errlen);
	rl_buf_fini(&frame);
	return rv;
}

void
rl_pool_call_async(
    rl_pool *pool, int index, Rill__Envelope *req, int timeout_ms, rl_rpc_done_cb done, void *arg)
{
	rl_pool_local_fn local;
	void            *local_arg;
	rl_rpc_client   *cli = client_of(pool, index, &local, &local_arg);
	if (local != NULL) {
		char    why[256] = "";
		rl_msg *reply = NULL;
		rl_err  rv = call_local(local, local_arg, req, &reply, why, sizeof(why));
		done(arg, rv, why, reply);
		return;
	}
	if (cli == NULL) {
		done(arg, RL_ERR_CLOSED, "no such executor", NULL);
		return;
	}
	rl_rpc_call_async(cli, req, timeout_ms, done, arg);
}

rl_err
rl_pool_call(rl_pool *pool, int index, Rill__Envelope *req, int timeout_ms, rl_msg **ret,
    char *errbuf, size_t errlen)
{
	rl_pool_local_fn local;
	void            *local_arg;
	rl_rpc_client   *cli = client_of(pool, index, &local, &local_arg);
	if (local != NULL)
		return call_local(local, local_arg, req, ret, errbuf, errlen);
	if (cli == NULL) {
		snprintf(errbuf, errlen, "executor %d has no connection", index);
		return RL_ERR_CLOSED;
	}
	return rl_rpc_call(cli, req, NULL, 0, timeout_ms, ret, errbuf, errlen);
}

void
rl_pool_cancel_calls(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	for (int i = 0; i < pool->p_nexecs; i++)
		if (pool->p_execs[i]->e_client != NULL)
			rl_rpc_client_cancel_all(pool->p_execs[i]->e_client);
	pthread_mutex_unlock(&pool->p_mu);
}

uint64_t
rl_pool_events(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	uint64_t n = pool->p_events;
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

// deadline_in is the CLOCK_MONOTONIC time ms from now (p_cond's clock).
static struct timespec
deadline_in(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

void
rl_pool_wake(rl_pool *pool)
{
	pthread_mutex_lock(&pool->p_mu);
	event(pool);
	pthread_mutex_unlock(&pool->p_mu);
}

uint64_t
rl_pool_wait(rl_pool *pool, uint64_t seen, int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	pthread_mutex_lock(&pool->p_mu);
	int rv = 0;
	while (pool->p_events == seen && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&pool->p_cond, &pool->p_mu, &until);
	uint64_t n = pool->p_events;
	pthread_mutex_unlock(&pool->p_mu);
	return n;
}

bool
rl_pool_wait_for(rl_pool *pool, int n, int64_t timeout_ms, const atomic_int *stop)
{
	int64_t deadline = rl_mono_ms() + timeout_ms;
	pthread_mutex_lock(&pool->p_mu);
	while (alive(pool) < n && rl_mono_ms() < deadline && (stop == NULL || !*stop)) {
		struct timespec ts = deadline_in(100);
		pthread_cond_timedwait(&pool->p_cond, &pool->p_mu, &ts);
	}
	bool ok = alive(pool) >= n;
	pthread_mutex_unlock(&pool->p_mu);
	return ok;
}
