// SPDX-License-Identifier: Apache-2.0
// Frames and request/reply: protobuf round trips, truncated and garbage
// frames, version checks, and a live server that survives garbage.
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/rpc.h"

static Rill__Envelope *
decode_ok(const rl_buf *b, const uint8_t **tail, size_t *tail_len)
{
	Rill__Envelope *env;
	char            why[256];
	rl_err rv = rl_frame_decode(b->b_data, b->b_len, &env, tail, tail_len, why, sizeof(why));
	cr_assert_eq(rv, RL_OK, "decode: %s", why);
	return env;
}

Test(frame, task_launch_round_trips)
{
	Rill__Split range = RILL__SPLIT__INIT;
	range.kind = "kafka";
	range.id = "words/3";
	range.from = 1000;
	range.until = 2000;
	range.opaque.data = (uint8_t *)"\x01\x02";
	range.opaque.len = 2;
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	tl.epoch = 7;
	tl.job = "wordcount";
	tl.batch_time_ms = 1700000000000;
	tl.stage = 0;
	tl.partition = 2;
	tl.attempt = 1;
	tl.job_spec.data = (uint8_t *)"name: x";
	tl.job_spec.len = 7;
	tl.spec_hash = UINT64_C(0xdeadbeefcafef00d);
	tl.split = &range;
	tl.num_output_partitions = 4;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = &tl;

	rl_buf b = RL_BUF_INIT;
	rl_frame_encode(&env, NULL, 0, &b);
	const uint8_t  *tail;
	size_t          tail_len;
	Rill__Envelope *got = decode_ok(&b, &tail, &tail_len);
	cr_assert_eq(tail_len, 0);
	cr_assert_eq(got->version, RL_PROTO_VERSION);
	cr_assert_eq(got->body_case, RILL__ENVELOPE__BODY_TASK_LAUNCH);
	const Rill__TaskLaunch *g = got->task_launch;
	cr_assert_eq(g->epoch, 7);
	cr_assert_str_eq(g->job, "wordcount");
	cr_assert_eq(g->batch_time_ms, 1700000000000);
	cr_assert_eq(g->partition, 2);
	cr_assert_eq(g->attempt, 1);
	cr_assert_eq(g->spec_hash, UINT64_C(0xdeadbeefcafef00d));
	cr_assert_eq(g->job_spec.len, 7);
	cr_assert_str_eq(g->split->kind, "kafka");
	cr_assert_str_eq(g->split->id, "words/3");
	cr_assert_eq(g->split->from, 1000);
	cr_assert_eq(g->split->until, 2000);
	cr_assert_eq(g->split->opaque.len, 2);
	cr_assert_eq(memcmp(g->split->opaque.data, "\x01\x02", 2), 0);
	cr_assert_eq(g->num_output_partitions, 4);
	rill__envelope__free_unpacked(got, NULL);
	rl_buf_fini(&b);
}

Test(frame, result_with_raw_tail_round_trips)
{
	Rill__ShuffleSegment seg = RILL__SHUFFLE_SEGMENT__INIT;
	seg.map_partition = 4;
	seg.found = true;
	seg.records = 3;
	seg.bytes = 11;
	Rill__ShuffleSegment *segs[] = { &seg };
	Rill__ShuffleBlock    blk = RILL__SHUFFLE_BLOCK__INIT;
	blk.segments = segs;
	blk.n_segments = 1;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_BLOCK;
	env.shuffle_block = &blk;
	rl_buf b = RL_BUF_INIT;
	rl_frame_encode(&env, "hello world", 11, &b);
	const uint8_t  *tail;
	size_t          tail_len;
	Rill__Envelope *got = decode_ok(&b, &tail, &tail_len);
	cr_assert_eq(got->shuffle_block->n_segments, 1);
	cr_assert_eq(got->shuffle_block->segments[0]->map_partition, 4);
	cr_assert_eq(got->shuffle_block->segments[0]->records, 3);
	cr_assert_eq(tail_len, 11);
	cr_assert_eq(memcmp(tail, "hello world", 11), 0);
	rill__envelope__free_unpacked(got, NULL);
	rl_buf_fini(&b);
}

static rl_err
decode_err(const void *data, size_t len, char *why, size_t whylen)
{
	Rill__Envelope *env = NULL;
	const uint8_t  *tail;
	size_t          tail_len;
	rl_err          rv = rl_frame_decode(data, len, &env, &tail, &tail_len, why, whylen);
	cr_assert_null(env);
	return rv;
}

