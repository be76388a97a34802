// SPDX-License-Identifier: Apache-2.0
// Executor discovery: lists /rill/executors, watches it, and adds and removes
// the pool's remote executors as their nodes come and go.
#include "driver/discovery.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cluster.pb-c.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"
#include "common/zk.h"

#define COMP "driver"
#define TAG_CHILDREN 1
// A new session after an expiry: how long one attempt may wait.
#define RECONNECT_MS 2000

struct rl_discovery {
	rl_pool   *d_pool;
	char      *d_connect;
	int        d_session_ms;
	pthread_t  d_thread;
	atomic_int d_stop;
	// Everything below is the thread's (start's, before the thread runs).
	rl_zk       *d_zk; // NULL while no session could be opened
	rl_zk_queue *d_queue; // d_zk's watch and session events
	char       **d_known; // ids listed last time (rl_zk_free_names)
};

static bool
listed(char **names, const char *id)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], id) == 0)
			return true;
	return false;
}

// add reads executor id's node and adds it to the pool. A node that is gone
// already or does not hold an ExecutorInfo is skipped (with a warning for
// the latter: the next change of the listing reads it again).
static void
add(rl_discovery *d, const char *id)
{
	char   path[256], why[512];
	char  *data;
	size_t len;
	snprintf(path, sizeof(path), RL_EXECUTORS_PATH "/%s", id);
	rl_err rv = rl_zk_get(d->d_zk, path, &data, &len, why, sizeof(why));
	if (rv == RL_ERR_NOENT)
		return;
	if (rv != RL_OK) {
		rl_warn(COMP, "cannot read executor node", "node=%s error=\"%s\"", path, why);
		return;
	}
	Rill__ExecutorInfo *info = rill__executor_info__unpack(NULL, len, (const uint8_t *)data);
	rl_free(data);
	if (info == NULL || info->version != 1 || info->listen_url == NULL) {
		rl_warn(COMP, "executor node ignored", "node=%s error=\"%s\"", path,
		    info == NULL ? "not an ExecutorInfo" : "unsupported ExecutorInfo version");
		rill__executor_info__free_unpacked(info, NULL);
		return;
	}
	if (rl_pool_add_remote(d->d_pool, id, info->listen_url,
	        info->cores > 1024 ? 0 : (int)info->cores, why, sizeof(why))
	    != RL_OK)
		rl_warn(COMP, "executor node ignored", "node=%s error=\"%s\"", path, why);
	rill__executor_info__free_unpacked(info, NULL);
}

// list reads the listing (setting the next watch), adds every executor
// listed and removes those listed before and not now. @locality the thread
static rl_err
list(rl_discovery *d, char *errbuf, size_t errlen)
{
	// The parent may not exist before the first executor: make it, so that
	// the children watch has something to watch.
	rl_err rv = rl_zk_create(d->d_zk, RL_EXECUTORS_PATH, NULL, 0, 0, NULL, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_EXISTS)
		return rv;
	char **names;
	size_t count;
	if ((rv = rl_zk_children_watch(d->d_zk, RL_EXECUTORS_PATH, d->d_queue, TAG_CHILDREN, &names,
	         &count, errbuf, errlen))
	    != RL_OK)
		return rv;
	for (size_t i = 0; i < count; i++)
		add(d, names[i]);
	for (size_t i = 0; d->d_known != NULL && d->d_known[i] != NULL; i++) {
		if (listed(names, d->d_known[i]))
			continue;
		char why[300];
		snprintf(why, sizeof(why), "node " RL_EXECUTORS_PATH "/%s is gone", d->d_known[i]);
		rl_pool_remove(d->d_pool, d->d_known[i], why);
	}
	rl_zk_free_names(d->d_known);
	d->d_known = names;
	return RL_OK;
}

// session_open opens a session and its queue. @locality the thread (or start)
static rl_err
session_open(rl_discovery *d, int timeout_ms, char *errbuf, size_t errlen)
{
	rl_err rv
	    = rl_zk_connect(d->d_connect, d->d_session_ms, timeout_ms, &d->d_zk, errbuf, errlen);
	if (rv == RL_OK)
		d->d_queue = rl_zk_queue_create(d->d_zk);
	return rv;
}

static void
session_close(rl_discovery *d)
{
	rl_zk_queue_destroy(d->d_queue);
	d->d_queue = NULL;
	rl_zk_close(d->d_zk);
	d->d_zk = NULL;
}

static void *
follow(void *arg)
{
	rl_discovery *d = arg;
	char          why[512];
	bool          relist = false;
	rl_err        last = RL_OK;
	while (!atomic_load(&d->d_stop)) {
		if (d->d_zk != NULL && rl_zk_expired(d->d_zk)) {
			rl_warn(COMP, "ZooKeeper session expired, opening a new one", "zk=%s",
			    d->d_connect);
			session_close(d);
		}
		rl_err rv = RL_OK;
		if (d->d_zk == NULL
		    && (rv = session_open(d, RECONNECT_MS, why, sizeof(why))) == RL_OK)
			relist = true; // the old session's watch died with it
		if (rv == RL_OK && relist)
			relist = (rv = list(d, why, sizeof(why))) != RL_OK;
		if (rv != RL_OK && rv != last) // say it once, not on every retry
			rl_warn(COMP, "cannot list executors in ZooKeeper", "zk=%s error=\"%s\"",
			    d->d_connect, why);
		last = rv;
		rl_zk_event ev;
		if (d->d_queue == NULL) {
			rl_sleep_ms(200);
		} else if (rl_zk_queue_wait(d->d_queue, 200, &ev)) {
			// A changed listing, or a session back after a disconnection
			// (changes meanwhile fired the watch; listing again is cheap).
			if (ev.type == RL_ZK_EV_CHILD
			    || (ev.type == RL_ZK_EV_SESSION && ev.state == RL_ZK_CONNECTED))
				relist = true;
			rl_zk_event_fini(&ev);
		}
	}
	return NULL;
}

rl_err
rl_discovery_start(rl_pool *pool, const char *connect, int session_timeout_ms,
    int connect_timeout_ms, rl_discovery **ret, char *errbuf, size_t errlen)
{
	rl_discovery *d = RL_NEW(rl_discovery);
	d->d_pool = pool;
	d->d_connect = rl_strdup(connect);
	d->d_session_ms = session_timeout_ms;
	rl_err rv = session_open(d, connect_timeout_ms, errbuf, errlen);
	if (rv != RL_OK)
		goto err_discovery;
	if ((rv = list(d, errbuf, errlen)) != RL_OK)
		goto err_session;
	if (pthread_create(&d->d_thread, NULL, follow, d) != 0) {
		snprintf(errbuf, errlen, "cannot start the executor discovery thread");
		rv = RL_ERR_INTERNAL;
		goto err_session;
	}
	*ret = d;
	return RL_OK;

err_session:
	session_close(d);
err_discovery:
	rl_zk_free_names(d->d_known);
	rl_free(d->d_connect);
	rl_free(d);
	return rv;
}

void
rl_discovery_stop(rl_discovery *d)
{
	if (d == NULL)
		return;
	atomic_store(&d->d_stop, 1);
	pthread_join(d->d_thread, NULL);
	session_close(d);
	rl_zk_free_names(d->d_known);
	rl_free(d->d_connect);
	rl_free(d);
}
