// SPDX-License-Identifier: Apache-2.0
// The executor daemon's request handling, in process: task launches from
// leaders of different epochs arriving at once (run it under TSan), fetches
// from a peer that went silent given up when the driver says it is lost, and
// a shutdown bounded when a request is stuck.
#include <criterion/criterion.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/time.h"
#include "executor/executor.h"
#include "tests/fixtures/fixture.h"

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

// ---- a peer gone silent (a cut host) ----

// A two-stage job: its stage 1 fetches the map outputs its launch names.
#define SHUFFLE_JOB                                                                                \
	"name: silent\n"                                                                           \
	"batch: 1s\n"                                                                              \
	"source:\n"                                                                                \
	"  kafka:\n"                                                                               \
	"    brokers: 127.0.0.1:1\n"                                                               \
	"    topics: [in]\n"                                                                       \
	"pipeline:\n"                                                                              \
	"  - flat_map: words\n"                                                                    \
	"  - map_values: one\n"                                                                    \
	"  - reduce_by_key: sum\n"                                                                 \
	"sink:\n"                                                                                  \
	"  print: {}\n"

// The black hole takes requests and answers none until released, as a peer
// whose host was cut off after the connection was made.
typedef struct black_hole {
	rl_rpc_server *bh_srv;
	atomic_int     bh_taken; // requests received
	atomic_bool    bh_released;
} black_hole;

static void
black_hole_handle(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	black_hole *bh = arg;
	(void)req, (void)peer, (void)reply; // released: "request not understood"
	atomic_fetch_add(&bh->bh_taken, 1);
	while (!atomic_load(&bh->bh_released))
		rl_sleep_ms(10);
}

static void
black_hole_start(black_hole *bh)
{
	char why[256];
	cr_assert_eq(rl_rpc_server_create("tcp://127.0.0.1:0", 4, black_hole_handle, bh,
	                 &bh->bh_srv, why, sizeof(why)),
	    RL_OK, "%s", why);
}

static void
black_hole_stop(black_hole *bh)
{
	atomic_store(&bh->bh_released, true);
	rl_rpc_server_destroy(bh->bh_srv);
}

// A launch in flight and its answer, on an nng thread.
typedef struct launch_call {
	char            *urls[1];
	uint32_t         counts[1];
	uint32_t         maps[1];
	Rill__TaskLaunch tl;
	atomic_bool      done;
	int64_t          done_ms;
	rl_err           err;
	rl_msg          *reply;
} launch_call;

static void
launch_done(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	launch_call *lc = arg;
	(void)why;
	lc->err = err;
	lc->reply = reply;
	lc->done_ms = rl_mono_ms();
	atomic_store(&lc->done, true);
}

// launch_reduce launches reduce partition 0 of batch 1000 of SHUFFLE_JOB,
// whose one input is map output 0 at from_url.
static void
launch_reduce(rl_rpc_client *cli, launch_call *lc, uint64_t epoch, const char *from_url)
{
	lc->urls[0] = (char *)(uintptr_t)from_url;
	lc->counts[0] = 1;
	lc->maps[0] = 0;
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	lc->tl = tl;
	lc->tl.epoch = epoch;
	lc->tl.job = "silent";
	lc->tl.job_spec.data = (uint8_t *)SHUFFLE_JOB;
	lc->tl.job_spec.len = strlen(SHUFFLE_JOB);
	lc->tl.spec_hash = rl_hash64(SHUFFLE_JOB, strlen(SHUFFLE_JOB));
	lc->tl.batch_time_ms = 1000;
	lc->tl.stage = 1;
	lc->tl.partition = 0;
	lc->tl.num_stages = 2;
	lc->tl.fetch_urls = lc->urls;
	lc->tl.n_fetch_urls = 1;
	lc->tl.fetch_counts = lc->counts;
	lc->tl.n_fetch_counts = 1;
	lc->tl.fetch_maps = lc->maps;
	lc->tl.n_fetch_maps = 1;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = &lc->tl;
	rl_rpc_call_async(cli, &env, 60000, launch_done, lc);
}

// tell_lost sends ExecutorsLost(url) as the leader of epoch would; returns
// the number of fetches given up, or -1 when refused (reason in why).
static int
tell_lost(rl_rpc_client *cli, uint64_t epoch, const char *url, char *why, size_t whylen)
{
	char               *urls[] = { (char *)(uintptr_t)url };
	Rill__ExecutorsLost l = RILL__EXECUTORS_LOST__INIT;
	l.job = "silent";
	l.epoch = epoch;
	l.listen_urls = urls;
	l.n_listen_urls = 1;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_EXECUTORS_LOST;
	env.executors_lost = &l;
	rl_msg *reply;
	cr_assert_eq(rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, whylen), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_EXECUTORS_LOST_ACK);
	const Rill__ExecutorsLostAck *ack = reply->m_env->executors_lost_ack;
	int                           n = ack->accepted ? (int)ack->fetches_failed : -1;
	snprintf(why, whylen, "%s", ack->reason != NULL ? ack->reason : "");
	rl_msg_free(reply);
	return n;
}

