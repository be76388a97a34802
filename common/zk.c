// SPDX-License-Identifier: Apache-2.0
// ZooKeeper wrapper over the multi-threaded C client: sessions and their lease
// clock, znode reads and writes, watches posted on queues, multi-ops; Z* codes
// become rl_err here, with zerror()'s text kept in the message.
#include "common/zk.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The synchronous API (zoo_create, zoo_get, ...) is declared for the
// multi-threaded client only.
#define THREADED
#include <zookeeper/zookeeper.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/time.h"

struct watch;

struct rl_zk {
	zhandle_t      *z_handle;
	char           *z_connect; // as the caller gave it, for messages
	bool            z_chroot; // the connect string names a chroot
	pthread_mutex_t z_lock;
	pthread_cond_t  z_cond; // signalled on every session event
	int             z_state; // last session state seen, under z_lock
	bool            z_was_connected;
	atomic_bool     z_expired;
	atomic_int      z_public_state; // rl_zk_state
	atomic_llong    z_last_heard_ms; // see rl_zk_last_heard_ms
	// The ACL of the nodes this session creates: open, or with the cluster
	// secret all rights to its digest identity and none to the world.
	struct ACL_vector *z_acl;
	bool               z_auth_done; // zoo_add_auth answered, under z_lock
	int                z_auth_rc;

	// The heartbeat thread: one exists("/") in flight at a time, under z_lock.
	pthread_t z_heartbeat;
	bool      z_heartbeat_started;
	bool      z_stopping;
	bool      z_beat_in_flight;
	int64_t   z_beat_sent_ms;
	int64_t   z_beat_due_ms;

	// Watches not yet fired and the queues of this handle, under z_watch_lock
	// (taken by the completion thread to post; before a queue's own lock).
	pthread_mutex_t z_watch_lock;
	struct watch   *z_watches;
	size_t          z_watch_count;
	rl_zk_queue    *z_queues;
};

// One queued event.
struct queued {
	rl_zk_event    q_event;
	struct queued *q_next;
};

struct rl_zk_queue {
	rl_zk          *q_zk;
	rl_zk_queue    *q_next; // in q_zk->z_queues
	pthread_mutex_t q_lock;
	pthread_cond_t  q_cond; // signalled when an event is posted
	struct queued  *q_head;
	struct queued **q_tail;
};

// A watch set through the wrapper: the client's watcher context.
struct watch {
	rl_zk        *w_zk;
	rl_zk_queue  *w_queue; // NULL once the queue is destroyed
	uint64_t      w_tag;
	struct watch *w_prev, *w_next; // in w_zk->z_watches
};

static struct watch *watch_new(rl_zk *zk, rl_zk_queue *queue, uint64_t tag);
static void          watch_drop(struct watch *w);
static void          node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);

// ---- the client's own log ----

// log_line gets every line the client logs for our handles, formatted as
// "<time>:<pid>(<tid>):ZOO_<LEVEL>@<function>@<line>: <message>". The client
// repeats its errors on every reconnect attempt, and each failure also comes
// back to the caller as an error code, so its lines go to rill's debug log.
static void
log_line(const char *line)
{
	if (!rl_log_enabled(RL_LOG_DEBUG))
		return;
	const char *level = strstr(line, ":ZOO_");
	const char *msg = level != NULL ? strstr(level, ": ") : NULL;
	if (level == NULL || msg == NULL) {
		rl_log(RL_LOG_DEBUG, "zk", line, "client=zookeeper");
		return;
	}
	level += 5;
	int level_len = (int)strcspn(level, "@");
	int where_len = (int)(msg - level) - level_len - 1;
	rl_log(RL_LOG_DEBUG, "zk", msg + 2, "client=zookeeper level=%.*s at=%.*s", level_len, level,
	    where_len > 0 ? where_len : 0, level + level_len + 1);
}

// quiet_client sets the client's global level: its INFO lines (one per request
// on some paths) are not even formatted unless rill logs at debug.
static void
quiet_client(void)
{
	zoo_set_debug_level(rl_log_enabled(RL_LOG_DEBUG) ? ZOO_LOG_LEVEL_INFO : ZOO_LOG_LEVEL_WARN);
}

// ---- errors ----

static rl_err
from_zk(int rc)
{
	switch (rc) {
	case ZOK:
		return RL_OK;
	case ZNONODE:
		return RL_ERR_NOENT;
	case ZNODEEXISTS:
	case ZNOTEMPTY:
		return RL_ERR_EXISTS;
	case ZCONNECTIONLOSS:
	case ZOPERATIONTIMEOUT:
		return RL_ERR_TIMEDOUT;
	case ZSESSIONEXPIRED:
	case ZINVALIDSTATE: // the handle's session has expired
	case ZCLOSING:
		return RL_ERR_CLOSED;
	case ZBADARGUMENTS:
	case ZNOCHILDRENFOREPHEMERALS:
		return RL_ERR_INVAL;
	case ZBADVERSION:
		return RL_ERR_STALE_EPOCH;
	case ZNOAUTH:
	case ZAUTHFAILED:
		return RL_ERR_AUTH;
	default:
		return RL_ERR_IO;
	}
}

// op_error describes a failed operation: what, on which path, at which server,
// and the client's own text and code.
static rl_err
op_error(const rl_zk *zk, const char *op, const char *path, int rc, char *errbuf, size_t errlen)
{
	const char *hint = "";
	if (rc == ZINVALIDSTATE && atomic_load(&zk->z_expired))
		hint = "; the session has expired";
	else if (rc == ZNOAUTH)
		hint = zk->z_acl == &ZOO_CREATOR_ALL_ACL
		    ? "; the node is closed to this cluster secret (another --secret-file?)"
		    : "; the node is closed to sessions without the cluster secret (--secret-file)";
	snprintf(errbuf, errlen, "ZooKeeper %s %s at %s: %s (ZooKeeper error %d)%s", op, path,
	    zk->z_connect, zerror(rc), rc, hint);
	return from_zk(rc);
}

// ---- connect strings ----

