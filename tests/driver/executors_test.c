// SPDX-License-Identifier: Apache-2.0
// The executor pool: lookups by index while executors register (run it under
// TSan or ASan: a registration grows the pool's table), and core reservations.
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc.h"
#include "driver/executors.h"

#define LATE 300
#define NOWHERE "tcp://127.0.0.1:1" // nothing listens; the pool's client redials

// register_exec registers id at url; returns "" or why it failed (static).
static const char *
register_exec(rl_rpc_client *cli, const char *id, const char *url, uint32_t cores)
{
	static _Thread_local char why[256];
	Rill__Register            reg = RILL__REGISTER__INIT;
	reg.executor_id = (char *)id;
	reg.listen_url = (char *)url;
	reg.cores = cores;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_REGISTER;
	env.register_ = &reg;
	rl_msg *reply;
	if (rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)) != RL_OK)
		return why;
	bool ok = reply->m_env->body_case == RILL__ENVELOPE__BODY_REGISTER_ACK
	    && reply->m_env->register_ack->accepted;
	rl_msg_free(reply);
	snprintf(why, sizeof(why), "%s", ok ? "" : "refused");
	return why;
}

typedef struct registrar {
	const char *r_pool_url;
	atomic_bool r_done;
	char        r_error[300];
} registrar;

// registrar_main registers LATE executors, late-0 … late-299, one by one.
// Criterion's asserts belong to the test's thread: this one reports.
static void *
registrar_main(void *arg)
{
	registrar     *r = arg;
	rl_rpc_client *cli;
	char           why[256];
	if (rl_rpc_client_create(r->r_pool_url, &cli, why, sizeof(why)) != RL_OK) {
		snprintf(r->r_error, sizeof(r->r_error), "client: %s", why);
		atomic_store(&r->r_done, true);
		return NULL;
	}
	for (int i = 0; i < LATE && r->r_error[0] == '\0'; i++) {
		char id[32];
		snprintf(id, sizeof(id), "late-%d", i);
		const char *err = register_exec(cli, id, NOWHERE, 2);
		if (err[0] != '\0')
			snprintf(r->r_error, sizeof(r->r_error), "%s: %s", id, err);
	}
	rl_rpc_client_destroy(cli);
	atomic_store(&r->r_done, true);
	return NULL;
}

Test(executors, lookups_by_index_are_safe_while_executors_register)
{
	rl_log_set_level(RL_LOG_ERROR);
	char     why[256];
	rl_pool *pool;
	cr_assert_eq(
	    rl_pool_create("tcp://127.0.0.1:0", 60000, &pool, why, sizeof(why)), RL_OK, "%s", why);
	registrar r = { .r_pool_url = rl_pool_url(pool) };
	pthread_t thread;
	cr_assert_eq(pthread_create(&thread, NULL, registrar_main, &r), 0);
	int rounds = 0;
	while (!atomic_load(&r.r_done)) {
		int n = rl_pool_size(pool);
		for (int i = 0; i < n; i++) {
			char url[RL_POOL_URL_MAX], id[RL_POOL_ID_MAX], want[32];
			cr_assert(rl_pool_exec_url(pool, i, url, sizeof(url)));
			cr_assert_str_eq(url, NOWHERE);
			cr_assert(rl_pool_exec_id(pool, i, id, sizeof(id)));
			snprintf(want, sizeof(want), "late-%d", i);
			cr_assert_str_eq(id, want);
			cr_assert(rl_pool_exec_alive(pool, i));
		}
		// One may have registered since n was read, never fewer.
		int e = rl_pool_reserve(pool, n - 1, -1);
		cr_assert(e < rl_pool_size(pool) && (n == 0 ? e >= -1 : e >= 0), "n=%d e=%d", n, e);
		if (e >= 0)
			rl_pool_release(pool, e);
		rounds++;
	}
	pthread_join(thread, NULL);
	cr_assert_str_empty(r.r_error);
	cr_assert_gt(rounds, 1);
	cr_assert_eq(rl_pool_size(pool), LATE);
	cr_assert_eq(rl_pool_alive(pool), LATE);
	char url[RL_POOL_URL_MAX] = "untouched";
	cr_assert_not(rl_pool_exec_url(pool, LATE, url, sizeof(url)));
	cr_assert_not(rl_pool_exec_url(pool, -1, url, sizeof(url)));
	cr_assert_str_eq(url, "untouched");
	cr_assert_not(rl_pool_exec_alive(pool, LATE));
	cr_assert_eq(rl_pool_url_state_of(pool, NOWHERE), RL_POOL_URL_ALIVE);
	cr_assert_eq(rl_pool_url_state_of(pool, "tcp://127.0.0.1:2"), RL_POOL_URL_UNKNOWN);
	rl_pool_destroy(pool);
}