static bool
wait_until(atomic_int *counter, int at_least, int timeout_ms)
{
	for (int64_t t0 = rl_mono_ms(); rl_mono_ms() - t0 < timeout_ms; rl_sleep_ms(10))
		if (atomic_load(counter) >= at_least)
			return true;
	return false;
}

// expect_fetch_failed checks that the launch came back FETCH_FAILED for
// map output 0 at url, because the driver lost it.
static void
expect_fetch_failed(launch_call *lc, const char *url)
{
	cr_assert_eq(lc->err, RL_OK, "launch: %s", rl_strerror(lc->err));
	cr_assert_eq(lc->reply->m_env->body_case, RILL__ENVELOPE__BODY_TASK_RESULT);
	const Rill__TaskResult *res = lc->reply->m_env->task_result;
	cr_expect_eq(res->status, RILL__TASK_RESULT__STATUS__FETCH_FAILED, "status %d: %s",
	    (int)res->status, res->error);
	cr_expect_eq(res->failed_map_partition, 0);
	char want[256];
	snprintf(want, sizeof(want), "from %s: the driver lost that executor", url);
	cr_expect_not_null(strstr(res->error, want), "%s", res->error);
}

// A reducer on an in-process executor whose one input is at a black hole:
// its fetch is under way and gets no answer.
typedef struct silent_fetch {
	black_hole     bh;
	const char    *hole; // the black hole's URL
	rl_executor   *ex;
	rl_rpc_client *cli; // to the executor, as its leader of epoch 7
	launch_call    lc;
} silent_fetch;