// check_connect validates "host:port[,host:port...][/chroot]" before the client
// sees it (the client accepts some malformed strings and logs the reason only).
// *ret_chroot points into connect at the chroot, or is NULL.
static rl_err
check_connect(const char *connect, const char **ret_chroot, char *errbuf, size_t errlen)
{
	if (connect == NULL || connect[0] == '\0') {
		snprintf(errbuf, errlen, "ZooKeeper connect string is empty");
		return RL_ERR_INVAL;
	}
	const char *chroot = strchr(connect, '/');
	size_t      hosts_len = chroot != NULL ? (size_t)(chroot - connect) : strlen(connect);
	const char *p = connect;
	for (int entry = 1;; entry++) {
		size_t      len = strcspn(p, ",/");
		const char *colon = NULL;
		for (const char *c = p; c < p + len; c++) {
			unsigned char uc = (unsigned char)*c;
			if (uc <= ' ' || uc >= 0x7f) {
				snprintf(errbuf, errlen,
				    "ZooKeeper connect string \"%s\", server %d: "
				    "blank, control or non-ASCII character at column %zu",
				    connect, entry, (size_t)(c - connect) + 1);
				return RL_ERR_INVAL;
			}
			if (*c == ':')
				colon = c;
		}
		if (colon == NULL || colon == p) {
			snprintf(errbuf, errlen,
			    "ZooKeeper connect string \"%s\", server %d at column %zu: "
			    "expected host:port",
			    connect, entry, (size_t)(p - connect) + 1);
			return RL_ERR_INVAL;
		}
		long        port = 0;
		const char *d = colon + 1;
		for (; d < p + len && *d >= '0' && *d <= '9' && port <= 65535; d++)
			port = port * 10 + (*d - '0');
		if (d == colon + 1 || d != p + len || port < 1 || port > 65535) {
			snprintf(errbuf, errlen,
			    "ZooKeeper connect string \"%s\", server %d at column %zu: "
			    "port \"%.*s\" is not a number in 1-65535",
			    connect, entry, (size_t)(colon - connect) + 2,
			    (int)(p + len - colon - 1), colon + 1);
			return RL_ERR_INVAL;
		}
		p += len;
		if ((size_t)(p - connect) >= hosts_len)
			break;
		p++; // the comma
	}
	if (chroot != NULL && chroot[1] == '\0')
		chroot = NULL; // "host:port/" is the root itself
	for (const char *c = chroot; c != NULL && *c != '\0'; c++) {
		unsigned char uc = (unsigned char)*c;
		if (uc < ' ' || uc == 0x7f) {
			snprintf(errbuf, errlen,
			    "ZooKeeper connect string \"%s\", chroot: control character at column "
			    "%zu",
			    connect, (size_t)(c - connect) + 1);
			return RL_ERR_INVAL;
		}
		// Each component must be a name: not empty, not "." or "..".
		if (*c != '/')
			continue;
		size_t len = strcspn(c + 1, "/");
		if (len == 0 || (len == 1 && c[1] == '.')
		    || (len == 2 && c[1] == '.' && c[2] == '.')) {
			snprintf(errbuf, errlen,
			    "ZooKeeper connect string \"%s\", chroot at column %zu: "
			    "empty, \".\" or \"..\" path component",
			    connect, (size_t)(c - connect) + 2);
			return RL_ERR_INVAL;
		}
	}
	*ret_chroot = chroot;
	return RL_OK;
}

// ---- sessions ----

static void
cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

// timed_wait waits on cond until the rl_mono_ms time deadline_ms (the cond's
// clock is CLOCK_MONOTONIC, as rl_mono_ms's).
static void
timed_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_ms)
{
	struct timespec until = {
		.tv_sec = (time_t)(deadline_ms / 1000),
		.tv_nsec = (long)(deadline_ms % 1000 * 1000000),
	};
	pthread_cond_timedwait(cond, lock, &until);
}

static rl_zk_state
public_state_of(int state)
{
	if (state == ZOO_CONNECTED_STATE)
		return RL_ZK_CONNECTED;
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
		return RL_ZK_EXPIRED;
	return RL_ZK_SUSPENDED;
}

// post appends an event to queue. @locks z_watch_lock of the queue's handle
static void
post(rl_zk_queue *queue, rl_zk_event_type type, uint64_t tag, rl_zk_state state, const char *path)
{
	struct queued *q = RL_NEW(struct queued);
	q->q_event = (rl_zk_event) {
		.type = type,
		.tag = tag,
		.state = state,
		.path = path != NULL ? rl_strdup(path) : NULL,
	};
	pthread_mutex_lock(&queue->q_lock);
	*queue->q_tail = q;
	queue->q_tail = &q->q_next;
	pthread_cond_broadcast(&queue->q_cond);
	pthread_mutex_unlock(&queue->q_lock);
}

// ---- the lease clock ----

// beat_done gets the heartbeat's answer: any answer from the server proves it
// heard from the session after the request was sent. @locality client thread
static void
beat_done(int rc, const struct Stat *stat, const void *data)
{
	(void)stat;
	rl_zk *zk = (rl_zk *)data;
	pthread_mutex_lock(&zk->z_lock);
	if ((rc == ZOK || rc == ZNONODE) && zk->z_beat_sent_ms > atomic_load(&zk->z_last_heard_ms))
		atomic_store(&zk->z_last_heard_ms, zk->z_beat_sent_ms);
	zk->z_beat_in_flight = false;
	pthread_cond_broadcast(&zk->z_cond);
	pthread_mutex_unlock(&zk->z_lock);
}