Test(frame, every_truncation_is_refused)
{
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "exec-1";
	hb.sent_ms = 123456789;
	hb.rss_bytes = 1 << 20;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	rl_buf b = RL_BUF_INIT;
	rl_frame_encode(&env, NULL, 0, &b);
	char why[256];
	for (size_t len = 0; len < b.b_len; len++) {
		why[0] = '\0';
		rl_err rv = decode_err(b.b_data, len, why, sizeof(why));
		cr_assert(
		    rv == RL_ERR_PROTO, "a frame cut to %zu of %zu bytes decoded", len, b.b_len);
		cr_assert_neq(why[0], '\0');
	}
	rl_buf_fini(&b);
}

Test(frame, header_longer_than_frame_is_named)
{
	const uint8_t frame[] = { 0x00, 0x00, 0x10, 0x00, 0x08, 0x01 };
	char          why[256];
	cr_assert_eq(decode_err(frame, sizeof(frame), why, sizeof(why)), RL_ERR_PROTO);
	cr_assert(strstr(why, "4096") != NULL, "message: %s", why);
}

Test(frame, garbage_is_refused)
{
	uint8_t  junk[512];
	uint32_t x = 12345;
	char     why[256];
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245u + 12345u;
			junk[i] = (uint8_t)(x >> 16);
		}
		size_t env_len = (size_t)(x % 500);
		junk[0] = 0;
		junk[1] = 0;
		junk[2] = (uint8_t)(env_len >> 8);
		junk[3] = (uint8_t)env_len;
		Rill__Envelope *env = NULL;
		const uint8_t  *tail;
		size_t          tail_len;
		rl_err          rv
		    = rl_frame_decode(junk, sizeof(junk), &env, &tail, &tail_len, why, sizeof(why));
		// Random bytes almost never form a valid envelope; if they do, it must be whole.
		if (rv == RL_OK) {
			cr_assert_eq(env->version, RL_PROTO_VERSION);
			rill__envelope__free_unpacked(env, NULL);
		}
	}
}