static void
silent_fetch_start(silent_fetch *sf)
{
	rl_log_set_level(RL_LOG_ERROR);
	black_hole_start(&sf->bh);
	sf->hole = rl_rpc_server_url(sf->bh.bh_srv);
	rl_executor_opts opts = { .listen_url = "tcp://127.0.0.1:0", .id = "reducer", .cores = 2 };
	char             why[256];
	cr_assert_eq(rl_executor_create(&opts, &sf->ex, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(
	    rl_rpc_client_create(rl_executor_url(sf->ex), &sf->cli, why, sizeof(why)), RL_OK);
	launch_reduce(sf->cli, &sf->lc, 7, sf->hole);
	cr_assert(wait_until(&sf->bh.bh_taken, 1, 10000), "the fetch never reached the peer");
	rl_sleep_ms(300);
	cr_assert_not(atomic_load(&sf->lc.done), "the fetch ended with the peer silent");
}

// A reducer fetching from a peer that took the request and went silent
// waited out the fetch's 30 s. Told by the driver that the peer is lost, it
// gives up at once; a deposed leader's word is refused and changes nothing.
Test(executor, a_fetch_from_a_silent_peer_fails_as_soon_as_the_driver_says_it_is_lost)
{
	silent_fetch sf = { 0 };
	silent_fetch_start(&sf);
	char why[256];
	cr_expect_eq(tell_lost(sf.cli, 6, sf.hole, why, sizeof(why)), -1);
	cr_expect_not_null(strstr(why, "epoch 6 is older than 7 (deposed leader)"), "%s", why);
	rl_sleep_ms(300);
	cr_assert_not(atomic_load(&sf.lc.done), "a deposed leader's word ended the fetch");

	int64_t told_ms = rl_mono_ms();
	cr_expect_eq(tell_lost(sf.cli, 7, sf.hole, why, sizeof(why)), 1, "%s", why);
	for (int64_t t0 = rl_mono_ms(); !atomic_load(&sf.lc.done) && rl_mono_ms() - t0 < 40000;)
		rl_sleep_ms(10);
	cr_assert(atomic_load(&sf.lc.done), "the launch never came back");
	// Before, the fetch ended after its 30 s timeout.
	cr_expect_lt(sf.lc.done_ms - told_ms, 5000, "the task came back %" PRId64 " ms after",
	    sf.lc.done_ms - told_ms);
	expect_fetch_failed(&sf.lc, sf.hole);
	rl_msg_free(sf.lc.reply);
	cr_expect_eq(atomic_load(&sf.bh.bh_taken), 1);

	rl_rpc_client_destroy(sf.cli);
	rl_executor_destroy(sf.ex);
	black_hole_stop(&sf.bh);
}

// An executor that exits while a reducer waits on a silent peer (its host
// cut) does not wait out the fetch's 30 s: the fetch gives up, the task
// ends, and the executor is gone within a second or so, with no watchdog.
Test(executor, an_exit_does_not_wait_for_a_fetch_from_a_silent_peer)
{
	silent_fetch sf = { 0 };
	silent_fetch_start(&sf);
	int64_t t0 = rl_mono_ms();
	rl_executor_stop(sf.ex);
	rl_executor_destroy(sf.ex);
	int64_t took = rl_mono_ms() - t0;
	cr_expect_lt(took, 5000, "the executor took %" PRId64 " ms to exit", took);
	rl_rpc_client_destroy(sf.cli); // the launch's reply, if any, was dropped
	if (atomic_load(&sf.lc.done))
		rl_msg_free(sf.lc.reply);
	black_hole_stop(&sf.bh);
}

// The hook holds the reduce task back (before its fetch) until released.
static atomic_int  held;
static atomic_bool hold_released;

static bool
hold_reduce_task(void *arg, const char *point)
{
	(void)arg;
	if (strncmp(point, "reduce-task-", strlen("reduce-task-")) != 0)
		return false;
	atomic_fetch_add(&held, 1);
	while (!atomic_load(&hold_released))
		rl_sleep_ms(10);
	return false;
}

// The word can come before the task's fetch starts: the fetch then fails
// without asking the peer. A task accepted after the word still asks it
// (the peer may be back at the same address).
Test(executor, a_lost_peer_is_not_asked_by_tasks_accepted_before_the_word)
{
	rl_log_set_level(RL_LOG_ERROR);
	black_hole bh = { 0 };
	black_hole_start(&bh);
	const char      *hole = rl_rpc_server_url(bh.bh_srv);
	rl_executor_opts opts = { .listen_url = "tcp://127.0.0.1:0", .id = "reducer", .cores = 2 };
	rl_executor     *ex;
	rl_rpc_client   *cli;
	char             why[256];
	cr_assert_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_rpc_client_create(rl_executor_url(ex), &cli, why, sizeof(why)), RL_OK);
	rl_fault_hook(hold_reduce_task, NULL);

	launch_call before = { 0 };
	launch_reduce(cli, &before, 1, hole);
	cr_assert(wait_until(&held, 1, 10000), "the reduce task never started");
	cr_expect_eq(tell_lost(cli, 1, hole, why, sizeof(why)), 0, "%s", why);
	atomic_store(&hold_released, true);
	for (int64_t t0 = rl_mono_ms(); !atomic_load(&before.done) && rl_mono_ms() - t0 < 10000;)
		rl_sleep_ms(10);
	cr_assert(atomic_load(&before.done), "the task accepted before the word never came back");
	expect_fetch_failed(&before, hole);
	rl_msg_free(before.reply);
	cr_expect_eq(atomic_load(&bh.bh_taken), 0, "the lost peer was asked");

	launch_call after = { 0 };
	launch_reduce(cli, &after, 1, hole);
	cr_expect(wait_until(&bh.bh_taken, 1, 10000),
	    "a task accepted after the word did not ask the peer");
	rl_fault_hook(NULL, NULL);
	black_hole_stop(&bh); // answers: the task fails, its launch returns
	for (int64_t t0 = rl_mono_ms(); !atomic_load(&after.done) && rl_mono_ms() - t0 < 40000;)
		rl_sleep_ms(10);
	rl_msg_free(after.reply);
	rl_rpc_client_destroy(cli);
	rl_executor_destroy(ex);
}

// ---- a shutdown with a request stuck ----

// read_until appends what fd gives to buf (cap bytes, kept NUL-terminated)
// until want is in it, fd ends (want NULL: only that) or deadline_ms (on
// rl_mono_ms's clock) passes; returns whether want is there.
static bool
read_until(int fd, char *buf, size_t cap, size_t *len, const char *want, int64_t deadline_ms)
{
	while (want == NULL || strstr(buf, want) == NULL) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t       left = deadline_ms - rl_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			return want == NULL;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return true;
}

// An executor told to stop while a worker is stuck waited for it for ever
// (librdkafka's send_offsets_to_transaction can block past its timeout once
// the coordinator is gone) and outlived its tests. rill-executor, its reduce
// task hung by RILL_FAULT, names what is stuck and exits 1 after its grace.
// (No Criterion .timeout in this file: its own deadlines bound each test, and
// Criterion 2.4's runner leaks a timed test's record under LeakSanitizer when
// tests run in parallel.)
Test(executor, a_daemon_with_a_stuck_request_exits_1_after_its_grace)
{
	const char *bin = rt_bin("rill-executor");
	char *const argv[] = { (char *)(uintptr_t)bin, "--listen", "tcp://127.0.0.1:0", "--id",
		"stuck", "--cores", "2", NULL };
	// The environment is made here: the child may only exec (nng refuses to
	// run in a forked child, and another thread may hold malloc's lock).
	size_t nenv = 0;
	while (environ[nenv] != NULL)
		nenv++;
	char **envp = calloc(nenv + 3, sizeof(char *));
	size_t k = 0;
	envp[k++] = "RILL_FAULT=reduce-task-stuck:hang";
	envp[k++] = "RILL_LOG_LEVEL=info";
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "RILL_FAULT=", 11) != 0
		    && strncmp(environ[i], "RILL_LOG_LEVEL=", 15) != 0)
			envp[k++] = environ[i];
	int out[2];
	cr_assert_eq(pipe(out), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		dup2(out[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		execve(bin, argv, envp);
		_exit(127);
	}
	free(envp);
	close(out[1]);
	static char log[65536];
	size_t      len = 0;
	int64_t     t0 = rl_mono_ms();
	bool        up
	    = read_until(out[0], log, sizeof(log), &len, "msg=\"executor listening\"", t0 + 20000);
	const char *url = up ? strstr(strstr(log, "msg=\"executor listening\""), " url=") : NULL;
	if (!up || url == NULL) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cr_assert_fail("the executor did not start:\n%s", log);
	}
	char listen[128];
	snprintf(listen, sizeof(listen), "%.*s", (int)strcspn(url + 5, " \n"), url + 5);

	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(listen, &cli, why, sizeof(why)), RL_OK, "%s", why);
	launch_call lc = { 0 };
	launch_reduce(cli, &lc, 1, "tcp://127.0.0.1:1");
	bool    hung = read_until(out[0], log, sizeof(log), &len,
	       "msg=\"hanging here for ever (RILL_FAULT)\"", t0 + 20000);
	int64_t stopped_ms = rl_mono_ms();
	kill(child, SIGTERM);
	bool ended = read_until(out[0], log, sizeof(log), &len, NULL, stopped_ms + 30000);
	if (!ended)
		kill(child, SIGKILL);
	int status;
	cr_assert_eq(waitpid(child, &status, 0), child);
	int64_t exit_ms = rl_mono_ms() - stopped_ms;
	close(out[0]);
	rl_rpc_client_destroy(cli);
	rl_msg_free(lc.reply);

	cr_assert(hung, "the reduce task did not hang:\n%s", log);
	cr_assert(ended, "the executor did not exit within 30 s of SIGTERM:\n%s", log);
	cr_assert(WIFEXITED(status), "the executor died by signal %d:\n%s", WTERMSIG(status), log);
	cr_expect_eq(WEXITSTATUS(status), 1, "exit status %d:\n%s", WEXITSTATUS(status), log);
	// The grace is 5 s (RL_EXECUTOR_STOP_GRACE_MS).
	cr_expect_geq(
	    exit_ms, RL_EXECUTOR_STOP_GRACE_MS - 100, "it exited %" PRId64 " ms after", exit_ms);
	cr_expect_lt(exit_ms, 15000, "it exited %" PRId64 " ms after SIGTERM", exit_ms);
	cr_expect_not_null(strstr(log,
	                       "msg=\"still running at exit\" id=stuck request=\"task job=silent "
	                       "batch_ms=1000 stage=1 partition=0 attempt=0\" running_ms="),
	    "%s", log);
	char want[256];
	snprintf(want, sizeof(want),
	    "msg=\"shutdown stuck, exiting\" id=stuck grace_ms=%d phase=\"waiting for the "
	    "requests in progress\" stuck=1 status=1",
	    RL_EXECUTOR_STOP_GRACE_MS);
	cr_expect_not_null(strstr(log, want), "%s", log);
	cr_expect_null(strstr(log, "msg=\"executor stopped\""), "%s", log);
}

// With nothing stuck, a destroy with a grace returns as any other.
Test(executor, a_shutdown_with_nothing_stuck_returns)
{
	rl_executor_opts opts = {
		.listen_url = "tcp://127.0.0.1:0",
		.id = "idle",
		.cores = 1,
		.stop_grace_ms = 200,
	};
	rl_executor *ex;
	char         why[256];
	cr_assert_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_OK, "%s", why);
	rl_executor_stop(ex);
	rl_executor_destroy(ex);
	rl_sleep_ms(400); // the watchdog is gone with the destroy: nothing ends the test
}
