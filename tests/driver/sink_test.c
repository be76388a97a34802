// SPDX-License-Identifier: Apache-2.0
// The driver's sink commit against a live executor pool: finishing a batch's
// transactions while other executors register (run it under TSan or ASan).
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "common/log.h"
#include "common/rpc.h"
#include "driver/executors.h"
#include "driver/sink.h"

// A fake executor that answers nothing it understands: every SinkFinish
// comes back as an ErrorReply, so the commit takes its failure path.
static void
refuse_all(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	(void)arg;
	(void)req;
	(void)peer;
	(void)reply;
}

static void
register_exec(rl_rpc_client *cli, const char *id, const char *url)
{
	Rill__Register reg = RILL__REGISTER__INIT;
	reg.executor_id = (char *)id;
	reg.listen_url = (char *)url;
	reg.cores = 1;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_REGISTER;
	env.register_ = &reg;
	rl_msg *reply;
	char    why[256];
	cr_assert_eq(rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)), RL_OK,
	    "register %s: %s", id, why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_REGISTER_ACK);
	cr_assert(reply->m_env->register_ack->accepted, "register %s refused", id);
	rl_msg_free(reply);
}

typedef struct registrar {
	const char *r_pool_url;
	int         r_count;
	atomic_bool r_done;
} registrar;

// registrar_main registers r_count executors, one after the other: each one
// grows the pool's executor table.
static void *
registrar_main(void *arg)
{
	registrar     *r = arg;
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(r->r_pool_url, &cli, why, sizeof(why)), RL_OK, "%s", why);
	for (int i = 0; i < r->r_count; i++) {
		char id[32];
		snprintf(id, sizeof(id), "late-%d", i);
		// Nothing listens there; the pool's client keeps redialing.
		register_exec(cli, id, "tcp://127.0.0.1:1");
	}
	rl_rpc_client_destroy(cli);
	atomic_store(&r->r_done, true);
	return NULL;
}

Test(sink, finish_is_safe_while_executors_register)
{
	rl_log_set_level(RL_LOG_ERROR); // the failure path warns on every round
	char           why[256];
	rl_pool       *pool;
	rl_rpc_server *fake;
	rl_rpc_client *cli;
	cr_assert_eq(
	    rl_pool_create("tcp://127.0.0.1:0", 60000, &pool, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(
	    rl_rpc_server_create("tcp://127.0.0.1:0", 2, refuse_all, NULL, &fake, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(
	    rl_rpc_client_create(rl_pool_url(pool), &cli, why, sizeof(why)), RL_OK, "%s", why);
	register_exec(cli, "e0", rl_rpc_server_url(fake)); // executor index 0
	rl_rpc_client_destroy(cli);

	rl_job           job = { .j_name = "j" };
	Rill__TaskLaunch launch = RILL__TASK_LAUNCH__INIT;
	Rill__TaskResult result = RILL__TASK_RESULT__INIT;
	rl_sched_task    task = { .t_launch = &launch, .t_result = &result, .t_exec = 0 };
	registrar        r = { .r_pool_url = rl_pool_url(pool), .r_count = 300 };
	pthread_t        thread;
	int              rounds = 0;
	cr_assert_eq(pthread_create(&thread, NULL, registrar_main, &r), 0);
	while (!atomic_load(&r.r_done) || rounds == 0) {
		bool   failed = false;
		size_t n = rl_sink_finish(pool, &job, "kafka", 1, 1000, 0, &task, 1, true, &failed);
		cr_assert_eq(n, 1, "the fake executor answered no SinkFinish");
		cr_assert(failed);
		rounds++;
	}
	pthread_join(thread, NULL);
	cr_assert_gt(rounds, 1);
	rl_rpc_server_destroy(fake);
	rl_pool_destroy(pool);
}