Test(executors, reserve_prefers_the_preferred_then_the_most_free_cores)
{
	rl_log_set_level(RL_LOG_ERROR);
	char           why[256];
	rl_pool       *pool;
	rl_rpc_client *cli;
	cr_assert_eq(
	    rl_pool_create("tcp://127.0.0.1:0", 60000, &pool, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(
	    rl_rpc_client_create(rl_pool_url(pool), &cli, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_pool_reserve(pool, -1, -1), -1, "no executor, no core");
	cr_assert_str_empty(register_exec(cli, "a", "tcp://127.0.0.1:1", 1)); // index 0
	cr_assert_str_empty(register_exec(cli, "b", "tcp://127.0.0.1:2", 3)); // index 1
	uint64_t seen = rl_pool_events(pool);
	cr_assert_eq(rl_pool_reserve(pool, 0, -1), 0, "the preferred one has a free core");
	cr_assert_eq(rl_pool_reserve(pool, 0, -1), 1, "a is full: the one with free cores");
	cr_assert_eq(rl_pool_reserve(pool, 1, 1), -1, "b is excluded and a is full");
	cr_assert_eq(rl_pool_reserve(pool, -1, -1), 1);
	cr_assert_eq(rl_pool_reserve(pool, -1, -1), 1);
	cr_assert_eq(rl_pool_reserve(pool, -1, -1), -1, "every core taken");
	cr_assert_eq(rl_pool_events(pool), seen, "reserving is no event");
	rl_pool_release(pool, 0);
	cr_assert_eq(rl_pool_wait(pool, seen, 10000), seen + 1, "a release is an event");
	cr_assert_eq(rl_pool_reserve(pool, 1, -1), 0, "b is full: a's core is free again");
	rl_rpc_client_destroy(cli);
	rl_pool_destroy(pool);
}

// An executor in this process that answers a heartbeat with an ack saying
// who asked, and anything else with an error.
static rl_err
stand_in(void *arg, const Rill__Envelope *req, rl_buf *reply, char *why, size_t whylen)
{
	int *calls = arg;
	(*calls)++;
	if (req->body_case != RILL__ENVELOPE__BODY_HEARTBEAT) {
		snprintf(why, whylen, "only heartbeats here");
		return RL_ERR_PROTO;
	}
	Rill__HeartbeatAck ack = RILL__HEARTBEAT_ACK__INIT;
	ack.known = strcmp(req->heartbeat->executor_id, "me") == 0;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT_ACK;
	env.heartbeat_ack = &ack;
	rl_frame_encode(&env, NULL, 0, reply);
	return RL_OK;
}

typedef struct answer {
	int     calls;
	rl_err  err;
	char    why[256];
	rl_msg *reply;
} answer;

static void
on_answer(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	answer *a = arg;
	a->calls++;
	a->err = err;
	snprintf(a->why, sizeof(a->why), "%s", why);
	a->reply = reply;
}

Test(executors, a_local_executor_answers_calls_at_once)
{
	rl_log_set_level(RL_LOG_ERROR);
	char     why[256];
	rl_pool *pool;
	int      calls = 0;
	cr_assert_eq(
	    rl_pool_create("tcp://127.0.0.1:0", 60000, &pool, why, sizeof(why)), RL_OK, "%s", why);
	uint64_t seen = rl_pool_events(pool);
	cr_assert_eq(rl_pool_add_local(pool, "sim-0", 3, stand_in, &calls, why, sizeof(why)), RL_OK,
	    "%s", why);
	cr_expect_gt(rl_pool_events(pool), seen, "a new executor is an event");
	cr_expect_eq(rl_pool_size(pool), 1);
	cr_expect_eq(rl_pool_alive(pool), 1);
	cr_expect_eq(rl_pool_cores(pool), 3);
	char url[RL_POOL_URL_MAX];
	cr_assert(rl_pool_exec_url(pool, 0, url, sizeof(url)));
	cr_expect_str_eq(url, "local://sim-0");
	cr_expect_eq(rl_pool_url_state_of(pool, "local://sim-0"), RL_POOL_URL_ALIVE);

	// A call: encoded, answered, decoded, done before the call returns.
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "me";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	answer a = { 0 };
	rl_pool_call_async(pool, 0, &env, 1000, on_answer, &a);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.err, RL_OK, "%s", a.why);
	cr_assert_eq(a.reply->m_env->body_case, RILL__ENVELOPE__BODY_HEARTBEAT_ACK);
	cr_expect(a.reply->m_env->heartbeat_ack->known);
	cr_expect_eq(a.reply->m_env->version, RL_PROTO_VERSION);
	rl_msg_free(a.reply);
	// Its failure is the call's.
	env.body_case = RILL__ENVELOPE__BODY_REGISTER;
	Rill__Register reg = RILL__REGISTER__INIT;
	env.register_ = &reg;
	a = (answer) { 0 };
	rl_pool_call_async(pool, 0, &env, 1000, on_answer, &a);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(a.err, RL_ERR_PROTO);
	cr_expect_str_eq(a.why, "only heartbeats here");
	cr_expect_null(a.reply);
	rl_msg *reply = NULL;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	cr_assert_eq(rl_pool_call(pool, 0, &env, 1000, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect(reply->m_env->heartbeat_ack->known);
	rl_msg_free(reply);
	cr_expect_eq(calls, 3);
	// Stand-ins never miss a heartbeat.
	rl_pool_check(pool);
	cr_expect_eq(rl_pool_alive(pool), 1);

	cr_expect_eq(
	    rl_pool_add_local(pool, "sim-0", 1, stand_in, &calls, why, sizeof(why)), RL_ERR_INVAL);
	cr_expect(strstr(why, "local executor 'sim-0': the pool knows that id already") != NULL,
	    "%s", why);
	cr_expect_eq(
	    rl_pool_add_local(pool, "sim-1", 0, stand_in, &calls, why, sizeof(why)), RL_ERR_INVAL);
	cr_expect_eq(
	    rl_pool_add_local(pool, "", 1, stand_in, &calls, why, sizeof(why)), RL_ERR_INVAL);
	cr_expect_eq(rl_pool_size(pool), 1);
	rl_pool_destroy(pool);
}

// With many executors a task without a preferred one still goes to one
// with the most free cores, and cores freed anywhere are found again.
Test(executors, reserve_finds_the_most_free_cores_among_many)
{
	rl_log_set_level(RL_LOG_ERROR);
	char     why[256];
	rl_pool *pool;
	int      calls = 0;
	cr_assert_eq(
	    rl_pool_create("tcp://127.0.0.1:0", 60000, &pool, why, sizeof(why)), RL_OK, "%s", why);
	// 100 executors of 2 cores, and number 57 with 5.
	for (int i = 0; i < 100; i++) {
		char id[32];
		snprintf(id, sizeof(id), "sim-%d", i);
		cr_assert_eq(rl_pool_add_local(
		                 pool, id, i == 57 ? 5 : 2, stand_in, &calls, why, sizeof(why)),
		    RL_OK, "%s", why);
	}
	cr_expect_eq(rl_pool_cores(pool), 99 * 2 + 5);
	// 57 until it has as many free as the others (2), then anyone.
	for (int k = 0; k < 3; k++)
		cr_expect_eq(rl_pool_reserve(pool, -1, -1), 57, "reservation %d", k);
	int count[100] = { 0 };
	for (int k = 0; k < 200; k++) {
		int e = rl_pool_reserve(pool, -1, -1);
		cr_assert(e >= 0 && e < 100, "reservation %d: %d", k, e);
		count[e]++;
	}
	for (int i = 0; i < 100; i++)
		cr_expect_eq(count[i], 2, "executor %d took %d of the 200", i, count[i]);
	cr_expect_eq(rl_pool_reserve(pool, -1, -1), -1, "every core taken");
	cr_expect_eq(rl_pool_reserve(pool, 3, -1), -1, "the preferred one too");
	rl_pool_release(pool, 42);
	cr_expect_eq(rl_pool_reserve(pool, 7, -1), 42, "the one core free");
	rl_pool_release(pool, 42);
	cr_expect_eq(rl_pool_reserve(pool, -1, 42), -1, "free only where the task failed");
	cr_expect_eq(rl_pool_reserve(pool, 42, -1), 42);
	rl_pool_destroy(pool);
}