// heartbeat_main sends exists("/") every tenth of the session timeout while
// connected (and at once after each connect), so rl_zk_last_heard_ms stays
// fresh whatever the owner does. @locality the heartbeat thread
static void *
heartbeat_main(void *arg)
{
	rl_zk *zk = arg;
	pthread_mutex_lock(&zk->z_lock);
	while (!zk->z_stopping) {
		int64_t now = rl_mono_ms();
		int     interval = zoo_recv_timeout(zk->z_handle) / 10;
		if (interval < 10)
			interval = 10;
		if (zk->z_state == ZOO_CONNECTED_STATE && !zk->z_beat_in_flight
		    && now >= zk->z_beat_due_ms) {
			zk->z_beat_in_flight = true;
			zk->z_beat_sent_ms = now;
			zk->z_beat_due_ms = now + interval;
			pthread_mutex_unlock(&zk->z_lock);
			int rc = zoo_aexists(zk->z_handle, "/", 0, beat_done, zk);
			pthread_mutex_lock(&zk->z_lock);
			if (rc != ZOK)
				zk->z_beat_in_flight = false;
			continue;
		}
		int64_t wake = zk->z_beat_due_ms > now ? zk->z_beat_due_ms : now + interval;
		timed_wait(&zk->z_cond, &zk->z_lock, wake);
	}
	pthread_mutex_unlock(&zk->z_lock);
	return NULL;
}

// session_watcher is the handle's global watcher; the client calls it on its
// completion thread. @locality client thread
static void
session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return;
	rl_zk *zk = ctx;
	pthread_mutex_lock(&zk->z_lock);
	int  prev = zk->z_state;
	bool was_connected = zk->z_was_connected;
	zk->z_state = state;
	if (state == ZOO_CONNECTED_STATE) {
		zk->z_was_connected = true;
		zk->z_beat_due_ms = 0; // prove the new connection at once
	}
	if (state == ZOO_EXPIRED_SESSION_STATE)
		atomic_store(&zk->z_expired, true);
	rl_zk_state public_state = public_state_of(state);
	atomic_store(&zk->z_public_state, (int)public_state);
	pthread_cond_broadcast(&zk->z_cond);
	pthread_mutex_unlock(&zk->z_lock);

	pthread_mutex_lock(&zk->z_watch_lock);
	for (rl_zk_queue *q = zk->z_queues; q != NULL; q = q->q_next)
		post(q, RL_ZK_EV_SESSION, 0, public_state, NULL);
	pthread_mutex_unlock(&zk->z_watch_lock);

	// Transitions of a session that was up are news for the operator.
	if (state == ZOO_EXPIRED_SESSION_STATE)
		rl_warn("zk", "session expired", "connect=\"%s\"", zk->z_connect);
	else if (state == ZOO_CONNECTED_STATE && was_connected && prev != ZOO_CONNECTED_STATE)
		rl_info("zk", "session re-established", "connect=\"%s\"", zk->z_connect);
	else if (state == ZOO_CONNECTED_STATE)
		rl_debug("zk", "session established", "connect=\"%s\" session_timeout_ms=%d",
		    zk->z_connect, zoo_recv_timeout(zh));
	else if (state == ZOO_CONNECTING_STATE && prev == ZOO_CONNECTED_STATE)
		rl_warn("zk", "connection lost, reconnecting", "connect=\"%s\"", zk->z_connect);
}

static void
session_free(rl_zk *zk)
{
	if (zk->z_heartbeat_started) {
		pthread_mutex_lock(&zk->z_lock);
		zk->z_stopping = true;
		pthread_cond_broadcast(&zk->z_cond);
		pthread_mutex_unlock(&zk->z_lock);
		pthread_join(zk->z_heartbeat, NULL);
	}
	// Closing calls the pending completions (a heartbeat's among them).
	if (zk->z_handle != NULL)
		zookeeper_close(zk->z_handle);
	// Watches that never fired are the client's no more.
	for (struct watch *w = zk->z_watches, *next; w != NULL; w = next) {
		next = w->w_next;
		rl_free(w);
	}
	// Queues still alive (a contract breach) outlive the handle detached.
	for (rl_zk_queue *q = zk->z_queues; q != NULL; q = q->q_next)
		q->q_zk = NULL;
	pthread_mutex_destroy(&zk->z_watch_lock);
	pthread_cond_destroy(&zk->z_cond);
	pthread_mutex_destroy(&zk->z_lock);
	rl_free(zk->z_connect);
	rl_free(zk);
}

static void
auth_done(int rc, const void *data)
{
	rl_zk *zk = (rl_zk *)(uintptr_t)data;
	pthread_mutex_lock(&zk->z_lock);
	zk->z_auth_rc = rc;
	zk->z_auth_done = true;
	pthread_cond_broadcast(&zk->z_cond);
	pthread_mutex_unlock(&zk->z_lock);
}

// add_digest_auth adds the cluster secret's digest identity, user "rill" with
// the password derived from the secret, to the session and waits until
// deadline_ms for the server to take it. The client sends it again after a
// reconnection by itself.
static rl_err
add_digest_auth(
    rl_zk *zk, const rl_secret *secret, int64_t deadline_ms, char *errbuf, size_t errlen)
{
	char password[65], cert[80];
	rl_secret_derive(secret, "zookeeper", password);
	int len = snprintf(cert, sizeof(cert), "rill:%s", password);
	int rc = zoo_add_auth(zk->z_handle, "digest", cert, len, auth_done, zk);
	memset(cert, 0, sizeof(cert));
	memset(password, 0, sizeof(password));
	if (rc == ZOK) {
		pthread_mutex_lock(&zk->z_lock);
		while (!zk->z_auth_done && rl_mono_ms() < deadline_ms)
			timed_wait(&zk->z_cond, &zk->z_lock, deadline_ms);
		rc = zk->z_auth_done ? zk->z_auth_rc : ZOPERATIONTIMEOUT;
		pthread_mutex_unlock(&zk->z_lock);
	}
	if (rc != ZOK) {
		snprintf(errbuf, errlen,
		    "ZooKeeper at %s: adding the cluster secret's identity: %s", zk->z_connect,
		    zerror(rc));
		return rc == ZOPERATIONTIMEOUT ? RL_ERR_TIMEDOUT : RL_ERR_AUTH;
	}
	zk->z_acl = &ZOO_CREATOR_ALL_ACL;
	return RL_OK;
}

