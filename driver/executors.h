// SPDX-License-Identifier: Apache-2.0
// The driver's view of its executors: registration, heartbeats, executors
// found in ZooKeeper (driver/discovery.c), liveness, free cores and calls to
// them. The pool owns its lock: other modules ask it
// through these functions, and wait for its events ("an executor joined",
// "one was lost", "a core was released") with rl_pool_wait.
#ifndef RL_EXECUTORS_H
#define RL_EXECUTORS_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rpc.h"
#include "common/sha256.h"

typedef struct rl_pool rl_pool;

// Buffer sizes that always hold an executor's URL or id (with the NUL).
#define RL_POOL_URL_MAX 256
#define RL_POOL_ID_MAX 128

// Every function below may be called from any thread and takes the pool's
// lock only inside itself; no callback runs under it. Executors are named by
// index, 0 .. rl_pool_size() - 1: an index stays valid (and names the same
// executor id) for the pool's lifetime, alive or not.

// rl_pool_create listens for executors on url (port 0: any free port).
rl_err rl_pool_create(
    const char *url, int64_t heartbeat_timeout_ms, rl_pool **ret, char *errbuf, size_t errlen);
// rl_pool_destroy ends every call in flight and closes every client; call it
// once no other thread uses the pool. NULL is a no-op.
void        rl_pool_destroy(rl_pool *pool);
const char *rl_pool_url(const rl_pool *pool);

// rl_pool_add_artifact serves data[0 .. len) (copied), whose sha256 is sha
// (lowercase hex, trusted: the caller hashed the bytes), to executors that
// ask the pool's URL for it (ArtifactFetch: the artifact of a job's user
// functions). Each add is undone by one rl_pool_release_artifact; the bytes
// go when the last is released and no reply is sending them.
void rl_pool_add_artifact(rl_pool *pool, const char *sha, const void *data, size_t len);
void rl_pool_release_artifact(rl_pool *pool, const char *sha);

// rl_pool_check marks registered executors silent for too long as lost
// (executors added with rl_pool_add_remote send no heartbeats: never these).
void rl_pool_check(rl_pool *pool);

// rl_pool_add_remote adds (or lists again) an executor that does not
// register: one found in ZooKeeper. The pool dials url; the executor is alive
// while it is listed and connected, and is lost when rl_pool_remove unlists
// it or its connection drops (and alive again when the connection comes back
// while it is still listed). The same id at another url is a restarted
// executor: the old address is forgotten. Errors: RL_ERR_INVAL for a bad
// url, id or cores (1 .. 1024), with errbuf.
rl_err rl_pool_add_remote(
    rl_pool *pool, const char *id, const char *url, int cores, char *errbuf, size_t errlen);
// An executor in this process that stands in for a real one (the simulated
// cluster of tests/bench/driver_sim.c): a call to it is answered by the
// executor's fn on the caller's thread, at once. The request is encoded as
// for the network and fn's reply (one frame appended to *reply with
// rl_frame_encode) decoded as a reply from the network is, so the driver's
// own work per call is what it is with real executors. fn returns RL_OK, or
// an error with why (a failed call). @locality the caller's thread
typedef rl_err (*rl_pool_local_fn)(
    void *arg, const Rill__Envelope *req, rl_buf *reply, char *why, size_t whylen);
// rl_pool_add_local adds such an executor, alive from now on; its URL is
// "local://ID". Errors: RL_ERR_INVAL for an id already known, empty or too
// long, or cores outside 1 .. 1024, with errbuf.
rl_err rl_pool_add_local(rl_pool *pool, const char *id, int cores, rl_pool_local_fn fn, void *arg,
    char *errbuf, size_t errlen);
