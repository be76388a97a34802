// SPDX-License-Identifier: Apache-2.0
// The executor daemon's core: serves task launches and shuffle fetches on one
// rep socket, registers and heartbeats with its driver, or announces itself in
// ZooKeeper for any driver to dial.
#ifndef RL_EXECUTOR_H
#define RL_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct rl_executor rl_executor;

typedef struct rl_executor_opts {
	const char *listen_url; // tcp://IP:PORT (port 0: any free port)
	const char *driver_url; // register and heartbeat here, or NULL
	// ZooKeeper connect string, or NULL: keep /rill/executors/<id> (ephemeral,
	// an ExecutorInfo) while running. Not with driver_url.
	const char *zk_connect;
	int         zk_session_timeout_ms; // 0: 10000
	int         zk_connect_timeout_ms; // 0: 10000; create fails after it
	const char *id; // NULL: host-pid
	int         cores; // concurrent tasks, >= 1
	const char *work_dir; // for spills and caches, may be NULL
	bool        exit_with_driver; // local mode: exit when the driver is gone
	int         heartbeat_ms;
} rl_executor_opts;

// rl_executor_create binds the listen URL and, with zk_connect, opens a
// ZooKeeper session (blocking up to zk_connect_timeout_ms; an unreachable
// server is RL_ERR_TIMEDOUT with the connect string in errbuf).
rl_err rl_executor_create(
    const rl_executor_opts *opts, rl_executor **ret, char *errbuf, size_t errlen);
// rl_executor_url is the URL the executor serves on (with the chosen port).
const char *rl_executor_url(const rl_executor *ex);
// rl_executor_run registers and heartbeats until rl_executor_stop is called
// (or, with exit_with_driver, the driver has been gone too long). Returns
// RL_OK on a requested stop, RL_ERR_CLOSED when the driver went away. With
// zk_connect it instead keeps its node: creates it, re-creates it when it
// is gone, and after a session expiry opens a new session and creates it again.
rl_err rl_executor_run(rl_executor *ex);
// rl_executor_stop asks run to return. @locality async-signal-safe
void rl_executor_stop(rl_executor *ex);
// rl_executor_destroy closes the ZooKeeper session first (the node goes at
// once), then the socket. NULL is a no-op.
void rl_executor_destroy(rl_executor *ex);

#endif