// session_open starts a session to connect and waits until deadline_ms
// (rl_mono_ms; timeout_ms is the caller's whole budget, for messages) for the
// server to accept it.
static rl_err
session_open(const char *connect, int session_timeout_ms, int timeout_ms, int64_t deadline_ms,
    rl_zk **ret, char *errbuf, size_t errlen)
{
	rl_zk *zk = RL_NEW(rl_zk);
	rl_err rv;
	zk->z_connect = rl_strdup(connect);
	zk->z_acl = &ZOO_OPEN_ACL_UNSAFE;
	zk->z_state = ZOO_NOTCONNECTED_STATE;
	atomic_init(&zk->z_expired, false);
	atomic_init(&zk->z_public_state, (int)RL_ZK_SUSPENDED);
	// A new session starts on the server after this moment.
	atomic_init(&zk->z_last_heard_ms, (long long)rl_mono_ms());
	cond_init_monotonic(&zk->z_cond);
	pthread_mutex_init(&zk->z_lock, NULL);
	pthread_mutex_init(&zk->z_watch_lock, NULL);

	quiet_client();
	zk->z_handle = zookeeper_init2(
	    connect, session_watcher, session_timeout_ms, NULL, zk, ZOO_NO_LOG_CLIENTENV, log_line);
	if (zk->z_handle == NULL) {
		int err = errno;
		snprintf(errbuf, errlen, "ZooKeeper at %s: cannot start a session: %s%s", connect,
		    err == ENOENT ? "no server name resolves: " : "", strerror(err));
		rv = err == EINVAL ? RL_ERR_INVAL : err == ENOMEM ? RL_ERR_NOMEM : RL_ERR_NET;
		goto err_session;
	}

	pthread_mutex_lock(&zk->z_lock);
	while (zk->z_state != ZOO_CONNECTED_STATE && zk->z_state != ZOO_EXPIRED_SESSION_STATE
	    && zk->z_state != ZOO_AUTH_FAILED_STATE) {
		if (rl_mono_ms() >= deadline_ms)
			break;
		timed_wait(&zk->z_cond, &zk->z_lock, deadline_ms);
	}
	int state = zk->z_state;
	pthread_mutex_unlock(&zk->z_lock);

	if (state == ZOO_CONNECTED_STATE) {
		const rl_secret *secret = rl_secret_current();
		if (secret != NULL
		    && (rv = add_digest_auth(zk, secret, deadline_ms, errbuf, errlen)) != RL_OK)
			goto err_session;
		if (pthread_create(&zk->z_heartbeat, NULL, heartbeat_main, zk) != 0) {
			snprintf(errbuf, errlen,
			    "ZooKeeper at %s: cannot start the heartbeat thread", connect);
			rv = RL_ERR_NOMEM;
			goto err_session;
		}
		zk->z_heartbeat_started = true;
		*ret = zk;
		return RL_OK;
	}
	if (state == ZOO_EXPIRED_SESSION_STATE) {
		snprintf(
		    errbuf, errlen, "ZooKeeper at %s: the server expired the new session", connect);
		rv = RL_ERR_CLOSED;
	} else if (state == ZOO_AUTH_FAILED_STATE) {
		snprintf(errbuf, errlen, "ZooKeeper at %s: authentication failed", connect);
		rv = RL_ERR_IO;
	} else {
		snprintf(errbuf, errlen, "ZooKeeper at %s: no server answered within %d ms",
		    connect, timeout_ms);
		rv = RL_ERR_TIMEDOUT;
	}
err_session:
	session_free(zk);
	return rv;
}

