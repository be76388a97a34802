// SPDX-License-Identifier: Apache-2.0
// The executor daemon's request handling, in process: task launches from
// leaders of different epochs arriving at once (run it under TSan).
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/rpc.h"
#include "executor/executor.h"

#define JOB                                                                                        \
	"name: epochs\n"                                                                           \
	"batch: 1s\n"                                                                              \
	"source:\n"                                                                                \
	"  kafka:\n"                                                                               \
	"    brokers: 127.0.0.1:1\n"                                                               \
	"    topics: [in]\n"                                                                       \
	"pipeline:\n"                                                                              \
	"  - map: lower\n"                                                                         \
	"sink:\n"                                                                                  \
	"  print: {}\n"

#define LAUNCHES 800

typedef struct leader {
	const char *l_url;
	bool        l_deposed; // sends epoch 1 every time; else epochs 2, 3, …
	int         l_refused; // launches refused as stale
	int         l_failed; // launches that got past the epoch check
	char        l_bad[512]; // the first unexpected answer ("" if none)
} leader;

// leader_main launches LAUNCHES tasks. They never reach Kafka: stage 1 of a
// one-stage job fails at once, after the executor has taken the epoch.
// Criterion's asserts belong to the test's thread: this one only counts.
static void *
leader_main(void *arg)
{
	leader        *l = arg;
	rl_rpc_client *cli;
	char           why[256];
	if (rl_rpc_client_create(l->l_url, &cli, why, sizeof(why)) != RL_OK) {
		snprintf(l->l_bad, sizeof(l->l_bad), "client: %s", why);
		return NULL;
	}
	for (int i = 0; i < LAUNCHES && l->l_bad[0] == '\0'; i++) {
		Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
		tl.epoch = l->l_deposed ? 1 : (uint64_t)i + 2;
		tl.job = "epochs";
		tl.job_spec.data = (uint8_t *)JOB;
		tl.job_spec.len = strlen(JOB);
		tl.spec_hash = rl_hash64(JOB, strlen(JOB));
		tl.batch_time_ms = 1000;
		tl.stage = 1;
		tl.num_stages = 2;
		Rill__Envelope env = RILL__ENVELOPE__INIT;
		env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
		env.task_launch = &tl;
		rl_msg *reply;
		if (rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)) != RL_OK) {
			snprintf(l->l_bad, sizeof(l->l_bad), "launch: %s", why);
			break;
		}
		const Rill__TaskResult *res
		    = reply->m_env->body_case == RILL__ENVELOPE__BODY_TASK_RESULT
		    ? reply->m_env->task_result
		    : NULL;
		char expect[64];
		snprintf(expect, sizeof(expect), "epoch %" PRIu64 " is older than", tl.epoch);
		if (res != NULL && res->status == RILL__TASK_RESULT__STATUS__REFUSED
		    && res->code == RL_ERR_STALE_EPOCH && strstr(res->error, expect) != NULL)
			l->l_refused++;
		else if (res != NULL && res->status == RILL__TASK_RESULT__STATUS__FAILED)
			l->l_failed++;
		else
			snprintf(l->l_bad, sizeof(l->l_bad), "unexpected answer: %s",
			    res != NULL && res->error != NULL ? res->error : "(none)");
		rl_msg_free(reply);
	}
	rl_rpc_client_destroy(cli);
	return NULL;
}

#define LEADERS 3 // of each kind

Test(executor, stale_epochs_are_refused_while_a_newer_leader_launches)
{
	rl_log_set_level(RL_LOG_ERROR); // every launch fails on purpose
	rl_executor_opts opts = { .listen_url = "tcp://127.0.0.1:0", .id = "x", .cores = 8 };
	rl_executor     *ex;
	char             why[256];
	cr_assert_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_OK, "%s", why);
	leader    leaders[2 * LEADERS];
	pthread_t threads[2 * LEADERS];
	for (int i = 0; i < 2 * LEADERS; i++) {
		leaders[i] = (leader) { .l_url = rl_executor_url(ex), .l_deposed = i % 2 == 1 };
		cr_assert_eq(pthread_create(&threads[i], NULL, leader_main, &leaders[i]), 0);
	}
	int refused = 0;
	for (int i = 0; i < 2 * LEADERS; i++) {
		pthread_join(threads[i], NULL);
		cr_assert_str_empty(leaders[i].l_bad);
		cr_assert_eq(leaders[i].l_refused + leaders[i].l_failed, LAUNCHES);
		if (leaders[i].l_deposed)
			refused += leaders[i].l_refused;
	}
	// Once a newer leader was seen, the deposed ones are refused.
	cr_assert_gt(refused, 0);
	rl_executor_destroy(ex);
}

// sink_finish asks the executor to commit partition 0 of batch 1000 for the
// leader of epoch, and returns the partition's answer.
static void
sink_finish(rl_rpc_client *cli, uint64_t epoch, bool *ret_ok, char *err, size_t errlen)
{
	uint32_t         parts[] = { 0 };
	Rill__SinkFinish f = RILL__SINK_FINISH__INIT;
	f.job = "epochs";
	f.batch_time_ms = 1000;
	f.partitions = parts;
	f.n_partitions = 1;
	f.commit = true;
	f.sink = "kafka";
	f.epoch = epoch;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_SINK_FINISH;
	env.sink_finish = &f;
	rl_msg *reply;
	char    why[256];
	cr_assert_eq(
	    rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_SINK_FINISHED);
	const Rill__SinkFinished *done = reply->m_env->sink_finished;
	cr_assert_eq(done->n_results, 1);
	*ret_ok = done->results[0]->ok;
	snprintf(err, errlen, "%s", done->results[0]->error != NULL ? done->results[0]->error : "");
	rl_msg_free(reply);
}

// A deposed leader's commit is refused at the executor: once a task of epoch
// 5 was seen, SinkFinish of epoch 4 names the staleness; epoch 5 gets past it
// (and is told no transaction is prepared here, which is true).
Test(executor, a_deposed_leaders_sink_commit_is_refused)
{
	rl_log_set_level(RL_LOG_ERROR);
	rl_executor_opts opts = { .listen_url = "tcp://127.0.0.1:0", .id = "x", .cores = 2 };
	rl_executor     *ex;
	rl_rpc_client   *cli;
	char             why[256];
	cr_assert_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_rpc_client_create(rl_executor_url(ex), &cli, why, sizeof(why)), RL_OK);
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	tl.epoch = 5;
	tl.job = "epochs";
	tl.job_spec.data = (uint8_t *)JOB;
	tl.job_spec.len = strlen(JOB);
	tl.spec_hash = rl_hash64(JOB, strlen(JOB));
	tl.batch_time_ms = 1000;
	tl.stage = 1;
	tl.num_stages = 2;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = &tl;
	rl_msg *reply;
	cr_assert_eq(rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)), RL_OK);
	rl_msg_free(reply);

	bool ok;
	char err[512];
	sink_finish(cli, 4, &ok, err, sizeof(err));
	cr_expect_not(ok);
	cr_expect_not_null(strstr(err, "epoch 4 is older than 5 (deposed leader)"), "%s", err);
	sink_finish(cli, 5, &ok, err, sizeof(err));
	cr_expect_not(ok);
	cr_expect_null(strstr(err, "deposed"), "%s", err);
	cr_expect_not_null(strstr(err, "no transaction of batch 1000 is prepared here"), "%s", err);
	rl_rpc_client_destroy(cli);
	rl_executor_destroy(ex);
}