// rl_pool_remove unlists executor id (added with rl_pool_add_remote) and
// marks it lost, saying why in the log; unknown or registered ids are left.
void rl_pool_remove(rl_pool *pool, const char *id, const char *why);
// rl_pool_find is the index of executor id, or -1.
int rl_pool_find(rl_pool *pool, const char *id);
// rl_pool_exec_cores is executor index's cores (0 if there is no such executor).
int rl_pool_exec_cores(rl_pool *pool, int index);
// rl_pool_size counts the executors ever registered, alive or not.
int rl_pool_size(rl_pool *pool);
// rl_pool_cores counts the cores (task slots) of live executors.
int rl_pool_cores(rl_pool *pool);
// rl_pool_alive counts live executors.
int rl_pool_alive(rl_pool *pool);
// rl_pool_exec_alive says whether executor index is alive (false if unknown).
bool rl_pool_exec_alive(rl_pool *pool, int index);
// rl_pool_exec_url copies executor index's URL into buf (len bytes, truncated
// to fit); false, and buf untouched, if there is no such executor.
bool rl_pool_exec_url(rl_pool *pool, int index, char *buf, size_t len);
// rl_pool_exec_id copies executor index's id, as rl_pool_exec_url does.
bool rl_pool_exec_id(rl_pool *pool, int index, char *buf, size_t len);

typedef enum rl_pool_url_state {
	RL_POOL_URL_UNKNOWN, // no executor ever registered there
	RL_POOL_URL_ALIVE, // an executor there is alive
	RL_POOL_URL_LOST, // executors were there; none is alive
} rl_pool_url_state;
rl_pool_url_state rl_pool_url_state_of(rl_pool *pool, const char *url);
// rl_pool_losses counts the losses of executors so far: a caller that saw
// the same count before saw every URL that rl_pool_url_state_of calls lost.
uint64_t rl_pool_losses(rl_pool *pool);
// rl_pool_lost_urls gives the URLs that rl_pool_url_state_of calls lost, as
// an array of *ret_count strings (rl_free the array; the strings are in it).
char **rl_pool_lost_urls(rl_pool *pool, size_t *ret_count);

// rl_pool_reserve takes a free core for a task and returns the executor's
// index, or -1 if no live executor has one. It prefers preferred (if >= 0,
// alive, with a free core and not excluded), else the executor with the most
// free cores other than excluded; excluded only if it is the one alive.
// Give the core back with rl_pool_release.
int rl_pool_reserve(rl_pool *pool, int preferred, int excluded);
// rl_pool_release gives back a core that rl_pool_reserve took: an event.
void rl_pool_release(rl_pool *pool, int index);

// rl_pool_call_async sends req to executor index and calls done exactly
// once, on an nng thread or (if the call cannot start) inline; with
// RL_ERR_CLOSED if the executor has no connection at all. See rl_rpc_call_async.
void rl_pool_call_async(
    rl_pool *pool, int index, Rill__Envelope *req, int timeout_ms, rl_rpc_done_cb done, void *arg);
// rl_pool_call is rl_rpc_call to executor index (blocking, without the lock).
rl_err rl_pool_call(rl_pool *pool, int index, Rill__Envelope *req, int timeout_ms, rl_msg **ret,
    char *errbuf, size_t errlen);
// rl_pool_cancel_calls ends every call in flight to every executor with
// RL_ERR_CANCELED (their done callbacks still run, on nng threads).
void rl_pool_cancel_calls(rl_pool *pool);

// rl_pool_events is the pool's event count: it grows on every join, loss,
// release and wake. rl_pool_wait waits up to timeout_ms for it to differ from
// seen and returns it. Read the count before looking at what an event
// changes, then wait with it: nothing that happens in between is missed.
uint64_t rl_pool_events(rl_pool *pool);
uint64_t rl_pool_wait(rl_pool *pool, uint64_t seen, int timeout_ms);
// rl_pool_wake is an event of the caller's own (a result it queued).
void rl_pool_wake(rl_pool *pool);
// rl_pool_wait_for waits until n executors are alive, timeout_ms passes or
// *stop is set (checked every 100 ms; stop may be NULL).
bool rl_pool_wait_for(rl_pool *pool, int n, int64_t timeout_ms, const atomic_int *stop);

#endif