// create_parents creates every missing ancestor of path as an empty persistent
// znode (one that appears meanwhile is fine).
static int
create_parents(zhandle_t *zh, const struct ACL_vector *acl, const char *path, char **ret_failed)
{
	char *prefix = rl_strdup(path);
	int   rc = ZOK;
	for (char *slash = strchr(prefix + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		rc = zoo_create(zh, prefix, NULL, -1, acl, ZOO_PERSISTENT, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS) {
			*ret_failed = prefix;
			return rc;
		}
		*slash = '/';
		rc = ZOK;
	}
	rl_free(prefix);
	return rc;
}

// create_chroot makes the chroot of connect exist, through a session without it.
static rl_err
create_chroot(const char *connect, const char *chroot, int session_timeout_ms, int timeout_ms,
    int64_t deadline_ms, char *errbuf, size_t errlen)
{
	char  *hosts = rl_strndup(connect, (size_t)(chroot - connect));
	rl_zk *root;
	rl_err rv = session_open(
	    hosts, session_timeout_ms, timeout_ms, deadline_ms, &root, errbuf, errlen);
	if (rv != RL_OK)
		goto err_hosts;
	char *failed = NULL;
	int   rc = create_parents(root->z_handle, root->z_acl, chroot, &failed);
	if (rc == ZOK)
		rc = zoo_create(
		    root->z_handle, chroot, NULL, -1, root->z_acl, ZOO_PERSISTENT, NULL, 0);
	if (rc != ZOK && rc != ZNODEEXISTS) {
		rv = op_error(
		    root, "create chroot", failed != NULL ? failed : chroot, rc, errbuf, errlen);
		rl_free(failed);
		goto err_root;
	}
	rv = RL_OK;
err_root:
	session_free(root);
err_hosts:
	rl_free(hosts);
	return rv;
}

rl_err
rl_zk_connect(const char *connect, int session_timeout_ms, int timeout_ms, rl_zk **ret,
    char *errbuf, size_t errlen)
{
	const char *chroot;
	rl_err      rv = check_connect(connect, &chroot, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (session_timeout_ms <= 0 || timeout_ms < 0) {
		snprintf(errbuf, errlen,
		    "ZooKeeper at %s: session timeout %d ms and connect timeout %d ms "
		    "must be positive",
		    connect, session_timeout_ms, timeout_ms);
		return RL_ERR_INVAL;
	}
	int64_t deadline_ms = rl_mono_ms() + timeout_ms;
	rl_zk  *zk;
	rv = session_open(
	    connect, session_timeout_ms, timeout_ms, deadline_ms, &zk, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	zk->z_chroot = chroot != NULL;
	if (chroot != NULL) {
		// Paths are relative to the chroot from now on: "/" is the chroot itself.
		struct Stat stat;
		int         rc = zoo_exists(zk->z_handle, "/", 0, &stat);
		if (rc == ZNONODE)
			rv = create_chroot(connect, chroot, session_timeout_ms, timeout_ms,
			    deadline_ms, errbuf, errlen);
		else if (rc != ZOK)
			rv = op_error(zk, "check chroot", "/", rc, errbuf, errlen);
		if (rv != RL_OK)
			goto err_zk;
	}
	*ret = zk;
	return RL_OK;
err_zk:
	session_free(zk);
	return rv;
}

void
rl_zk_close(rl_zk *zk)
{
	if (zk == NULL)
		return;
	session_free(zk);
}

bool
rl_zk_expired(rl_zk *zk)
{
	return atomic_load(&zk->z_expired);
}

// ---- znodes ----

rl_err
rl_zk_set(rl_zk *zk, const char *path, const void *data, size_t len, char *errbuf, size_t errlen)
{
	if (len > INT_MAX) {
		snprintf(errbuf, errlen,
		    "ZooKeeper set %s at %s: %zu bytes is more than a znode holds", path,
		    zk->z_connect, len);
		return RL_ERR_INVAL;
	}
	const char *value = data != NULL ? data : "";
	int         rc;
	// Set, else create; a node created or deleted by someone else meanwhile
	// sends us round again.
	for (int attempt = 0; attempt < 5; attempt++) {
		rc = zoo_set(zk->z_handle, path, value, (int)len, -1);
		if (rc != ZNONODE)
			break;
		rc = zoo_create(
		    zk->z_handle, path, value, (int)len, zk->z_acl, ZOO_PERSISTENT, NULL, 0);
		if (rc == ZNONODE) {
			char *failed = NULL;
			rc = create_parents(zk->z_handle, zk->z_acl, path, &failed);
			if (rc != ZOK) {
				rl_err rv = op_error(zk, "create", failed, rc, errbuf, errlen);
				rl_free(failed);
				return rv;
			}
			rc = zoo_create(zk->z_handle, path, value, (int)len, zk->z_acl,
			    ZOO_PERSISTENT, NULL, 0);
		}
		if (rc != ZNODEEXISTS && rc != ZNONODE)
			break;
	}
	if (rc == ZOK)
		return RL_OK;
	rl_err rv = op_error(zk, "set", path, rc, errbuf, errlen);
	// The server drops a connection whose request exceeds its jute.maxbuffer
	// (1 MB by default): say so rather than leave a bare connection loss.
	if (rc == ZCONNECTIONLOSS && len >= 1000 * 1000) {
		size_t used = strlen(errbuf);
		if (used < errlen)
			snprintf(errbuf + used, errlen - used,
			    "; the value has %zu bytes and a server's default jute.maxbuffer is 1 "
			    "MB",
			    len);
	}
	return rv;
}

rl_err
rl_zk_get(rl_zk *zk, const char *path, char **ret, size_t *ret_len, char *errbuf, size_t errlen)
{
	return rl_zk_get_stat(zk, path, NULL, 0, ret, ret_len, NULL, errbuf, errlen);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

rl_err
rl_zk_children(
    rl_zk *zk, const char *path, char ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	return rl_zk_children_watch(zk, path, NULL, 0, ret, ret_count, errbuf, errlen);
}

// Children come sorted by name (the server's order is arbitrary).
rl_err
rl_zk_children_watch(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag, char ***ret,
    size_t *ret_count, char *errbuf, size_t errlen)
{
	struct watch        *w = watch != NULL ? watch_new(zk, watch, tag) : NULL;
	struct String_vector kids = { 0, NULL };
	int rc = zoo_wget_children(zk->z_handle, path, w != NULL ? node_watcher : NULL, w, &kids);
	if (rc != ZOK) {
		watch_drop(w);
		return op_error(zk, "list children of", path, rc, errbuf, errlen);
	}
	size_t count = kids.count > 0 ? (size_t)kids.count : 0;
	char **names = rl_calloc(count + 1, sizeof(char *));
	for (size_t i = 0; i < count; i++)
		names[i] = rl_strdup(kids.data[i]);
	deallocate_String_vector(&kids);
	qsort(names, count, sizeof(char *), compare_names);
	*ret = names;
	if (ret_count != NULL)
		*ret_count = count;
	return RL_OK;
}

void
rl_zk_free_names(char **names)
{
	if (names == NULL)
		return;
	for (char **n = names; *n != NULL; n++)
		rl_free(*n);
	rl_free(names);
}

// delete_tree removes path's subtree, children first, then path itself unless
// it is the root ("/", the chroot when there is one, stays).
static rl_err
delete_tree(rl_zk *zk, const char *path, char *errbuf, size_t errlen)
{
	bool root = strcmp(path, "/") == 0;
	// A child created while we delete makes the delete fail: list again.
	for (int attempt = 0; attempt < 5; attempt++) {
		struct String_vector kids = { 0, NULL };
		int                  rc = zoo_get_children(zk->z_handle, path, 0, &kids);
		if (rc == ZNONODE)
			return RL_OK;
		if (rc != ZOK)
			return op_error(zk, "list children of", path, rc, errbuf, errlen);
		for (int i = 0; i < kids.count; i++) {
			// The server's own /zookeeper cannot be deleted.
			if (root && !zk->z_chroot && strcmp(kids.data[i], "zookeeper") == 0)
				continue;
			size_t size = strlen(path) + strlen(kids.data[i]) + 2;
			char  *child = rl_malloc(size);
			snprintf(child, size, "%s/%s", root ? "" : path, kids.data[i]);
			rl_err rv = delete_tree(zk, child, errbuf, errlen);
			rl_free(child);
			if (rv != RL_OK) {
				deallocate_String_vector(&kids);
				return rv;
			}
		}
		deallocate_String_vector(&kids);
		if (root)
			return RL_OK;
		rc = zoo_delete(zk->z_handle, path, -1);
		if (rc == ZOK || rc == ZNONODE)
			return RL_OK;
		if (rc != ZNOTEMPTY)
			return op_error(zk, "delete", path, rc, errbuf, errlen);
	}
	return op_error(zk, "delete", path, ZNOTEMPTY, errbuf, errlen);
}

// Deleting "/" recursively empties the namespace but keeps its root.
rl_err
rl_zk_delete(rl_zk *zk, const char *path, bool recursive, char *errbuf, size_t errlen)
{
	if (recursive)
		return delete_tree(zk, path, errbuf, errlen);
	int rc = zoo_delete(zk->z_handle, path, -1);
	if (rc == ZOK || rc == ZNONODE)
		return RL_OK;
	return op_error(zk, "delete", path, rc, errbuf, errlen);
}

// ---- session state ----

rl_zk_state
rl_zk_session_state(rl_zk *zk)
{
	return (rl_zk_state)atomic_load(&zk->z_public_state);
}

int64_t
rl_zk_last_heard_ms(rl_zk *zk)
{
	return (int64_t)atomic_load(&zk->z_last_heard_ms);
}

bool
rl_zk_lease_holds(rl_zk *zk, int lease_ms, int64_t now_ms)
{
	return rl_zk_session_state(zk) == RL_ZK_CONNECTED
	    && now_ms < rl_zk_last_heard_ms(zk) + lease_ms;
}

int
rl_zk_session_timeout_ms(rl_zk *zk)
{
	return zoo_recv_timeout(zk->z_handle);
}

int64_t
rl_zk_session_id(rl_zk *zk)
{
	const clientid_t *id = zoo_client_id(zk->z_handle);
	return id != NULL ? id->client_id : 0;
}

// ---- versions ----

static void
stat_from(const struct Stat *s, rl_zk_stat *out)
{
	*out = (rl_zk_stat) {
		.version = s->version,
		.cversion = s->cversion,
		.czxid = s->czxid,
		.mzxid = s->mzxid,
		.ctime_ms = s->ctime,
		.mtime_ms = s->mtime,
		.ephemeral_owner = s->ephemeralOwner,
		.data_len = s->dataLength,
		.num_children = s->numChildren,
	};
}

static int
create_mode(int flags)
{
	bool ephemeral = (flags & RL_ZK_EPHEMERAL) != 0;
	if ((flags & RL_ZK_SEQUENTIAL) != 0)
		return ephemeral ? ZOO_EPHEMERAL_SEQUENTIAL : ZOO_PERSISTENT_SEQUENTIAL;
	return ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT;
}

static rl_err
too_big(const rl_zk *zk, const char *op, const char *path, size_t len, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "ZooKeeper %s %s at %s: %zu bytes is more than a znode holds", op,
	    path, zk->z_connect, len);
	return RL_ERR_INVAL;
}

rl_err
rl_zk_create(rl_zk *zk, const char *path, const void *data, size_t len, int flags, char **ret_path,
    char *errbuf, size_t errlen)
{
	if (len > INT_MAX)
		return too_big(zk, "create", path, len, errbuf, errlen);
	const char *value = data != NULL ? data : "";
	size_t      cap = strlen(path) + 16; // room for the sequence number
	char       *created = rl_malloc(cap);
	int         rc;
	// A parent deleted by someone else between the two creates sends us round
	// again.
	for (int attempt = 0; attempt < 5; attempt++) {
		rc = zoo_create(zk->z_handle, path, value, (int)len, zk->z_acl, create_mode(flags),
		    created, (int)cap);
		if (rc != ZNONODE)
			break;
		char *failed = NULL;
		rc = create_parents(zk->z_handle, zk->z_acl, path, &failed);
		if (rc != ZOK) {
			rl_err rv = op_error(zk, "create", failed, rc, errbuf, errlen);
			rl_free(failed);
			rl_free(created);
			return rv;
		}
		rc = ZNONODE;
	}
	if (rc != ZOK) {
		rl_free(created);
		return op_error(zk, "create", path, rc, errbuf, errlen);
	}
	if (ret_path != NULL)
		*ret_path = created;
	else
		rl_free(created);
	return RL_OK;
}

rl_err
rl_zk_set_version(rl_zk *zk, const char *path, const void *data, size_t len, int32_t version,
    rl_zk_stat *ret_stat, char *errbuf, size_t errlen)
{
	if (len > INT_MAX)
		return too_big(zk, "set", path, len, errbuf, errlen);
	struct Stat stat;
	int rc = zoo_set2(zk->z_handle, path, data != NULL ? data : "", (int)len, version, &stat);
	if (rc == ZBADVERSION) {
		rl_err rv = op_error(zk, "set", path, rc, errbuf, errlen);
		size_t used = strlen(errbuf);
		if (used < errlen)
			snprintf(errbuf + used, errlen - used, "; expected version %d", version);
		return rv;
	}
	if (rc != ZOK)
		return op_error(zk, "set", path, rc, errbuf, errlen);
	if (ret_stat != NULL)
		stat_from(&stat, ret_stat);
	return RL_OK;
}

rl_err
rl_zk_delete_version(rl_zk *zk, const char *path, int32_t version, char *errbuf, size_t errlen)
{
	if (atomic_load(&zk->z_expired)) // see rl_zk_multi
		return op_error(zk, "delete", path, ZINVALIDSTATE, errbuf, errlen);
	int rc = zoo_delete(zk->z_handle, path, version);
	if (rc == ZBADVERSION) {
		rl_err rv = op_error(zk, "delete", path, rc, errbuf, errlen);
		size_t used = strlen(errbuf);
		if (used < errlen)
			snprintf(errbuf + used, errlen - used, "; expected version %d", version);
		return rv;
	}
	if (rc != ZOK)
		return op_error(zk, "delete", path, rc, errbuf, errlen);
	return RL_OK;
}

// ---- queues and watches ----

rl_zk_queue *
rl_zk_queue_create(rl_zk *zk)
{
	rl_zk_queue *q = RL_NEW(rl_zk_queue);
	q->q_zk = zk;
	q->q_tail = &q->q_head;
	pthread_mutex_init(&q->q_lock, NULL);
	cond_init_monotonic(&q->q_cond);
	pthread_mutex_lock(&zk->z_watch_lock);
	q->q_next = zk->z_queues;
	zk->z_queues = q;
	pthread_mutex_unlock(&zk->z_watch_lock);
	return q;
}

void
rl_zk_queue_destroy(rl_zk_queue *queue)
{
	if (queue == NULL)
		return;
	rl_zk *zk = queue->q_zk;
	if (zk != NULL) {
		pthread_mutex_lock(&zk->z_watch_lock);
		for (rl_zk_queue **p = &zk->z_queues; *p != NULL; p = &(*p)->q_next) {
			if (*p == queue) {
				*p = queue->q_next;
				break;
			}
		}
		for (struct watch *w = zk->z_watches; w != NULL; w = w->w_next)
			if (w->w_queue == queue)
				w->w_queue = NULL;
		pthread_mutex_unlock(&zk->z_watch_lock);
	}
	for (struct queued *q = queue->q_head, *next; q != NULL; q = next) {
		next = q->q_next;
		rl_zk_event_fini(&q->q_event);
		rl_free(q);
	}
	pthread_cond_destroy(&queue->q_cond);
	pthread_mutex_destroy(&queue->q_lock);
	rl_free(queue);
}

bool
rl_zk_queue_wait(rl_zk_queue *queue, int timeout_ms, rl_zk_event *ret)
{
	int64_t deadline_ms = rl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&queue->q_lock);
	while (queue->q_head == NULL && rl_mono_ms() < deadline_ms)
		timed_wait(&queue->q_cond, &queue->q_lock, deadline_ms);
	struct queued *q = queue->q_head;
	if (q != NULL) {
		queue->q_head = q->q_next;
		if (queue->q_head == NULL)
			queue->q_tail = &queue->q_head;
	}
	pthread_mutex_unlock(&queue->q_lock);
	if (q == NULL)
		return false;
	*ret = q->q_event;
	rl_free(q);
	return true;
}

void
rl_zk_event_fini(rl_zk_event *event)
{
	if (event == NULL)
		return;
	rl_free(event->path);
	event->path = NULL;
}

size_t
rl_zk_watch_count(rl_zk *zk)
{
	pthread_mutex_lock(&zk->z_watch_lock);
	size_t n = zk->z_watch_count;
	pthread_mutex_unlock(&zk->z_watch_lock);
	return n;
}

// watch_new records a watch before the read that sets it (its event may come
// before the read returns).
static struct watch *
watch_new(rl_zk *zk, rl_zk_queue *queue, uint64_t tag)
{
	struct watch *w = RL_NEW(struct watch);
	w->w_zk = zk;
	w->w_queue = queue;
	w->w_tag = tag;
	pthread_mutex_lock(&zk->z_watch_lock);
	w->w_next = zk->z_watches;
	if (w->w_next != NULL)
		w->w_next->w_prev = w;
	zk->z_watches = w;
	zk->z_watch_count++;
	pthread_mutex_unlock(&zk->z_watch_lock);
	return w;
}

// watch_unlink removes w from its handle's list. @locks z_watch_lock
static void
watch_unlink(struct watch *w)
{
	rl_zk *zk = w->w_zk;
	if (w->w_prev != NULL)
		w->w_prev->w_next = w->w_next;
	else
		zk->z_watches = w->w_next;
	if (w->w_next != NULL)
		w->w_next->w_prev = w->w_prev;
	zk->z_watch_count--;
}

// watch_drop forgets a watch the client did not set (its read failed).
static void
watch_drop(struct watch *w)
{
	if (w == NULL)
		return;
	rl_zk *zk = w->w_zk;
	pthread_mutex_lock(&zk->z_watch_lock);
	watch_unlink(w);
	pthread_mutex_unlock(&zk->z_watch_lock);
	rl_free(w);
}

// node_watcher is every wrapper watch's watcher: a node event fires the watch
// once (the client forgets it); session events reach the queues through the
// session watcher instead. @locality client thread
static void
node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)state;
	if (type == ZOO_SESSION_EVENT)
		return;
	struct watch    *w = ctx;
	rl_zk           *zk = w->w_zk;
	rl_zk_event_type ev = type == ZOO_CREATED_EVENT ? RL_ZK_EV_CREATED
	    : type == ZOO_DELETED_EVENT                 ? RL_ZK_EV_DELETED
	    : type == ZOO_CHANGED_EVENT                 ? RL_ZK_EV_CHANGED
	    : type == ZOO_CHILD_EVENT                   ? RL_ZK_EV_CHILD
	                                                : 0;
	pthread_mutex_lock(&zk->z_watch_lock);
	watch_unlink(w);
	if (w->w_queue != NULL && ev != 0)
		post(w->w_queue, ev, w->w_tag, rl_zk_session_state(zk), path);
	pthread_mutex_unlock(&zk->z_watch_lock);
	rl_free(w);
}

