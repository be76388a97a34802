// SPDX-License-Identifier: Apache-2.0
// An executor and a driver faced with hostile requests on their sockets:
// launches that make no sense, job texts that are not UTF-8 or not YAML,
// fetches of outputs that do not exist, registrations that make no sense,
// garbage frames. Each gets an answer that says what is wrong, and the
// process stays up and keeps answering.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/hash.h"
#include "common/rpc.h"
#include "common/time.h"
#include "tests/fixtures/fixture.h"

static pid_t       proc_pid;
static const char *proc_log;
static char        proc_url[128];

static const char job_yaml[] = "name: hostile\n"
                               "batch: 1s\n"
                               "source:\n"
                               "  kafka:\n"
                               "    brokers: 127.0.0.1:1\n"
                               "    topics: [in]\n"
                               "pipeline:\n"
                               "  - flat_map: words\n"
                               "  - map_values: one\n"
                               "  - reduce_by_key: sum\n"
                               "sink:\n"
                               "  print: {}\n";

// start logs a rill binary's stderr to its own file and reads from it the
// URL it listens on: the url= of the log line with msg="<msg>".
static void
start(const char *const *argv, const char *msg)
{
	const char *dir = rt_tmpdir("hostile");
	proc_log = rt_path(dir, "process.log");
	proc_url[0] = '\0';
	proc_pid = fork();
	cr_assert_neq(proc_pid, -1);
	if (proc_pid == 0) {
		if (freopen(proc_log, "w", stderr) == NULL)
			_exit(127);
		setenv("RILL_LOG_LEVEL", "info", 1);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	for (int i = 0; i < 600 && proc_url[0] == '\0'; i++) {
		rl_sleep_ms(50);
		char       *log = rt_read(proc_log, NULL);
		const char *line = log != NULL ? strstr(log, msg) : NULL;
		const char *u = line != NULL ? strstr(line, " url=") : NULL;
		if (u != NULL)
			sscanf(u + 5, "%127[^ \n]", proc_url);
		free(log);
	}
	cr_assert_neq(proc_url[0], '\0', "%s never said where it listens; log:\n%s", argv[0],
	    rt_read(proc_log, NULL));
}

// start_executor runs rill-executor without a driver, on a free port.
static void
start_executor(void)
{
	const char *argv[] = { rt_bin("rill-executor"), "--listen", "tcp://127.0.0.1:0", "--id",
		"hostile", "--cores", "2", NULL };
	start(argv, "msg=\"executor listening\"");
}

// stop_process asks the process to stop (SIGTERM) and checks it exits 0
// with a log free of sanitizer reports.
static void
stop_process(void)
{
	cr_assert_eq(kill(proc_pid, SIGTERM), 0);
	int status;
	cr_assert_eq(waitpid(proc_pid, &status, 0), proc_pid);
	char *log = rt_read(proc_log, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "executor status %d; log:\n%s",
	    status, log);
	cr_assert(strstr(log, "Sanitizer") == NULL && strstr(log, "runtime error") == NULL,
	    "sanitizer report:\n%s", log);
	free(log);
}

static void
assert_alive(void)
{
	cr_assert_eq(waitpid(proc_pid, NULL, WNOHANG), 0, "the process died; log:\n%s",
	    rt_read(proc_log, NULL));
}

static Rill__TaskLaunch
launch(uint32_t stage)
{
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	tl.job = "hostile";
	tl.batch_time_ms = 1795253026000;
	tl.stage = stage;
	tl.num_stages = 2;
	tl.job_spec.data = (uint8_t *)job_yaml;
	tl.job_spec.len = sizeof(job_yaml) - 1;
	tl.spec_hash = rl_hash64(job_yaml, sizeof(job_yaml) - 1);
	tl.num_output_partitions = 4;
	return tl;
}

// send_launch sends tl and returns the task's error; the task must fail.
static char *
send_launch(rl_rpc_client *cli, Rill__TaskLaunch *tl, int timeout_ms)
{
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = tl;
	rl_msg *reply;
	char    why[512];
	cr_assert_eq(rl_rpc_call(cli, &env, NULL, 0, timeout_ms, &reply, why, sizeof(why)), RL_OK,
	    "no answer to a launch: %s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_TASK_RESULT);
	const Rill__TaskResult *res = reply->m_env->task_result;
	cr_assert_neq(res->status, RILL__TASK_RESULT__STATUS__OK, "a hostile launch succeeded");
	cr_assert_not_null(res->error);
	char *err = strdup(res->error);
	rl_msg_free(reply);
	return err;
}

static void
expect_failure(rl_rpc_client *cli, Rill__TaskLaunch *tl, const char *phrase)
{
	char *err = send_launch(cli, tl, 10000);
	cr_assert(strstr(err, phrase) != NULL, "expected '%s' in '%s'", phrase, err);
	free(err);
	assert_alive();
}

Test(hostile, executor_fails_launches_that_make_no_sense_with_a_reason, .timeout = 120)
{
	start_executor();
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(proc_url, &cli, why, sizeof(why)), RL_OK, "%s", why);

	Rill__TaskLaunch tl = launch(7);
	expect_failure(cli, &tl, "stage 7");

	tl = launch(0);
	tl.num_output_partitions = UINT32_MAX;
	expect_failure(cli, &tl, "4294967295 partitions");

	tl = launch(0);
	tl.num_output_partitions = 0;
	expect_failure(cli, &tl, "0 partitions");

	// A job text libfyaml 0.7 would never finish parsing.
	static const char not_utf8[] = "name: hostile\n%   fail_on_d\xcbta_loss: true\n";
	tl = launch(0);
	tl.job_spec.data = (uint8_t *)not_utf8;
	tl.job_spec.len = sizeof(not_utf8) - 1;
	tl.spec_hash = rl_hash64(not_utf8, tl.job_spec.len);
	expect_failure(cli, &tl, "byte 0xCB is not UTF-8");

	static const char not_yaml[] = "name: [unclosed\n";
	tl = launch(0);
	tl.job_spec.data = (uint8_t *)not_yaml;
	tl.job_spec.len = sizeof(not_yaml) - 1;
	tl.spec_hash = rl_hash64(not_yaml, tl.job_spec.len);
	expect_failure(cli, &tl, "job hostile (from the driver):");

	// A hash that is not the text's would poison the compiled-job cache.
	tl = launch(1);
	tl.spec_hash ^= 1;
	expect_failure(cli, &tl, "spec_hash does not match the job text");

	tl = launch(1);
	tl.job = "";
	expect_failure(cli, &tl, "without a job");

	// A reduce task whose map outputs are on an executor nobody runs: the
	// fetch gives up when no connection comes within 3 s.
	char    *nowhere[] = { "tcp://127.0.0.1:1" };
	uint32_t one[] = { 1 }, map0[] = { 0 };
	tl = launch(1);
	tl.fetch_urls = nowhere;
	tl.n_fetch_urls = 1;
	tl.fetch_counts = one;
	tl.n_fetch_counts = 1;
	tl.fetch_maps = map0;
	tl.n_fetch_maps = 1;
	char *err = send_launch(cli, &tl, 60000);
	cr_assert(strstr(err, "tcp://127.0.0.1:1: no connection within") != NULL, "got '%s'", err);
	free(err);
	assert_alive();

	// Fetch lists that do not add up: more outputs counted than listed, or
	// counts that are not one per URL.
	uint32_t two[] = { 2 };
	tl.fetch_counts = two;
	expect_failure(cli, &tl, "fetch counts add up to more than the 1 map outputs");
	tl.n_fetch_counts = 0;
	expect_failure(cli, &tl, "1 fetch URLs but 0 counts");

	// A join's reduce task that does not say which side each map output
	// is from.
	static const char join_yaml[]
	    = "name: hostile-join\n"
	      "batch: 1s\n"
	      "source:\n"
	      "  kafka: {brokers: 127.0.0.1:1, topics: [in]}\n"
	      "pipeline:\n"
	      "  - key_by: value\n"
	      "  - join: {kafka: {brokers: 127.0.0.1:1, topics: [other]}}\n"
	      "sink:\n"
	      "  print: {}\n";
	tl.job = "hostile-join";
	tl.job_spec.data = (uint8_t *)join_yaml;
	tl.job_spec.len = sizeof(join_yaml) - 1;
	tl.spec_hash = rl_hash64(join_yaml, tl.job_spec.len);
	tl.fetch_counts = one;
	tl.n_fetch_counts = 1;
	expect_failure(cli, &tl, "joins 1 map outputs but the launch says the input of 0");
	uint32_t inputs[] = { 1, 0 };
	tl.fetch_inputs = inputs;
	tl.n_fetch_inputs = 2;
	expect_failure(cli, &tl, "joins 1 map outputs but the launch says the input of 2");
	assert_alive();

	// A stage-0 task given a split and a list of them.
	Rill__Split range = RILL__SPLIT__INIT, *list[] = { &range };
	range.kind = "kafka";
	range.id = "hostile/0";
	tl = launch(0);
	tl.split = &range;
	tl.splits = list;
	tl.n_splits = 1;
	expect_failure(cli, &tl, "stage 0 task with both a split and a list of them");

	// A fetch of outputs this executor never had: an answer, not a crash.
	Rill__ShuffleFetch f = RILL__SHUFFLE_FETCH__INIT;
	uint32_t           maps[] = { 0, 1, UINT32_MAX };
	f.job = "nobody";
	f.batch_time_ms = -1;
	f.stage = UINT32_MAX;
	f.reduce_partition = UINT32_MAX;
	f.map_partitions = maps;
	f.n_map_partitions = 3;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_FETCH;
	env.shuffle_fetch = &f;
	rl_msg *reply = NULL;
	rl_err  rv = rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why));
	cr_assert(rv == RL_OK || (rv != RL_ERR_TIMEDOUT && why[0] != '\0'),
	    "a fetch of nothing got no answer (%d)", rv);
	rl_msg_free(reply);
	assert_alive();

	rl_rpc_client_destroy(cli);
	stop_process();
}

