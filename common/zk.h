// SPDX-License-Identifier: Apache-2.0
// ZooKeeper access (the only module that includes zookeeper.h): a session, its
// state and lease clock, znode operations (synchronous, with timeouts), one-shot
// watches delivered on queues, and atomic multi-ops.
#ifndef RL_ZK_H
#define RL_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct rl_zk rl_zk;

// rl_zk_connect opens a session to connect ("host:port[,host:port…][/chroot]")
// and waits up to timeout_ms for it to be established. A chroot that does not
// exist is created. Errors: RL_ERR_INVAL for a malformed connect string,
// RL_ERR_TIMEDOUT when no server answered, with the connect string in errbuf.
rl_err rl_zk_connect(const char *connect, int session_timeout_ms, int timeout_ms, rl_zk **ret,
    char *errbuf, size_t errlen);
// rl_zk_close ends the session (its ephemeral nodes go at once) and frees zk;
// destroy zk's queues first. rl_zk_close(NULL) is a no-op.
void rl_zk_close(rl_zk *zk);

// rl_zk_expired tells whether the session has expired (a driver must stop
// acting as leader at once then). @locality any thread
bool rl_zk_expired(rl_zk *zk);

// rl_zk_set writes data to path, creating it and any missing parents as
// persistent znodes. @locality any thread
rl_err rl_zk_set(
    rl_zk *zk, const char *path, const void *data, size_t len, char *errbuf, size_t errlen);

// rl_zk_get reads path into a new buffer (NUL-terminated after len bytes;
// free with rl_free). A missing node is RL_ERR_NOENT.
rl_err rl_zk_get(
    rl_zk *zk, const char *path, char **ret, size_t *ret_len, char *errbuf, size_t errlen);

// rl_zk_children lists path's children (NULL-terminated array, free with
// rl_zk_free_names). A missing node is RL_ERR_NOENT.
rl_err rl_zk_children(
    rl_zk *zk, const char *path, char ***ret, size_t *ret_count, char *errbuf, size_t errlen);
void rl_zk_free_names(char **names);

// rl_zk_delete removes path (and, with recursive, everything below it). A
// missing node is success.
rl_err rl_zk_delete(rl_zk *zk, const char *path, bool recursive, char *errbuf, size_t errlen);

// ---- session state and the lease clock ----

typedef enum rl_zk_state {
	RL_ZK_CONNECTED, // a server serves the session
	RL_ZK_SUSPENDED, // no connection now; the session may still live on the servers
	RL_ZK_EXPIRED, // the servers ended the session (or refused it): the handle is dead
} rl_zk_state;

// rl_zk_session_state is the session's state as the client last saw it.
// @locality any thread
rl_zk_state rl_zk_session_state(rl_zk *zk);

// rl_zk_last_heard_ms is the rl_mono_ms time the latest request the server
// answered was sent (a heartbeat goes every tenth of the session timeout while
// connected). It is a lower bound on the last moment the server heard from this
// session, so the server cannot expire the session before last_heard + session
// timeout: a lease measured from it is safe. @locality any thread
int64_t rl_zk_last_heard_ms(rl_zk *zk);

// rl_zk_lease_holds tells whether a lease of lease_ms measured from the last
// answered request still holds at now_ms (rl_mono_ms): the session is
// connected and now_ms < last_heard + lease_ms. A leader acts only while it
// holds; lease_ms below the session timeout makes it end before the server
// could expire the session. @locality any thread
bool rl_zk_lease_holds(rl_zk *zk, int lease_ms, int64_t now_ms);

// rl_zk_session_timeout_ms is the timeout the server granted (it may differ
// from the one asked for). rl_zk_session_id is the session's id, the
// ephemeral_owner of the nodes it creates. @locality any thread
int     rl_zk_session_timeout_ms(rl_zk *zk);
int64_t rl_zk_session_id(rl_zk *zk);

// ---- nodes with versions ----

// The metadata of a znode (ZooKeeper's Stat). version counts the sets of its
// data since it was created (0 after the create).
typedef struct rl_zk_stat {
	int32_t version;
	int32_t cversion; // changes of its children
	int64_t czxid; // the transaction that created it
	int64_t mzxid; // the transaction that last modified it
	int64_t ctime_ms; // wall clock (the server's) of creation and last change
	int64_t mtime_ms;
	int64_t ephemeral_owner; // the owning session's id, 0 for a persistent node
	int32_t data_len;
	int32_t num_children;
} rl_zk_stat;

