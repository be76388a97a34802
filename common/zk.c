// SPDX-License-Identifier: Apache-2.0
// ZooKeeper wrapper over the multi-threaded C client: sessions, znode reads and
// writes; Z* codes become rl_err here, with zerror()'s text kept in the message.
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
#include "common/time.h"

struct rl_zk {
	zhandle_t      *z_handle;
	char           *z_connect; // as the caller gave it, for messages
	bool            z_chroot; // the connect string names a chroot
	pthread_mutex_t z_lock;
	pthread_cond_t  z_cond; // signalled on every session event
	int             z_state; // last session state seen, under z_lock
	bool            z_was_connected;
	atomic_bool     z_expired;
};

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
		return RL_ERR_INVAL;
	default:
		return RL_ERR_IO;
	}
}

// op_error describes a failed operation: what, on which path, at which server,
// and the client's own text and code.
static rl_err
op_error(const rl_zk *zk, const char *op, const char *path, int rc, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "ZooKeeper %s %s at %s: %s (ZooKeeper error %d)%s", op, path,
	    zk->z_connect, zerror(rc), rc,
	    rc == ZINVALIDSTATE && atomic_load(&zk->z_expired) ? "; the session has expired" : "");
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
	if (state == ZOO_CONNECTED_STATE)
		zk->z_was_connected = true;
	if (state == ZOO_EXPIRED_SESSION_STATE)
		atomic_store(&zk->z_expired, true);
	pthread_cond_broadcast(&zk->z_cond);
	pthread_mutex_unlock(&zk->z_lock);

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
	if (zk->z_handle != NULL)
		zookeeper_close(zk->z_handle);
	pthread_cond_destroy(&zk->z_cond);
	pthread_mutex_destroy(&zk->z_lock);
	rl_free(zk->z_connect);
	rl_free(zk);
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
	zk->z_state = ZOO_NOTCONNECTED_STATE;
	atomic_init(&zk->z_expired, false);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&zk->z_cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&zk->z_lock, NULL);

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
		// rl_mono_ms is CLOCK_MONOTONIC, the condition's clock.
		struct timespec until = {
			.tv_sec = (time_t)(deadline_ms / 1000),
			.tv_nsec = (long)(deadline_ms % 1000 * 1000000),
		};
		pthread_cond_timedwait(&zk->z_cond, &zk->z_lock, &until);
	}
	int state = zk->z_state;
	pthread_mutex_unlock(&zk->z_lock);

	if (state == ZOO_CONNECTED_STATE) {
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
create_parents(zhandle_t *zh, const char *path, char **ret_failed)
{
	char *prefix = rl_strdup(path);
	int   rc = ZOK;
	for (char *slash = strchr(prefix + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		rc = zoo_create(
		    zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
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
	int   rc = create_parents(root->z_handle, chroot, &failed);
	if (rc == ZOK)
		rc = zoo_create(root->z_handle, chroot, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
		    ZOO_PERSISTENT, NULL, 0);
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
		rc = zoo_create(zk->z_handle, path, value, (int)len, &ZOO_OPEN_ACL_UNSAFE,
		    ZOO_PERSISTENT, NULL, 0);
		if (rc == ZNONODE) {
			char *failed = NULL;
			rc = create_parents(zk->z_handle, path, &failed);
			if (rc != ZOK) {
				rl_err rv = op_error(zk, "create", failed, rc, errbuf, errlen);
				rl_free(failed);
				return rv;
			}
			rc = zoo_create(zk->z_handle, path, value, (int)len, &ZOO_OPEN_ACL_UNSAFE,
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
	// Most values are small; a bigger one is read again with the size the
	// first read reported (and again if it grew meanwhile).
	int cap = 4096;
	for (int attempt = 0; attempt < 8; attempt++) {
		char       *buf = rl_malloc((size_t)cap + 1);
		int         len = cap;
		struct Stat stat;
		int         rc = zoo_get(zk->z_handle, path, 0, buf, &len, &stat);
		if (rc != ZOK) {
			rl_free(buf);
			return op_error(zk, "get", path, rc, errbuf, errlen);
		}
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
		return RL_OK;
	}
	snprintf(errbuf, errlen, "ZooKeeper get %s at %s: the value kept growing while read", path,
	    zk->z_connect);
	return RL_ERR_BUSY;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// Children come sorted by name (the server's order is arbitrary).
rl_err
rl_zk_children(
    rl_zk *zk, const char *path, char ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	struct String_vector kids = { 0, NULL };
	int                  rc = zoo_get_children(zk->z_handle, path, 0, &kids);
	if (rc != ZOK)
		return op_error(zk, "list children of", path, rc, errbuf, errlen);
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
