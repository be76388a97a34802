// SPDX-License-Identifier: Apache-2.0
// Executors announced in ZooKeeper (rl_executor with zk_connect) and the
// pool's discovery of them, against a real server (fixtures/zk_hooks.c):
// found with their URL and cores, lost when their node goes, found again,
// never timed out for silence.
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster.pb-c.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"
#include "common/zk.h"
#include "driver/discovery.h"
#include "driver/executors.h"
#include "executor/executor.h"
#include "tests/fixtures/fixture.h"

#define WAIT_MS 10000

typedef struct exec_thread {
	rl_executor *ex;
	pthread_t    th;
} exec_thread;

typedef struct env {
	char          chroot[96];
	char          connect[256]; // the server with the test's chroot
	rl_zk        *zk; // the test's own session, in the chroot
	rl_pool      *pool;
	rl_discovery *discovery;
} env;

static void *
executor_main(void *arg)
{
	rl_executor_run(arg);
	return NULL;
}

static void
exec_start(const env *e, exec_thread *x, const char *id, int cores)
{
	char             why[512];
	rl_executor_opts opts = {
		.listen_url = "tcp://127.0.0.1:0",
		.zk_connect = e->connect,
		.zk_session_timeout_ms = 5000,
		.id = id,
		.cores = cores,
	};
	cr_assert_eq(rl_executor_create(&opts, &x->ex, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(pthread_create(&x->th, NULL, executor_main, x->ex), 0);
}

static void
exec_stop(exec_thread *x)
{
	rl_executor_stop(x->ex);
	pthread_join(x->th, NULL);
	rl_executor_destroy(x->ex);
	x->ex = NULL;
}

// env_start makes a chroot for the test and a pool (heartbeat timeout
// timeout_ms); with discover, the pool's discovery too.
static void
env_start(env *e, const char *tag, int64_t timeout_ms, bool discover)
{
	char why[512];
	rl_log_init();
	snprintf(e->chroot, sizeof(e->chroot), "/discovery-%s-%ld", tag, (long)getpid());
	snprintf(e->connect, sizeof(e->connect), "%s%s", rt_zk(), e->chroot);
	cr_assert_eq(
	    rl_zk_connect(e->connect, 5000, WAIT_MS, &e->zk, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_pool_create("tcp://127.0.0.1:0", timeout_ms, &e->pool, why, sizeof(why)),
	    RL_OK, "%s", why);
	if (discover)
		cr_assert_eq(rl_discovery_start(e->pool, e->connect, 5000, WAIT_MS, &e->discovery,
		                 why, sizeof(why)),
		    RL_OK, "%s", why);
}

static void
env_stop(env *e)
{
	char why[512];
	rl_discovery_stop(e->discovery);
	rl_pool_destroy(e->pool);
	rl_zk_close(e->zk);
	rl_zk *root;
	cr_assert_eq(
	    rl_zk_connect(rt_zk(), 5000, WAIT_MS, &root, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(rl_zk_delete(root, e->chroot, true, why, sizeof(why)), RL_OK, "%s", why);
	rl_zk_close(root);
}

// wait_alive waits for executor id to be in the pool and alive (or not).
static bool
wait_alive(rl_pool *pool, const char *id, bool alive)
{
	int64_t deadline = rl_mono_ms() + WAIT_MS;
	for (;;) {
		uint64_t seen = rl_pool_events(pool);
		int      index = rl_pool_find(pool, id);
		if ((index >= 0 && rl_pool_exec_alive(pool, index)) == alive)
			return true;
		if (rl_mono_ms() > deadline)
			return false;
		rl_pool_wait(pool, seen, 100);
	}
}

static void
expect_found(const env *e, const char *id, const exec_thread *x, int cores)
{
	cr_assert(wait_alive(e->pool, id, true), "%s not found alive in %s", id, e->connect);
	int  index = rl_pool_find(e->pool, id);
	char url[RL_POOL_URL_MAX] = "";
	cr_assert(rl_pool_exec_url(e->pool, index, url, sizeof(url)));
	cr_expect_str_eq(url, rl_executor_url(x->ex), "%s's URL", id);
	cr_expect_eq(rl_pool_exec_cores(e->pool, index), cores, "%s's cores", id);
}

static bool
node_exists(const env *e, const char *id)
{
	char path[256], why[512];
	snprintf(path, sizeof(path), RL_EXECUTORS_PATH "/%s", id);
	rl_err rv = rl_zk_exists(e->zk, path, NULL, 0, NULL, why, sizeof(why));
	cr_assert(rv == RL_OK || rv == RL_ERR_NOENT, "%s: %s", path, why);
	return rv == RL_OK;
}

Test(discovery, executors_appear_with_their_url_and_cores)
{
	env         e = { 0 };
	exec_thread a, b;
	env_start(&e, "appear", 60000, false);
	exec_start(&e, &a, "exec-a", 2); // before the discovery: found by its first listing
	int64_t deadline = rl_mono_ms() + WAIT_MS;
	while (!node_exists(&e, "exec-a") && rl_mono_ms() < deadline)
		rl_sleep_ms(20);
	char why[512];
	cr_assert_eq(
	    rl_discovery_start(e.pool, e.connect, 5000, WAIT_MS, &e.discovery, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_expect_geq(rl_pool_find(e.pool, "exec-a"), 0, "the first listing adds what is there");
	exec_start(&e, &b, "exec-b", 3); // after: found by the watch
	expect_found(&e, "exec-a", &a, 2);
	expect_found(&e, "exec-b", &b, 3);
	cr_expect_eq(rl_pool_alive(e.pool), 2);
	cr_expect_eq(rl_pool_size(e.pool), 2);

	// The node itself: an ExecutorInfo with what the executor is.
	char  *data;
	size_t len;
	cr_assert_eq(rl_zk_get(e.zk, RL_EXECUTORS_PATH "/exec-b", &data, &len, why, sizeof(why)),
	    RL_OK, "%s", why);
	Rill__ExecutorInfo *info = rill__executor_info__unpack(NULL, len, (uint8_t *)data);
	cr_assert_not_null(info);
	cr_expect_eq(info->version, 1);
	cr_expect_str_eq(info->id, "exec-b");
	cr_expect_str_eq(info->listen_url, rl_executor_url(b.ex));
	cr_expect_eq(info->cores, 3);
	cr_expect_str_eq(info->rill_version, RL_VERSION);
	cr_expect_eq(info->pid, (uint32_t)getpid());
	cr_expect_gt(strlen(info->host), 0);
	rill__executor_info__free_unpacked(info, NULL);
	rl_free(data);
	rl_zk_stat st;
	cr_assert_eq(
	    rl_zk_exists(e.zk, RL_EXECUTORS_PATH "/exec-b", NULL, 0, &st, why, sizeof(why)), RL_OK,
	    "%s", why);
	cr_expect_neq(st.ephemeral_owner, 0, "the node is ephemeral");

	exec_stop(&a);
	exec_stop(&b);
	env_stop(&e);
}

Test(discovery, stopped_executor_is_lost_and_new_or_restarted_ones_are_found)
{
	env         e = { 0 };
	exec_thread a, b, c;
	env_start(&e, "lost", 60000, true);
	exec_start(&e, &a, "exec-a", 2);
	exec_start(&e, &b, "exec-b", 2);
	expect_found(&e, "exec-a", &a, 2);
	expect_found(&e, "exec-b", &b, 2);
	int  a_index = rl_pool_find(e.pool, "exec-a");
	char old_url[RL_POOL_URL_MAX];
	snprintf(old_url, sizeof(old_url), "%s", rl_executor_url(a.ex));

	exec_stop(&a);
	cr_expect_not(node_exists(&e, "exec-a"), "a stopped executor's node is gone at once");
	cr_assert(wait_alive(e.pool, "exec-a", false), "exec-a still alive after it stopped");
	cr_expect_eq(rl_pool_alive(e.pool), 1);
	cr_expect_eq(rl_pool_url_state_of(e.pool, old_url), RL_POOL_URL_LOST);
	cr_expect(rl_pool_exec_alive(e.pool, rl_pool_find(e.pool, "exec-b")));
	// Its cores are not offered any more.
	for (int i = 0; i < 2; i++)
		cr_expect_neq(rl_pool_reserve(e.pool, a_index, -1), a_index);

	exec_start(&e, &c, "exec-c", 4);
	expect_found(&e, "exec-c", &c, 4);
	// The same id again, on another port: the same index, the new URL.
	exec_start(&e, &a, "exec-a", 1);
	expect_found(&e, "exec-a", &a, 1);
	cr_expect_eq(rl_pool_find(e.pool, "exec-a"), a_index);
	cr_expect_str_neq(rl_executor_url(a.ex), old_url);
	cr_expect_eq(rl_pool_alive(e.pool), 3);
	cr_expect_eq(rl_pool_size(e.pool), 3);

	exec_stop(&a);
	exec_stop(&b);
	exec_stop(&c);
	env_stop(&e);
}

Test(discovery, found_executors_are_not_lost_for_silence)
{
	env         e = { 0 };
	exec_thread a;
	env_start(&e, "silence", 100, true); // 100 ms without a heartbeat: lost, if registered
	exec_start(&e, &a, "exec-a", 2);
	expect_found(&e, "exec-a", &a, 2);
	rl_sleep_ms(500);
	rl_pool_check(e.pool);
	cr_expect(rl_pool_exec_alive(e.pool, rl_pool_find(e.pool, "exec-a")),
	    "an executor found in ZooKeeper sends no heartbeats and must not be lost for it");
	// And it is usable: a core, a call.
	int index = rl_pool_reserve(e.pool, -1, -1);
	cr_expect_eq(index, rl_pool_find(e.pool, "exec-a"));
	Rill__ShuffleFetch req = RILL__SHUFFLE_FETCH__INIT;
	req.job = "none";
	Rill__Envelope req_env = RILL__ENVELOPE__INIT;
	req_env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_FETCH;
	req_env.shuffle_fetch = &req;
	rl_msg *reply = NULL;
	char    why[512];
	cr_expect_eq(rl_pool_call(e.pool, index, &req_env, 5000, &reply, why, sizeof(why)), RL_OK,
	    "%s", why);
	if (reply != NULL)
		cr_expect_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_SHUFFLE_BLOCK);
	rl_msg_free(reply);
	rl_pool_release(e.pool, index);
	exec_stop(&a);
	env_stop(&e);
}

Test(discovery, executor_recreates_its_deleted_node)
{
	env         e = { 0 };
	exec_thread a;
	char        why[512];
	env_start(&e, "recreate", 60000, true);
	exec_start(&e, &a, "exec-a", 2);
	expect_found(&e, "exec-a", &a, 2);
	cr_assert_eq(rl_zk_delete(e.zk, RL_EXECUTORS_PATH "/exec-a", false, why, sizeof(why)),
	    RL_OK, "%s", why);
	int64_t deadline = rl_mono_ms() + WAIT_MS;
	while (!node_exists(&e, "exec-a") && rl_mono_ms() < deadline)
		rl_sleep_ms(50);
	cr_assert(node_exists(&e, "exec-a"), "the executor did not create its node again");
	expect_found(&e, "exec-a", &a, 2);
	exec_stop(&a);
	env_stop(&e);
}

Test(discovery, unreachable_zookeeper_is_named)
{
	rl_log_init();
	char             why[512] = "";
	rl_executor     *ex = NULL;
	rl_executor_opts opts = {
		.listen_url = "tcp://127.0.0.1:0",
		.zk_connect = "127.0.0.1:1",
		.zk_connect_timeout_ms = 1000,
		.cores = 1,
	};
	int64_t start = rl_mono_ms();
	cr_expect_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_ERR_TIMEDOUT, "%s", why);
	cr_expect_lt(rl_mono_ms() - start, 5000);
	cr_expect_not_null(strstr(why, "127.0.0.1:1"), "%s", why);
	cr_expect_null(ex);

	opts.driver_url = "tcp://127.0.0.1:2";
	cr_expect_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_ERR_USAGE, "%s", why);

	rl_pool      *pool;
	rl_discovery *d = NULL;
	cr_assert_eq(rl_pool_create("tcp://127.0.0.1:0", 1000, &pool, why, sizeof(why)), RL_OK);
	cr_expect_eq(rl_discovery_start(pool, "127.0.0.1:1", 5000, 1000, &d, why, sizeof(why)),
	    RL_ERR_TIMEDOUT, "%s", why);
	cr_expect_not_null(strstr(why, "127.0.0.1:1"), "%s", why);
	cr_expect_null(d);
	rl_pool_destroy(pool);
}