// Flags of rl_zk_create and RL_ZK_OP_CREATE.
enum {
	RL_ZK_EPHEMERAL = 1 << 0, // deleted when the creating session ends
	RL_ZK_SEQUENTIAL = 1 << 1, // the server appends a 10-digit, increasing number
};

// rl_zk_create creates path with data and flags; missing parents are created
// as empty persistent nodes. *ret_path (may be NULL; free with rl_free) is the
// path created, with the sequence number when RL_ZK_SEQUENTIAL. Errors:
// RL_ERR_EXISTS when path exists (not with RL_ZK_SEQUENTIAL), RL_ERR_INVAL
// for a malformed path or a parent that is ephemeral, RL_ERR_TIMEDOUT on a
// connection loss (the node may or may not have been created).
// @locality any thread
rl_err rl_zk_create(rl_zk *zk, const char *path, const void *data, size_t len, int flags,
    char **ret_path, char *errbuf, size_t errlen);

// A version mismatch (ZooKeeper's ZBADVERSION) is RL_ERR_STALE_EPOCH in every
// call below: a write conditioned on a version lost to a newer writer, which is
// how rill fences a deposed leader (the version of the epoch node is the epoch).

// rl_zk_set_version writes data to an existing path if its version is
// version (-1: any); *ret_stat (may be NULL) is the node's stat after the
// write, its version the new one. RL_ERR_NOENT when path does not exist.
rl_err rl_zk_set_version(rl_zk *zk, const char *path, const void *data, size_t len, int32_t version,
    rl_zk_stat *ret_stat, char *errbuf, size_t errlen);

// rl_zk_delete_version deletes path if its version is version (-1: any).
// RL_ERR_NOENT when it does not exist, RL_ERR_EXISTS when it has children.
rl_err rl_zk_delete_version(
    rl_zk *zk, const char *path, int32_t version, char *errbuf, size_t errlen);

// ---- watches and their queue ----

// An rl_zk_queue receives the events of the one-shot watches its owner set,
// and every session state change of its handle. The client's completion
// thread posts (under the queue's own lock only, never a lock of the owner);
// the owner drains it from its own thread.
typedef struct rl_zk_queue rl_zk_queue;

typedef enum rl_zk_event_type {
	RL_ZK_EV_CREATED = 1, // an exists watch: the node was created
	RL_ZK_EV_DELETED, // the node was deleted (any watch on it)
	RL_ZK_EV_CHANGED, // its data changed (exists or data watch)
	RL_ZK_EV_CHILD, // a child was created or deleted (children watch)
	RL_ZK_EV_SESSION, // the session changed state (state says to what)
} rl_zk_event_type;

typedef struct rl_zk_event {
	rl_zk_event_type type;
	uint64_t         tag; // the watch's tag (0 for RL_ZK_EV_SESSION)
	rl_zk_state      state; // the session's state when the event was posted
	char            *path; // the watched path (NULL for RL_ZK_EV_SESSION)
} rl_zk_event;

// rl_zk_queue_create makes a queue for zk's watch and session events.
// Destroy every queue of zk before rl_zk_close(zk); a watch whose queue was
// destroyed fires into nothing. @locality any thread
rl_zk_queue *rl_zk_queue_create(rl_zk *zk);
void         rl_zk_queue_destroy(rl_zk_queue *queue);

// rl_zk_queue_wait takes the oldest event, waiting up to timeout_ms (0: do not
// wait) for one; false when there was none. Free the event with
// rl_zk_event_fini. @locality the queue's owner (one thread at a time)
bool rl_zk_queue_wait(rl_zk_queue *queue, int timeout_ms, rl_zk_event *ret);
void rl_zk_event_fini(rl_zk_event *event);

// The reads below take an optional watch: with watch non-NULL, one event
// tagged tag is posted on watch at the next change of the node (or its
// children), once. A watch survives disconnections (the client sets it again
// on reconnect) but not the session's expiry: after RL_ZK_EV_SESSION with
// RL_ZK_EXPIRED no watch of the handle fires. A read that fails sets no watch,
// except rl_zk_exists of a missing node, which watches for its creation.

// rl_zk_exists tells whether path exists (RL_OK, *ret_stat written if not
// NULL) or not (RL_ERR_NOENT).
rl_err rl_zk_exists(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag,
    rl_zk_stat *ret_stat, char *errbuf, size_t errlen);

// rl_zk_get_stat is rl_zk_get with the node's stat (ret_len and ret_stat may
// be NULL) and an optional data watch.
rl_err rl_zk_get_stat(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag, char **ret,
    size_t *ret_len, rl_zk_stat *ret_stat, char *errbuf, size_t errlen);