rl_err
rl_zk_exists(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag, rl_zk_stat *ret_stat,
    char *errbuf, size_t errlen)
{
	struct watch *w = watch != NULL ? watch_new(zk, watch, tag) : NULL;
	struct Stat   stat;
	int rc = zoo_wexists(zk->z_handle, path, w != NULL ? node_watcher : NULL, w, &stat);
	// The client sets an exists watch on a node that is there or not.
	if (rc != ZOK && rc != ZNONODE)
		watch_drop(w);
	if (rc != ZOK)
		return op_error(zk, "exists", path, rc, errbuf, errlen);
	if (ret_stat != NULL)
		stat_from(&stat, ret_stat);
	return RL_OK;
}

rl_err
rl_zk_get_stat(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag, char **ret,
    size_t *ret_len, rl_zk_stat *ret_stat, char *errbuf, size_t errlen)
{
	// Most values are small; a bigger one is read again with the size the
	// first read reported (and again if it grew meanwhile). Every read passes
	// the same watch context, which the client sets once.
	struct watch *w = watch != NULL ? watch_new(zk, watch, tag) : NULL;
	bool          watch_set = false;
	int           cap = 4096;
	for (int attempt = 0; attempt < 8; attempt++) {
		char       *buf = rl_malloc((size_t)cap + 1);
		int         len = cap;
		struct Stat stat;
		int         rc = zoo_wget(
		            zk->z_handle, path, w != NULL ? node_watcher : NULL, w, buf, &len, &stat);
		if (rc != ZOK) {
			rl_free(buf);
			if (!watch_set)
				watch_drop(w);
			return op_error(zk, "get", path, rc, errbuf, errlen);
		}
		watch_set = true;
		if (stat.dataLength > cap) {
			rl_free(buf);
			cap = stat.dataLength;
			continue;
		}
		if (len < 0) // a node without data
			len = 0;
		buf[len] = '\0';
		*ret = buf;
		if (ret_len != NULL)
			*ret_len = (size_t)len;
		if (ret_stat != NULL)
			stat_from(&stat, ret_stat);
		return RL_OK;
	}
	snprintf(errbuf, errlen, "ZooKeeper get %s at %s: the value kept growing while read", path,
	    zk->z_connect);
	return RL_ERR_BUSY;
}

