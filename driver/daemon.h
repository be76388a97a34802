// SPDX-License-Identifier: Apache-2.0
// The cluster-mode driver daemon (rill-driver --zk): hosts every job
// submitted to ZooKeeper, leading those whose elections it wins.
#ifndef RL_DAEMON_H
#define RL_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

typedef struct rl_daemon rl_daemon;

typedef struct rl_daemon_opts {
	const char *zk_connect; // host:port[,host:port…][/chroot]
	const char *listen_url; // the executor pool's URL (port 0: any free port)
	const char *http; // stored in the election nodes, or NULL
	int         zk_session_timeout_ms; // 0: 10 s
	int         zk_connect_timeout_ms; // 0: 10 s
	int         lease_ms; // 0: 2/3 of the granted session timeout
	int         rejoin_backoff_ms; // after a run that failed; 0: 2 s
	int         min_executors; // a runner waits for this many; 0: 1
	FILE       *print_out; // the print sink's output (default stdout)
	// Stateful jobs keep their state snapshots in state_dir/<job>, a path
	// every driver and executor host shares; NULL: they are not run.
	const char *state_dir;
} rl_daemon_opts;

// rl_daemon_create opens a ZooKeeper session (waiting up to the connect
// timeout; RL_ERR_TIMEDOUT names the connect string), the executor pool on
// listen_url and the discovery of executors under /rill/executors. Nothing
// runs until rl_daemon_run.
rl_err rl_daemon_create(const rl_daemon_opts *opts, rl_daemon **ret, char *errbuf, size_t errlen);
// rl_daemon_url is the pool's URL (its port filled in).
const char *rl_daemon_url(const rl_daemon *d);

// rl_daemon_run hosts the jobs until rl_daemon_stop or rl_daemon_crash:
// watches /rill/jobs and each job's spec and desired state, joins the
// election of every job whose desired state is run, runs a leader's runner
// on a thread of its own, and follows elections, stops and upgrades
// (docs/architecture.md, "The driver daemon"). After rl_daemon_stop every
// runner stopped gracefully and every election was resigned when it returns
// RL_OK; an error is a daemon that cannot go on (a new session cannot be
// had before stop), with errbuf. @locality the caller's thread, held until
// it returns (the daemon's host thread)
rl_err rl_daemon_run(rl_daemon *d, char *errbuf, size_t errlen);
// rl_daemon_stop asks run to stop every runner gracefully (its batch in
// flight finishes and commits), resign every election and return.
// @locality async-signal-safe
void rl_daemon_stop(rl_daemon *d);
// rl_daemon_crash asks run to return as a killed process would: every
// runner stops at its next durable step as a deposed leader, leaving its
// batch for the next leader, and no election is resigned (the nodes go
// when rl_daemon_destroy closes the session). For tests. @locality any thread
void rl_daemon_crash(rl_daemon *d);
// rl_daemon_leading counts the jobs this daemon leads with a runner now.
// @locality any thread
int rl_daemon_leading(rl_daemon *d);
// rl_daemon_destroy closes the discovery, the pool and the session; call it
// after run returned (or was never called). NULL is a no-op.
void rl_daemon_destroy(rl_daemon *d);

#endif