// send_garbage sends frames that are not rill frames; each must get an
// ErrorReply, and the process must live on.
static void
send_garbage(void)
{
	nng_socket s;
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_setopt_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, proc_url, NULL, 0), 0);
	static const uint8_t frames[][12] = {
		{ 0 }, // a length of 0, no envelope
		{ 0, 0, 0, 200, 1, 2, 3 }, // a length past the frame
		{ 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff }, // an envelope that does not unpack
		{ 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0 }, // a huge length
	};
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		cr_assert_eq(nng_send(s, (void *)frames[i], sizeof(frames[i]), 0), 0);
		char  *buf;
		size_t len;
		cr_assert_eq(
		    nng_recv(s, &buf, &len, NNG_FLAG_ALLOC), 0, "no answer to garbage %zu", i);
		Rill__Envelope *env;
		const uint8_t  *tail;
		size_t          tail_len;
		char            why[256];
		cr_assert_eq(rl_frame_decode((const uint8_t *)buf, len, &env, &tail, &tail_len, why,
		                 sizeof(why)),
		    RL_OK, "the answer is not a frame: %s", why);
		cr_assert_eq(env->body_case, RILL__ENVELOPE__BODY_ERROR, "garbage %zu", i);
		cr_assert_neq(env->error->message[0], '\0');
		rill__envelope__free_unpacked(env, NULL);
		nng_free(buf, len);
		assert_alive();
	}
	nng_close(s);
}