// ---- multi-ops ----

static const char *
op_name(rl_zk_op_kind kind)
{
	switch (kind) {
	case RL_ZK_OP_CHECK:
		return "check";
	case RL_ZK_OP_CREATE:
		return "create";
	case RL_ZK_OP_SET:
		return "set";
	case RL_ZK_OP_DELETE:
		return "delete";
	}
	return "?";
}

rl_err
rl_zk_multi(rl_zk *zk, rl_zk_op *ops, size_t count, size_t *ret_failed, char *errbuf, size_t errlen)
{
	if (count == 0)
		return RL_OK;
	// On a session known to have expired nothing can succeed, and the C
	// client's synchronous zoo_multi then has waited for ever (a resigning
	// driver's host thread hung in the cluster suite's zombie test).
	if (atomic_load(&zk->z_expired))
		return op_error(
		    zk, "multi-op starting with", ops[0].path, ZINVALIDSTATE, errbuf, errlen);
	if (count > INT_MAX / 2) {
		snprintf(errbuf, errlen, "ZooKeeper multi-op at %s: %zu operations", zk->z_connect,
		    count);
		return RL_ERR_INVAL;
	}
	zoo_op_t        *zops = rl_calloc(count, sizeof(*zops));
	zoo_op_result_t *results = rl_calloc(count, sizeof(*results));
	struct Stat     *stats = rl_calloc(count, sizeof(*stats));
	char           **created = rl_calloc(count, sizeof(*created));
	rl_err           rv = RL_OK;
	for (size_t i = 0; i < count; i++) {
		rl_zk_op   *op = &ops[i];
		const char *value = op->data != NULL ? op->data : "";
		if (op->len > INT_MAX) {
			rv = too_big(zk, op_name(op->kind), op->path, op->len, errbuf, errlen);
			if (ret_failed != NULL)
				*ret_failed = i;
			goto done;
		}
		switch (op->kind) {
		case RL_ZK_OP_CHECK:
			zoo_check_op_init(&zops[i], op->path, op->version);
			break;
		case RL_ZK_OP_CREATE: {
			size_t cap = strlen(op->path) + 16;
			created[i] = rl_malloc(cap);
			created[i][0] = '\0';
			zoo_create_op_init(&zops[i], op->path, value, (int)op->len, zk->z_acl,
			    create_mode(op->flags), created[i], (int)cap);
			break;
		}
		case RL_ZK_OP_SET:
			zoo_set_op_init(
			    &zops[i], op->path, value, (int)op->len, op->version, &stats[i]);
			break;
		case RL_ZK_OP_DELETE:
			zoo_delete_op_init(&zops[i], op->path, op->version);
			break;
		default:
			snprintf(errbuf, errlen,
			    "ZooKeeper multi-op at %s: operation %zu has kind %d", zk->z_connect, i,
			    (int)op->kind);
			if (ret_failed != NULL)
				*ret_failed = i;
			rv = RL_ERR_INVAL;
			goto done;
		}
	}

	int rc = zoo_multi(zk->z_handle, (int)count, zops, results);
	if (rc == ZOK) {
		for (size_t i = 0; i < count; i++) {
			if (ops[i].kind == RL_ZK_OP_CREATE) {
				ops[i].created = created[i];
				created[i] = NULL;
			} else if (ops[i].kind == RL_ZK_OP_SET) {
				ops[i].new_version = stats[i].version;
			}
		}
		goto done;
	}
	// The failed operation carries its error; those after it were not tried
	// (ZRUNTIMEINCONSISTENCY). A connection loss names no operation.
	size_t failed = count;
	for (size_t i = 0; i < count && failed == count; i++)
		if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY)
			failed = i;
	if (failed == count) {
		rv = op_error(zk, "multi-op starting with", ops[0].path, rc, errbuf, errlen);
	} else {
		char what[64];
		snprintf(what, sizeof(what), "multi-op %zu of %zu (%s)", failed + 1, count,
		    op_name(ops[failed].kind));
		rv = op_error(zk, what, ops[failed].path, results[failed].err, errbuf, errlen);
		size_t used = strlen(errbuf);
		if (results[failed].err == ZBADVERSION && used < errlen)
			snprintf(errbuf + used, errlen - used, "; expected version %d",
			    ops[failed].version);
	}
	if (ret_failed != NULL)
		*ret_failed = failed;
done:
	for (size_t i = 0; i < count; i++)
		rl_free(created[i]);
	rl_free(created);
	rl_free(stats);
	rl_free(results);
	rl_free(zops);
	return rv;
}

void
rl_zk_ops_fini(rl_zk_op *ops, size_t count)
{
	for (size_t i = 0; ops != NULL && i < count; i++) {
		rl_free(ops[i].created);
		ops[i].created = NULL;
	}
}

// Framing of one operation besides its path and data: the header, the
// lengths, the version, a create's ACL and flags.
#define OP_OVERHEAD 64

size_t
rl_zk_op_bytes(const rl_zk_op *op)
{
	return OP_OVERHEAD + strlen(op->path) + op->len;
}

size_t
rl_zk_ops_fit(const rl_zk_op *ops, size_t start, size_t count, size_t used)
{
	size_t end = start;
	while (end < count && end - start < RL_ZK_MULTI_OPS_MAX) {
		size_t b = rl_zk_op_bytes(&ops[end]);
		if (end > start && used + b > RL_ZK_MULTI_BUDGET)
			break;
		used += b;
		end++;
	}
	return end;
}
