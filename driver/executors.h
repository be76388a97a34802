// SPDX-License-Identifier: Apache-2.0
// The driver's view of its executors: registration, heartbeats, liveness and
// free cores. Also the lock and condition the scheduler waits on, so that
// "a task finished", "an executor joined" and "an executor was lost" are all
// one kind of wake-up.
#ifndef RL_EXECUTORS_H
#define RL_EXECUTORS_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rpc.h"

typedef struct rl_exec {
	int             e_index; // stable for the driver's lifetime
	char            e_id[128];
	char            e_url[256];
	int             e_cores;
	int             e_busy; // tasks in flight
	bool            e_alive;
	int64_t         e_last_seen; // monotonic ms of the last heartbeat
	uint64_t        e_rss_bytes;
	rl_rpc_client  *e_client;
	struct rl_pool *e_pool;
} rl_exec;

typedef struct rl_pool {
	pthread_mutex_t p_mu;
	pthread_cond_t  p_cond;
	rl_exec       **p_execs;
	int             p_nexecs;
	int64_t         p_timeout_ms; // heartbeat silence that means lost
	uint64_t        p_generation; // bumped on every join and loss
	rl_rpc_server  *p_server; // registrations and heartbeats
	rl_rpc_client **p_retired; // clients of executors that came back elsewhere
	int             p_nretired;
	bool            p_closing;
} rl_pool;

// rl_pool_create listens for executors on url (port 0: any free port).
rl_err rl_pool_create(
    const char *url, int64_t heartbeat_timeout_ms, rl_pool **ret, char *errbuf, size_t errlen);
void        rl_pool_destroy(rl_pool *pool);
const char *rl_pool_url(const rl_pool *pool);

// rl_pool_check marks executors silent for too long as lost. @locks p_mu held
void rl_pool_check(rl_pool *pool);
// rl_pool_alive counts live executors. @locks p_mu held
int rl_pool_alive(const rl_pool *pool);
// rl_pool_wait_for waits until n executors are alive, timeout_ms passes or
// *stop is set (checked every 100 ms; stop may be NULL).
bool rl_pool_wait_for(rl_pool *pool, int n, int64_t timeout_ms, volatile sig_atomic_t *stop);

#endif
