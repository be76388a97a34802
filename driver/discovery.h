// SPDX-License-Identifier: Apache-2.0
// Executor discovery: keeps the pool in step with the executors listed under
// /rill/executors in ZooKeeper (their ephemeral nodes), on a thread of its own.
#ifndef RL_DISCOVERY_H
#define RL_DISCOVERY_H

#include <stddef.h>

#include "common/error.h"
#include "driver/executors.h"

typedef struct rl_discovery rl_discovery;

// The parent of the executors' nodes (SPEC.md, "ZooKeeper layout").
#define RL_EXECUTORS_PATH "/rill/executors"

// rl_discovery_start opens a ZooKeeper session to connect (waiting up to
// connect_timeout_ms; RL_ERR_TIMEDOUT names the connect string), lists
// RL_EXECUTORS_PATH once (every executor found is in the pool when it
// returns, alive once its connection is up) and starts the thread that
// follows the listing: an executor whose node appears is added to pool
// (rl_pool_add_remote), one whose node goes is lost (rl_pool_remove). After a
// session expiry the thread opens a new session and lists again. The pool
// must outlive the discovery.
rl_err rl_discovery_start(rl_pool *pool, const char *connect, int session_timeout_ms,
    int connect_timeout_ms, rl_discovery **ret, char *errbuf, size_t errlen);
// rl_discovery_stop joins the thread and closes the session; the executors
// found stay in the pool as they are. NULL is a no-op.
void rl_discovery_stop(rl_discovery *d);

#endif
