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
	// > 0: rl_executor_destroy ends the process when it has not finished
	// within this long (a request stuck in a library call); 0: it waits.
	int stop_grace_ms;
} rl_executor_opts;

// The daemon's stop_grace_ms (docs/running.md): requests still running this
// long after its run loop returned on a stop signal are given up, and the
// process exits 1.
#define RL_EXECUTOR_STOP_GRACE_MS 5000

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
// once), then the socket, waiting for the requests in progress to finish
// (their replies are dropped). With stop_grace_ms > 0, if it has not
// returned within that, it logs each request still running ("still running at
// exit", what it is and for how long) and "shutdown stuck, exiting", and
// ends the process with _exit(1): for the daemon, at exit, where a worker
// stuck in a library call (librdkafka's send_offsets_to_transaction, whose
// timeout is not kept when the coordinator is gone) would keep it alive
// for ever. NULL is a no-op.
void rl_executor_destroy(rl_executor *ex);

#endif