Test(hostile, executor_answers_garbage_frames_with_an_error, .timeout = 60)
{
	start_executor();
	send_garbage();
	stop_process();
}

static Rill__RegisterAck *
send_register(rl_rpc_client *cli, const char *id, const char *url, uint32_t cores, rl_msg **ret)
{
	Rill__Register reg = RILL__REGISTER__INIT;
	reg.executor_id = (char *)(uintptr_t)id;
	reg.listen_url = (char *)(uintptr_t)url;
	reg.cores = cores;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_REGISTER;
	env.register_ = &reg;
	char why[256];
	cr_assert_eq(rl_rpc_call(cli, &env, NULL, 0, 10000, ret, why, sizeof(why)), RL_OK,
	    "no answer to a registration: %s", why);
	cr_assert_eq((*ret)->m_env->body_case, RILL__ENVELOPE__BODY_REGISTER_ACK);
	return (*ret)->m_env->register_ack;
}

Test(hostile, driver_refuses_registrations_that_make_no_sense, .timeout = 120)
{
	rt_topic("hostile-in", 1);
	const char *dir = rt_tmpdir("hostile-driver");
	const char *job = rt_write(dir, "job.yaml",
	    "name: hostile\nbatch: 1s\nsource:\n  kafka:\n    brokers: %s\n    topics: "
	    "[hostile-in]\n"
	    "pipeline:\n  - flat_map: words\n  - map_values: one\n  - reduce_by_key: sum\n"
	    "sink:\n  print: {}\n",
	    rt_kafka());
	const char *argv[] = { rt_bin("rill-driver"), "--job", job, "--listen", "tcp://127.0.0.1:0",
		"--executors", "1", NULL };
	start(argv, "msg=\"listening for executors\"");
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(proc_url, &cli, why, sizeof(why)), RL_OK, "%s", why);

	const struct {
		const char *id, *url;
		uint32_t    cores;
	} bad[] = {
		{ "x", "tcp://127.0.0.1:9", UINT32_MAX },
		{ "x", "tcp://127.0.0.1:9", 1025 },
		{ "x", "tcp://127.0.0.1:9", 0 },
		{ "", "tcp://127.0.0.1:9", 2 },
		{ "x", "ipc:///tmp/x", 2 },
		{ "x", "tcp://", 2 },
		{ "x", NULL, 2 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rl_msg                  *reply;
		const Rill__RegisterAck *ack
		    = send_register(cli, bad[i].id, bad[i].url, bad[i].cores, &reply);
		cr_assert(!ack->accepted, "registration %zu was accepted", i);
		cr_assert(ack->reason != NULL && strstr(ack->reason, "1 to 1024 cores") != NULL,
		    "registration %zu: reason '%s'", i, ack->reason != NULL ? ack->reason : "");
		rl_msg_free(reply);
		assert_alive();
	}
	// A heartbeat from an executor the driver never accepted: "register again".
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "x";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	rl_msg *reply;
	cr_assert_eq(
	    rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_HEARTBEAT_ACK);
	cr_assert(!reply->m_env->heartbeat_ack->known);
	rl_msg_free(reply);
	// A task result nobody asked for.
	Rill__TaskResult res = RILL__TASK_RESULT__INIT;
	env = (Rill__Envelope)RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_RESULT;
	env.task_result = &res;
	reply = NULL;
	rl_err rv = rl_rpc_call(cli, &env, NULL, 0, 10000, &reply, why, sizeof(why));
	cr_assert(rv != RL_OK && rv != RL_ERR_TIMEDOUT && why[0] != '\0',
	    "an unasked-for task result got %d (%s)", rv, why);
	rl_msg_free(reply);
	assert_alive();
	send_garbage();
	rl_rpc_client_destroy(cli);
	stop_process();
}