static uint32_t
next_random(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

// mutate applies 1-4 random edits (bit flip, byte, cut, insert, 0xff run).
static size_t
mutate(uint8_t *d, size_t n, size_t cap, uint32_t *x)
{
	for (uint32_t k = 1 + next_random(x) % 4; k > 0; k--) {
		uint32_t op = next_random(x) % 5, r1 = next_random(x), r2 = next_random(x);
		if (op == 0 && n > 0) {
			d[r1 % n] ^= (uint8_t)(1u << (r2 % 8));
		} else if (op == 1 && n > 0) {
			d[r1 % n] = (uint8_t)r2;
		} else if (op == 2 && n > 0) {
			n = r1 % n;
		} else if (op == 3 && n < cap) {
			size_t at = r1 % (n + 1);
			memmove(d + at + 1, d + at, n - at);
			d[at] = (uint8_t)r2;
			n++;
		} else if (op == 4 && n > 4) {
			memset(d + r1 % (n - 4), 0xff, 4);
		}
	}
	return n;
}

Test(frame, mutated_task_launches_are_refused_or_whole)
{
	Rill__Split range = RILL__SPLIT__INIT;
	range.kind = "kafka";
	range.id = "words/3";
	range.until = 99;
	char            *urls[] = { "tcp://10.0.0.2:7077", "tcp://10.0.0.3:7077" };
	uint32_t         counts[] = { 1, 2 }, maps[] = { 5, 9, 11 };
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	tl.job = "wc";
	tl.batch_time_ms = 1795253026000;
	tl.stage = 1;
	tl.split = &range;
	tl.fetch_urls = urls;
	tl.n_fetch_urls = 2;
	tl.fetch_counts = counts;
	tl.n_fetch_counts = 2;
	tl.fetch_maps = maps;
	tl.n_fetch_maps = 3;
	tl.job_spec.data = (uint8_t *)"name: wc\nbatch: 1s\n";
	tl.job_spec.len = 19;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = &tl;
	rl_buf frame = RL_BUF_INIT;
	rl_frame_encode(&env, "tail", 4, &frame);
	uint8_t work[512];
	cr_assert_lt(frame.b_len + 64, sizeof(work));
	uint32_t x = 7;
	int      accepted = 0, refused = 0;
	char     why[256];
	for (int round = 0; round < 20000; round++) {
		memcpy(work, frame.b_data, frame.b_len);
		size_t   n = mutate(work, frame.b_len, frame.b_len + 64, &x);
		uint8_t *exact = malloc(n + 1); // exactly n bytes readable, for ASan
		memcpy(exact, work, n);
		Rill__Envelope *got = NULL;
		const uint8_t  *tail;
		size_t          tail_len;
		if (rl_frame_decode(exact, n, &got, &tail, &tail_len, why, sizeof(why)) == RL_OK) {
			accepted++;
			cr_assert_eq(got->version, RL_PROTO_VERSION);
			cr_assert_neq(got->body_case, RILL__ENVELOPE__BODY__NOT_SET);
			cr_assert(tail >= exact && tail + tail_len <= exact + n,
			    "tail outside the frame");
			rill__envelope__free_unpacked(got, NULL);
		} else {
			refused++;
			cr_assert(why[0] != '\0', "a refusal without a reason");
		}
		free(exact);
	}
	// Both outcomes happen, so the loop exercised the decoder's paths.
	cr_assert_gt(accepted, 100);
	cr_assert_gt(refused, 100);
	rl_buf_fini(&frame);
}

Test(frame, other_version_is_refused)
{
	Rill__HeartbeatAck ack = RILL__HEARTBEAT_ACK__INIT;
	Rill__Envelope     env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT_ACK;
	env.heartbeat_ack = &ack;
	rl_buf b = RL_BUF_INIT;
	rl_frame_encode(&env, NULL, 0, &b);
	// Re-pack with version 99.
	Rill__Envelope *got = decode_ok(&b, &(const uint8_t *) { 0 }, &(size_t) { 0 });
	got->version = 99;
	b.b_len = 0;
	size_t n = rill__envelope__get_packed_size(got);
	rl_buf_grow(&b, n + 4);
	b.b_data[0] = b.b_data[1] = b.b_data[2] = 0;
	b.b_data[3] = (uint8_t)n;
	rill__envelope__pack(got, b.b_data + 4);
	b.b_len = n + 4;
	rill__envelope__free_unpacked(got, NULL);
	char why[256];
	cr_assert_eq(decode_err(b.b_data, b.b_len, why, sizeof(why)), RL_ERR_VERSION);
	cr_assert(strstr(why, "99") != NULL, "message: %s", why);
	rl_buf_fini(&b);
}

Test(frame, empty_envelope_is_refused)
{
	const uint8_t frame[] = { 0, 0, 0, 2, 0x08, RL_PROTO_VERSION }; // no body
	char          why[256];
	cr_assert_eq(decode_err(frame, sizeof(frame), why, sizeof(why)), RL_ERR_PROTO);
}

// ---- live request/reply ----

static void
echo_handler(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	(void)arg;
	(void)peer;
	if (req->m_env->body_case != RILL__ENVELOPE__BODY_HEARTBEAT)
		return; // answered "not understood" by the server
	Rill__HeartbeatAck *ack = rl_arena_alloc(reply->r_arena, sizeof(*ack));
	rill__heartbeat_ack__init(ack);
	ack->known = strcmp(req->m_env->heartbeat->executor_id, "known") == 0;
	reply->r_env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT_ACK;
	reply->r_env.heartbeat_ack = ack;
	// Echo the tail: the request lives until the reply is sent.
	reply->r_tail = req->m_tail;
	reply->r_tail_len = req->m_tail_len;
}

static rl_rpc_server *
start_server(void)
{
	rl_rpc_server *srv;
	char           why[256];
	cr_assert_eq(rl_rpc_server_create(
	                 "tcp://127.0.0.1:0", 2, echo_handler, NULL, &srv, why, sizeof(why)),
	    RL_OK, "%s", why);
	return srv;
}

static rl_err
heartbeat_within(
    rl_rpc_client *cli, const char *id, int timeout_ms, rl_msg **ret, char *why, size_t whylen)
{
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = (char *)(uintptr_t)id;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	return rl_rpc_call(cli, &env, "tail", 4, timeout_ms, ret, why, whylen);
}

static rl_err
heartbeat(rl_rpc_client *cli, const char *id, rl_msg **ret, char *why, size_t whylen)
{
	return heartbeat_within(cli, id, 5000, ret, why, whylen);
}

Test(rpc, call_gets_the_handlers_reply)
{
	rl_rpc_server *srv = start_server();
	const char    *url = rl_rpc_server_url(srv);
	cr_assert(strncmp(url, "tcp://127.0.0.1:", 16) == 0 && strcmp(url + 16, "0") != 0,
	    "the bound port replaces 0: %s", url);
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	rl_msg *reply;
	cr_assert_eq(heartbeat(cli, "known", &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_HEARTBEAT_ACK);
	cr_assert(reply->m_env->heartbeat_ack->known);
	cr_assert_eq(reply->m_tail_len, 4);
	cr_assert_eq(memcmp(reply->m_tail, "tail", 4), 0);
	rl_msg_free(reply);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(rpc, unknown_request_gets_an_error_reply)
{
	rl_rpc_server *srv = start_server();
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	Rill__ShuffleFetch f = RILL__SHUFFLE_FETCH__INIT;
	Rill__Envelope     env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_FETCH;
	env.shuffle_fetch = &f;
	rl_msg *reply = NULL;
	rl_err  rv = rl_rpc_call(cli, &env, NULL, 0, 5000, &reply, why, sizeof(why));
	cr_assert_eq(rv, RL_ERR_PROTO);
	cr_assert_null(reply);
	cr_assert(strstr(why, "not understood") != NULL, "message: %s", why);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(rpc, garbage_frame_gets_an_error_and_server_lives_on)
{
	rl_rpc_server *srv = start_server();
	nng_socket     raw;
	cr_assert_eq(nng_req0_open(&raw), 0);
	cr_assert_eq(nng_dial(raw, rl_rpc_server_url(srv), NULL, 0), 0);
	const char junk[] = "\x00\x00\x00\x05garbage that is not protobuf";
	cr_assert_eq(nng_send(raw, (void *)junk, sizeof(junk) - 1, 0), 0);
	char  *buf = NULL;
	size_t len = 0;
	cr_assert_eq(nng_recv(raw, &buf, &len, NNG_FLAG_ALLOC), 0);
	Rill__Envelope *env;
	const uint8_t  *tail;
	size_t          tail_len;
	char            why[256];
	cr_assert_eq(
	    rl_frame_decode((uint8_t *)buf, len, &env, &tail, &tail_len, why, sizeof(why)), RL_OK);
	cr_assert_eq(env->body_case, RILL__ENVELOPE__BODY_ERROR);
	cr_assert_eq(env->error->code, RL_ERR_PROTO);
	rill__envelope__free_unpacked(env, NULL);
	nng_free(buf, len);
	nng_close(raw);

	rl_rpc_client *cli;
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	rl_msg *reply;
	cr_assert_eq(heartbeat(cli, "other", &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_not(reply->m_env->heartbeat_ack->known);
	rl_msg_free(reply);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(rpc, call_to_nobody_times_out)
{
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create("tcp://127.0.0.1:1", &cli, why, sizeof(why)), RL_OK);
	rl_msg *reply = NULL;
	cr_assert_eq(heartbeat_within(cli, "x", 300, &reply, why, sizeof(why)), RL_ERR_TIMEDOUT);
	cr_assert_null(reply);
	cr_assert(strstr(why, "127.0.0.1:1") != NULL, "message: %s", why);
	cr_assert(strstr(why, nng_strerror(NNG_ETIMEDOUT)) != NULL, "no nng text: %s", why);
	rl_rpc_client_destroy(cli);
}

Test(rpc, waiting_for_a_connection_tells_a_live_peer_from_a_dead_one)
{
	rl_rpc_server *srv = start_server();
	rl_rpc_client *live, *dead;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &live, why, sizeof(why)), RL_OK);
	cr_assert_eq(rl_rpc_client_create("tcp://127.0.0.1:1", &dead, why, sizeof(why)), RL_OK);
	cr_assert(rl_rpc_client_wait_connected(live, 5000), "no connection to a live server");
	cr_assert(rl_rpc_client_connected(live));
	cr_assert_not(rl_rpc_client_wait_connected(dead, 300), "connected to nobody");
	rl_rpc_client_destroy(dead);
	rl_rpc_client_destroy(live);
	rl_rpc_server_destroy(srv);
}

Test(rpc, bad_listen_url_is_named)
{
	rl_rpc_server *srv;
	char           why[256];
	cr_assert_eq(rl_rpc_server_create("udp://x", 1, echo_handler, NULL, &srv, why, sizeof(why)),
	    RL_ERR_INVAL);
	cr_assert(strstr(why, "udp://x") != NULL, "message: %s", why);
}

Test(rpc, dial_failure_keeps_nngs_own_text)
{
	rl_rpc_client *cli = NULL;
	char           why[256] = "";
	cr_assert_neq(rl_rpc_client_create("bogus://x", &cli, why, sizeof(why)), RL_OK);
	cr_assert_null(cli);
	char want[256];
	snprintf(want, sizeof(want), "cannot dial bogus://x: %s", nng_strerror(NNG_ENOTSUP));
	cr_assert_str_eq(why, want);
}

Test(rpc, listen_failure_keeps_nngs_own_text)
{
	rl_rpc_server *srv = start_server(), *second = NULL;
	char           why[256] = "";
	const char    *url = rl_rpc_server_url(srv);
	cr_assert_eq(rl_rpc_server_create(url, 1, echo_handler, NULL, &second, why, sizeof(why)),
	    RL_ERR_NET, "%s", why);
	cr_assert_null(second);
	char want[256];
	snprintf(want, sizeof(want), "cannot listen on %s: %s", url, nng_strerror(NNG_EADDRINUSE));
	cr_assert_str_eq(why, want);
	rl_rpc_server_destroy(srv);
}

// What an asynchronous call's completion saw, for the test thread to wait on.
typedef struct async_result {
	pthread_mutex_t a_mu;
	pthread_cond_t  a_cond;
	bool            a_done;
	rl_err          a_err;
	char            a_why[256];
	rl_msg         *a_reply;
} async_result;

static void
async_done(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	async_result *a = arg;
	pthread_mutex_lock(&a->a_mu);
	a->a_err = err;
	snprintf(a->a_why, sizeof(a->a_why), "%s", why);
	a->a_reply = reply;
	a->a_done = true;
	pthread_cond_signal(&a->a_cond);
	pthread_mutex_unlock(&a->a_mu);
}

static void
async_call(rl_rpc_client *cli, Rill__Envelope *env, int timeout_ms, async_result *a)
{
	*a = (async_result) { .a_err = RL_ERR_INTERNAL };
	pthread_mutex_init(&a->a_mu, NULL);
	pthread_cond_init(&a->a_cond, NULL);
	rl_rpc_call_async(cli, env, timeout_ms, async_done, a);
	pthread_mutex_lock(&a->a_mu);
	while (!a->a_done)
		pthread_cond_wait(&a->a_cond, &a->a_mu);
	pthread_mutex_unlock(&a->a_mu);
	pthread_cond_destroy(&a->a_cond);
	pthread_mutex_destroy(&a->a_mu);
}

Test(rpc, async_call_to_nobody_says_nngs_timeout)
{
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create("tcp://127.0.0.1:1", &cli, why, sizeof(why)), RL_OK);
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "x";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	async_result a;
	async_call(cli, &env, 300, &a);
	cr_assert_eq(a.a_err, RL_ERR_TIMEDOUT, "%s", a.a_why);
	cr_assert_null(a.a_reply);
	cr_assert_str_eq(a.a_why, nng_strerror(NNG_ETIMEDOUT));
	rl_rpc_client_destroy(cli);
}

Test(rpc, async_error_reply_keeps_the_peers_message)
{
	rl_rpc_server *srv = start_server();
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	Rill__ShuffleFetch f = RILL__SHUFFLE_FETCH__INIT;
	Rill__Envelope     env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_SHUFFLE_FETCH;
	env.shuffle_fetch = &f;
	async_result a;
	async_call(cli, &env, 5000, &a);
	cr_assert_eq(a.a_err, RL_ERR_PROTO, "%s", a.a_why);
	cr_assert_null(a.a_reply);
	cr_assert(strstr(a.a_why, "not understood") != NULL, "message: %s", a.a_why);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(rpc, async_success_has_an_empty_why)
{
	rl_rpc_server *srv = start_server();
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "known";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	async_result a;
	async_call(cli, &env, 5000, &a);
	cr_assert_eq(a.a_err, RL_OK, "%s", a.a_why);
	cr_assert_str_eq(a.a_why, "");
	cr_assert_not_null(a.a_reply);
	cr_assert(a.a_reply->m_env->heartbeat_ack->known);
	rl_msg_free(a.a_reply);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}
