// SPDX-License-Identifier: Apache-2.0
// The cluster secret: what a secret file may hold, and rpc links that prove
// it on every request and reply (a peer without it, with another one, or a
// tampered frame is refused before any handler runs).
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/buf.h"
#include "common/rpc.h"
#include "common/secret.h"
#include "common/sha256.h"

static const char secret_a[] = "correct horse battery staple";
static const char secret_b[] = "another secret, another cluster";

// write_file writes text to a new file with mode and returns its path (free it).
static char *
write_file(const char *text, size_t len, mode_t mode)
{
	char *path = strdup("/tmp/rill-secret-test-XXXXXX");
	int   fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static rl_secret
secret_of(const char *text)
{
	rl_secret s = { .s_len = strlen(text) };
	memcpy(s.s_key, text, s.s_len);
	return s;
}

// ---- the secret file ----

Test(secret, file_with_a_trailing_newline_loads_without_it)
{
	char     *path = write_file("0123456789abcdef\n", 17, 0600);
	rl_secret s;
	char      why[256];
	cr_assert_eq(rl_secret_load(path, &s, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(s.s_len, 16);
	cr_assert_eq(memcmp(s.s_key, "0123456789abcdef", 16), 0);
	cr_assert_str_eq(s.s_path, path);
	unlink(path);
	free(path);
}

Test(secret, short_or_empty_secret_is_refused)
{
	const char *texts[] = { "", "\n", "fifteen bytes!!", "fifteen bytes!!\r\n" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char     *path = write_file(texts[i], strlen(texts[i]), 0600);
		rl_secret s;
		char      why[256];
		cr_assert_eq(
		    rl_secret_load(path, &s, why, sizeof(why)), RL_ERR_INVAL, "'%s'", texts[i]);
		cr_assert(strstr(why, "16 to 4096 bytes") != NULL, "message: %s", why);
		cr_assert(strstr(why, path) != NULL, "message names the file: %s", why);
		unlink(path);
		free(path);
	}
}

Test(secret, too_long_secret_is_refused)
{
	char *text = malloc(RL_SECRET_MAX + 1);
	memset(text, 'x', RL_SECRET_MAX + 1);
	char     *path = write_file(text, RL_SECRET_MAX + 1, 0600);
	rl_secret s;
	char      why[256];
	cr_assert_eq(rl_secret_load(path, &s, why, sizeof(why)), RL_ERR_INVAL);
	unlink(path);
	free(path);
	path = write_file(text, RL_SECRET_MAX, 0640); // the largest, group may read
	cr_assert_eq(rl_secret_load(path, &s, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(s.s_len, RL_SECRET_MAX);
	unlink(path);
	free(path);
	free(text);
}

Test(secret, file_others_may_read_is_refused)
{
	char     *path = write_file(secret_a, strlen(secret_a), 0644);
	rl_secret s;
	char      why[256];
	cr_assert_eq(rl_secret_load(path, &s, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert(strstr(why, "others may read") != NULL, "message: %s", why);
	unlink(path);
	free(path);
}

Test(secret, missing_file_is_an_io_error)
{
	rl_secret s;
	char      why[256];
	cr_assert_eq(rl_secret_load("/nonexistent/secret", &s, why, sizeof(why)), RL_ERR_IO);
	cr_assert(strstr(why, "/nonexistent/secret") != NULL, "message: %s", why);
}

Test(secret, derived_password_depends_on_secret_and_label)
{
	rl_secret a = secret_of(secret_a), b = secret_of(secret_b);
	char      x[65], y[65], z[65];
	rl_secret_derive(&a, "zookeeper", x);
	rl_secret_derive(&b, "zookeeper", y);
	rl_secret_derive(&a, "other", z);
	cr_assert_eq(strlen(x), 64);
	cr_assert_str_neq(x, y);
	cr_assert_str_neq(x, z);
	cr_assert_null(strstr(x, secret_a));
}

// ---- authenticated rpc ----

static atomic_int handled;

static void
echo_handler(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	(void)arg;
	(void)peer;
	handled++;
	if (req->m_env->body_case != RILL__ENVELOPE__BODY_HEARTBEAT)
		return;
	Rill__HeartbeatAck *ack = rl_arena_alloc(reply->r_arena, sizeof(*ack));
	rill__heartbeat_ack__init(ack);
	ack->known = true;
	reply->r_env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT_ACK;
	reply->r_env.heartbeat_ack = ack;
	reply->r_tail = req->m_tail;
	reply->r_tail_len = req->m_tail_len;
}

// start_with starts a server using secret (NULL: none).
static rl_rpc_server *
start_with(const char *secret)
{
	rl_secret s;
	if (secret != NULL)
		s = secret_of(secret);
	rl_secret_use(secret != NULL ? &s : NULL);
	rl_rpc_server *srv;
	char           why[256];
	cr_assert_eq(rl_rpc_server_create(
	                 "tcp://127.0.0.1:0", 2, echo_handler, NULL, &srv, why, sizeof(why)),
	    RL_OK, "%s", why);
	rl_secret_use(NULL);
	return srv;
}

static rl_rpc_client *
client_with(const rl_rpc_server *srv, const char *secret)
{
	rl_secret s;
	if (secret != NULL)
		s = secret_of(secret);
	rl_secret_use(secret != NULL ? &s : NULL);
	rl_rpc_client *cli;
	char           why[256];
	cr_assert_eq(rl_rpc_client_create(rl_rpc_server_url(srv), &cli, why, sizeof(why)), RL_OK);
	rl_secret_use(NULL);
	return cli;
}

static rl_err
heartbeat(rl_rpc_client *cli, rl_msg **ret, char *why, size_t whylen)
{
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "x";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	return rl_rpc_call(cli, &env, "tail", 4, 5000, ret, why, whylen);
}

Test(secret_rpc, same_secret_talks_both_ways)
{
	handled = 0;
	rl_rpc_server *srv = start_with(secret_a);
	rl_rpc_client *cli = client_with(srv, secret_a);
	rl_msg        *reply;
	char           why[512];
	cr_assert_eq(heartbeat(cli, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_HEARTBEAT_ACK);
	cr_assert_eq(reply->m_tail_len, 4);
	cr_assert_eq(memcmp(reply->m_tail, "tail", 4), 0);
	cr_assert_eq(reply->m_env->auth.len, RL_HMAC_LEN, "the reply carries its MAC");
	rl_msg_free(reply);
	cr_assert_eq(handled, 1);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

static void
async_done(void *arg, rl_err err, const char *why, rl_msg *reply)
{
	(void)why;
	atomic_int *out = arg;
	*out = (int)err + 1000 * (reply != NULL);
	rl_msg_free(reply);
}

Test(secret_rpc, async_calls_are_authenticated_too)
{
	rl_rpc_server  *srv = start_with(secret_a);
	rl_rpc_client  *good = client_with(srv, secret_a);
	rl_rpc_client  *bad = client_with(srv, secret_b);
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "x";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	atomic_int good_result = -1, bad_result = -1;
	rl_rpc_call_async(good, &env, 5000, async_done, &good_result);
	rl_rpc_call_async(bad, &env, 5000, async_done, &bad_result);
	for (int i = 0; i < 500 && (good_result < 0 || bad_result < 0); i++)
		usleep(10000);
	cr_assert_eq(good_result, 1000 + RL_OK);
	cr_assert_eq(bad_result, RL_ERR_AUTH);
	rl_rpc_client_destroy(good);
	rl_rpc_client_destroy(bad);
	rl_rpc_server_destroy(srv);
}

// expect_refused sends a heartbeat from a client with client_secret to a
// server with secret_a: refused before its handler runs.
static void
expect_refused(const char *client_secret)
{
	handled = 0;
	rl_rpc_server *srv = start_with(secret_a);
	rl_rpc_client *cli = client_with(srv, client_secret);
	rl_msg        *reply = NULL;
	char           why[512];
	cr_assert_eq(heartbeat(cli, &reply, why, sizeof(why)), RL_ERR_AUTH);
	cr_assert_null(reply);
	cr_assert(strstr(why, "authentication failed") != NULL, "message: %s", why);
	cr_assert_eq(handled, 0);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(secret_rpc, client_without_secret_is_refused_and_handler_never_runs) { expect_refused(NULL); }

Test(secret_rpc, client_with_another_secret_is_refused_and_handler_never_runs)
{
	expect_refused(secret_b);
}

Test(secret_rpc, unauthenticated_reply_is_an_error)
{
	// A server without the secret answers; a client with it refuses the reply.
	handled = 0;
	rl_rpc_server *srv = start_with(NULL);
	rl_rpc_client *cli = client_with(srv, secret_a);
	rl_msg        *reply = NULL;
	char           why[512];
	cr_assert_eq(heartbeat(cli, &reply, why, sizeof(why)), RL_ERR_AUTH);
	cr_assert_null(reply);
	cr_assert(strstr(why, "reply refused") != NULL, "message: %s", why);
	cr_assert_eq(handled, 1, "the server without a secret did run it");
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

Test(secret_rpc, no_secret_on_either_side_is_as_before)
{
	rl_rpc_server *srv = start_with(NULL);
	rl_rpc_client *cli = client_with(srv, NULL);
	rl_msg        *reply;
	char           why[512];
	cr_assert_eq(heartbeat(cli, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->auth.len, 0);
	rl_msg_free(reply);
	rl_rpc_client_destroy(cli);
	rl_rpc_server_destroy(srv);
}

// ---- frames made by hand, as docs/operations.md describes them ----

// signed_frame builds a heartbeat request frame with tail, MACed with secret
// as the documentation says; *ret_mac is its MAC.
static void
signed_frame(const char *secret, rl_buf *out, uint8_t ret_mac[RL_HMAC_LEN])
{
	Rill__Heartbeat hb = RILL__HEARTBEAT__INIT;
	hb.executor_id = "by hand";
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.version = RL_PROTO_VERSION;
	env.body_case = RILL__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	size_t   body = rill__envelope__get_packed_size(&env);
	uint8_t *packed = malloc(body);
	rill__envelope__pack(&env, packed);
	uint8_t be[4];
	rl_be32_put(be, (uint32_t)body);
	rl_hmac h;
	rl_hmac_init(&h, secret, strlen(secret));
	rl_hmac_update(&h, "rill request", sizeof("rill request")); // with its NUL
	rl_hmac_update(&h, be, 4);
	rl_hmac_update(&h, packed, body);
	rl_hmac_update(&h, "TAIL", 4);
	rl_hmac_final(&h, ret_mac);

	*out = RL_BUF_INIT;
	uint8_t hdr[4];
	rl_be32_put(hdr, (uint32_t)(body + 2 + RL_HMAC_LEN));
	rl_buf_append(out, hdr, 4);
	rl_buf_append(out, packed, body);
	rl_buf_append(out, "\x12\x20", 2);
	rl_buf_append(out, ret_mac, RL_HMAC_LEN);
	rl_buf_append(out, "TAIL", 4);
	free(packed);
}

// send_raw sends frame on a raw req socket and returns the decoded reply and
// the raw reply bytes (free both).
static Rill__Envelope *
send_raw(const rl_rpc_server *srv, const rl_buf *frame, char **ret_raw, size_t *ret_len)
{
	nng_socket raw;
	cr_assert_eq(nng_req0_open(&raw), 0);
	cr_assert_eq(nng_dial(raw, rl_rpc_server_url(srv), NULL, 0), 0);
	cr_assert_eq(nng_send(raw, frame->b_data, frame->b_len, 0), 0);
	char  *buf = NULL;
	size_t len = 0;
	cr_assert_eq(nng_recv(raw, &buf, &len, NNG_FLAG_ALLOC), 0);
	nng_close(raw);
	Rill__Envelope *env;
	const uint8_t  *tail;
	size_t          tail_len;
	char            why[256];
	cr_assert_eq(rl_frame_decode((uint8_t *)buf, len, &env, &tail, &tail_len, why, sizeof(why)),
	    RL_OK, "%s", why);
	*ret_raw = buf;
	*ret_len = len;
	return env;
}

Test(secret_rpc, hand_made_frame_is_accepted_and_its_reply_is_bound_to_it)
{
	handled = 0;
	rl_rpc_server *srv = start_with(secret_a);
	rl_buf         frame;
	uint8_t        mac[RL_HMAC_LEN];
	signed_frame(secret_a, &frame, mac);
	char           *raw;
	size_t          len;
	Rill__Envelope *env = send_raw(srv, &frame, &raw, &len);
	cr_assert_eq(env->body_case, RILL__ENVELOPE__BODY_HEARTBEAT_ACK);
	cr_assert_eq(handled, 1);
	// The reply's MAC: "rill reply" + the request's MAC + length + envelope + tail.
	uint32_t env_len = rl_be32_get((uint8_t *)raw);
	size_t   body = env_len - 2 - RL_HMAC_LEN;
	uint8_t  be[4], want[RL_HMAC_LEN];
	rl_be32_put(be, (uint32_t)body);
	rl_hmac h;
	rl_hmac_init(&h, secret_a, strlen(secret_a));
	rl_hmac_update(&h, "rill reply", sizeof("rill reply"));
	rl_hmac_update(&h, mac, RL_HMAC_LEN);
	rl_hmac_update(&h, be, 4);
	rl_hmac_update(&h, raw + 4, body);
	rl_hmac_update(&h, raw + 4 + env_len, len - 4 - env_len);
	rl_hmac_final(&h, want);
	cr_assert_eq(env->auth.len, RL_HMAC_LEN);
	cr_assert_eq(memcmp(env->auth.data, want, RL_HMAC_LEN), 0);
	rill__envelope__free_unpacked(env, NULL);
	nng_free(raw, len);
	rl_buf_fini(&frame);
	rl_rpc_server_destroy(srv);
}

static void
expect_tampered_refused(size_t flip_at_from_end)
{
	handled = 0;
	rl_rpc_server *srv = start_with(secret_a);
	rl_buf         frame;
	uint8_t        mac[RL_HMAC_LEN];
	signed_frame(secret_a, &frame, mac);
	frame.b_data[frame.b_len - flip_at_from_end] ^= 0x01;
	char           *raw;
	size_t          len;
	Rill__Envelope *env = send_raw(srv, &frame, &raw, &len);
	cr_assert_eq(env->body_case, RILL__ENVELOPE__BODY_ERROR);
	cr_assert_eq(env->error->code, RL_ERR_AUTH);
	cr_assert_str_eq(env->error->message, "authentication failed");
	cr_assert_eq(handled, 0, "the handler never saw the tampered frame");
	rill__envelope__free_unpacked(env, NULL);
	nng_free(raw, len);
	rl_buf_fini(&frame);
	rl_rpc_server_destroy(srv);
}

Test(secret_rpc, frame_with_a_byte_of_the_tail_flipped_is_refused)
{
	expect_tampered_refused(1); // the tail's last byte
}

Test(secret_rpc, frame_with_a_byte_of_the_envelope_flipped_is_refused)
{
	// 4 tail bytes, the MAC and its 2-byte header: this is the body's last byte
	// (the heartbeat's id), still a valid protobuf once flipped.
	expect_tampered_refused(4 + RL_HMAC_LEN + 2 + 1);
}

Test(secret_rpc, frame_with_the_mac_flipped_is_refused) { expect_tampered_refused(4 + 1); }