// rl_zk_children_watch is rl_zk_children with an optional children watch.
rl_err rl_zk_children_watch(rl_zk *zk, const char *path, rl_zk_queue *watch, uint64_t tag,
    char ***ret, size_t *ret_count, char *errbuf, size_t errlen);

// rl_zk_watch_count is the number of watches set through zk that have not
// fired yet (for tests and metrics). @locality any thread
size_t rl_zk_watch_count(rl_zk *zk);

// ---- multi-ops ----

typedef enum rl_zk_op_kind {
	RL_ZK_OP_CHECK = 1, // path's version must be version (-1: path must exist)
	RL_ZK_OP_CREATE, // create path with data and flags (parents must exist)
	RL_ZK_OP_SET, // set path's data if its version is version (-1: any)
	RL_ZK_OP_DELETE, // delete path if its version is version (-1: any)
} rl_zk_op_kind;

// One operation of rl_zk_multi; build it with the rl_zk_op_* helpers. The
// caller owns path and data, which must live until rl_zk_multi returns.
typedef struct rl_zk_op {
	rl_zk_op_kind kind;
	const char   *path;
	const void   *data; // CREATE, SET
	size_t        len;
	int           flags; // CREATE: RL_ZK_EPHEMERAL, RL_ZK_SEQUENTIAL
	int32_t       version; // CHECK, SET, DELETE
	// Results, written by rl_zk_multi when every operation succeeded:
	char   *created; // CREATE: the path created (free with rl_zk_ops_fini)
	int32_t new_version; // SET: the node's version after the write
} rl_zk_op;

static inline rl_zk_op
rl_zk_op_check(const char *path, int32_t version)
{
	return (rl_zk_op) { .kind = RL_ZK_OP_CHECK, .path = path, .version = version };
}

static inline rl_zk_op
rl_zk_op_create(const char *path, const void *data, size_t len, int flags)
{
	return (rl_zk_op) {
		.kind = RL_ZK_OP_CREATE, .path = path, .data = data, .len = len, .flags = flags
	};
}

static inline rl_zk_op
rl_zk_op_set(const char *path, const void *data, size_t len, int32_t version)
{
	return (rl_zk_op) {
		.kind = RL_ZK_OP_SET, .path = path, .data = data, .len = len, .version = version
	};
}

static inline rl_zk_op
rl_zk_op_delete(const char *path, int32_t version)
{
	return (rl_zk_op) { .kind = RL_ZK_OP_DELETE, .path = path, .version = version };
}

// rl_zk_multi applies ops[0..count) atomically: all of them or none. On
// failure *ret_failed (may be NULL) is the index of the operation that failed
// and the error is that operation's: RL_ERR_STALE_EPOCH for a version that did
// not match (a check, set or delete), RL_ERR_NOENT, RL_ERR_EXISTS, ...;
// errbuf names the operation and its path. Free the results with
// rl_zk_ops_fini. @locality any thread
rl_err rl_zk_multi(
    rl_zk *zk, rl_zk_op *ops, size_t count, size_t *ret_failed, char *errbuf, size_t errlen);
void rl_zk_ops_fini(rl_zk_op *ops, size_t count);

// ZooKeeper refuses (by closing the connection) a request longer than its
// jute.maxbuffer, RL_ZK_REQUEST_MAX bytes by default. A multi-op whose
// operations take at most RL_ZK_MULTI_BUDGET bytes by rl_zk_op_bytes stays
// below it; rill puts at most RL_ZK_MULTI_OPS_MAX operations in one besides
// its leading checks (a longer write goes in several).
#define RL_ZK_REQUEST_MAX 0xfffff
#define RL_ZK_MULTI_BUDGET (RL_ZK_REQUEST_MAX - 4096)
#define RL_ZK_MULTI_OPS_MAX 1000

// rl_zk_op_bytes bounds the bytes op takes in a multi-op request: its path,
// its data and its framing (header, lengths, version, a create's ACL and
// flags).
size_t rl_zk_op_bytes(const rl_zk_op *op);

// rl_zk_ops_fit is where a multi-op that carries ops[start..count) after
// operations of `used` bytes must end: as many as fit RL_ZK_MULTI_BUDGET and
// RL_ZK_MULTI_OPS_MAX, and at least one (start < count).
size_t rl_zk_ops_fit(const rl_zk_op *ops, size_t start, size_t count, size_t used);

#endif
