// SPDX-License-Identifier: Apache-2.0
// nng req/rep transport for Envelope frames: framing, server workers, client calls.
#include "common/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/transport/tcp/tcp.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/sha256.h"
#include "common/time.h"

// ---- framing ----

rl_err
rl_frame_decode(const uint8_t *data, size_t len, Rill__Envelope **ret_env, const uint8_t **ret_tail,
    size_t *ret_tail_len, char *errbuf, size_t errlen)
{
	if (len < 4) {
		snprintf(
		    errbuf, errlen, "frame of %zu bytes is shorter than its 4-byte header", len);
		return RL_ERR_PROTO;
	}
	uint32_t env_len = rl_be32_get(data);
	if (env_len > len - 4) {
		snprintf(errbuf, errlen,
		    "frame header says %" PRIu32 " envelope bytes, frame has %zu", env_len,
		    len - 4);
		return RL_ERR_PROTO;
	}
	Rill__Envelope *env = rill__envelope__unpack(NULL, env_len, data + 4);
	if (env == NULL) {
		snprintf(errbuf, errlen, "envelope of %" PRIu32 " bytes does not decode", env_len);
		return RL_ERR_PROTO;
	}
	if (env->version != RL_PROTO_VERSION) {
		snprintf(errbuf, errlen, "protocol version %" PRIu32 " (this process speaks %u)",
		    env->version, RL_PROTO_VERSION);
		rill__envelope__free_unpacked(env, NULL);
		return RL_ERR_VERSION;
	}
	if (env->body_case == RILL__ENVELOPE__BODY__NOT_SET) {
		snprintf(errbuf, errlen, "envelope without a message");
		rill__envelope__free_unpacked(env, NULL);
		return RL_ERR_PROTO;
	}
	*ret_env = env;
	*ret_tail = data + 4 + env_len;
	*ret_tail_len = len - 4 - env_len;
	return RL_OK;
}

void
rl_frame_encode(Rill__Envelope *env, const void *tail, size_t tail_len, rl_buf *out)
{
	env->version = RL_PROTO_VERSION;
	size_t env_len = rill__envelope__get_packed_size(env);
	rl_buf_grow(out, 4 + env_len + tail_len);
	uint8_t *p = out->b_data + out->b_len;
	rl_be32_put(p, (uint32_t)env_len);
	rill__envelope__pack(env, p + 4);
	if (tail_len > 0)
		memcpy(p + 4 + env_len, tail, tail_len);
	out->b_len += 4 + env_len + tail_len;
}

// ---- authentication (docs/operations.md, "The cluster secret") ----
//
// With a secret, the envelope's last AUTH_FIELD_LEN bytes are its auth field
// (tag, length, MAC), appended to the envelope packed without it; the MAC is
// HMAC-SHA256(secret, label || be32(length of the envelope without auth) ||
// that envelope || tail). The label is "rill request" for a request and
// "rill reply" followed by the request's MAC for a reply (each with its NUL),
// so a reply answers one request only and a request cannot pass for a reply.
// The receiver checks the bytes as they came, before it decodes them.

#define AUTH_TAG 0x12 // field 2 (auth), wire type 2 (length-delimited)
#define AUTH_FIELD_LEN (2 + RL_HMAC_LEN)

static const char request_label[] = "rill request";
static const char reply_label[] = "rill reply";

// frame_mac computes the MAC of the envelope bytes env[0 .. env_len) and the
// tail; bind is the request's MAC for a reply, NULL for a request.
static void
frame_mac(const rl_secret *secret, const uint8_t *bind, const uint8_t *env, size_t env_len,
    const void *tail, size_t tail_len, uint8_t out[RL_HMAC_LEN])
{
	rl_hmac h;
	uint8_t be_len[4];
	rl_hmac_init(&h, secret->s_key, secret->s_len);
	if (bind == NULL) {
		rl_hmac_update(&h, request_label, sizeof(request_label));
	} else {
		rl_hmac_update(&h, reply_label, sizeof(reply_label));
		rl_hmac_update(&h, bind, RL_HMAC_LEN);
	}
	rl_be32_put(be_len, (uint32_t)env_len);
	rl_hmac_update(&h, be_len, sizeof(be_len));
	rl_hmac_update(&h, env, env_len);
	rl_hmac_update(&h, tail, tail_len);
	rl_hmac_final(&h, out);
}

// frame_check checks that the frame data[0 .. len) carries a valid MAC (see
// above) and writes it to ret_mac. RL_ERR_AUTH with the reason otherwise.
static rl_err
frame_check(const rl_secret *secret, const uint8_t *bind, const uint8_t *data, size_t len,
    uint8_t ret_mac[RL_HMAC_LEN], char *errbuf, size_t errlen)
{
	uint32_t env_len = len >= 4 ? rl_be32_get(data) : 0;
	if (len < 4 || env_len > len - 4 || env_len < AUTH_FIELD_LEN) {
		snprintf(errbuf, errlen, "authentication failed: a frame of %zu bytes without auth",
		    len);
		return RL_ERR_AUTH;
	}
	const uint8_t *field = data + 4 + env_len - AUTH_FIELD_LEN;
	if (field[0] != AUTH_TAG || field[1] != RL_HMAC_LEN) {
		snprintf(errbuf, errlen,
		    "authentication failed: the envelope does not end with its auth field "
		    "(the peer has no cluster secret?)");
		return RL_ERR_AUTH;
	}
	uint8_t want[RL_HMAC_LEN];
	frame_mac(secret, bind, data + 4, env_len - AUTH_FIELD_LEN, data + 4 + env_len,
	    len - 4 - env_len, want);
	if (!rl_hmac_equal(want, field + 2)) {
		snprintf(errbuf, errlen,
		    "authentication failed: the MAC does not match (another cluster secret, or "
		    "the frame was altered)");
		return RL_ERR_AUTH;
	}
	memcpy(ret_mac, field + 2, RL_HMAC_LEN);
	return RL_OK;
}

// frame_to_nng builds an nng message holding the frame for env (+ tail). With
// secret, the frame carries its MAC (bound to bind, the request's MAC, for a
// reply), also written to ret_mac (may be NULL).
static int
frame_to_nng(Rill__Envelope *env, const void *tail, size_t tail_len, const rl_secret *secret,
    const uint8_t *bind, uint8_t *ret_mac, nng_msg **ret)
{
	env->version = RL_PROTO_VERSION;
	env->auth.len = 0; // packed without it: it is appended below
	env->auth.data = NULL;
	size_t   body_len = rill__envelope__get_packed_size(env);
	size_t   env_len = body_len + (secret != NULL ? AUTH_FIELD_LEN : 0);
	nng_msg *m;
	int      rv = nng_msg_alloc(&m, 4 + env_len + tail_len);
	if (rv != 0)
		return rv;
	uint8_t *p = nng_msg_body(m);
	rl_be32_put(p, (uint32_t)env_len);
	rill__envelope__pack(env, p + 4);
	if (tail_len > 0)
		memcpy(p + 4 + env_len, tail, tail_len);
	if (secret != NULL) {
		uint8_t *field = p + 4 + body_len;
		field[0] = AUTH_TAG;
		field[1] = RL_HMAC_LEN;
		frame_mac(secret, bind, p + 4, body_len, tail, tail_len, field + 2);
		if (ret_mac != NULL)
			memcpy(ret_mac, field + 2, RL_HMAC_LEN);
	}
	*ret = m;
	return 0;
}

// secret_copy snapshots the process's cluster secret for a new socket.
static rl_secret *
secret_copy(void)
{
	const rl_secret *cur = rl_secret_current();
	if (cur == NULL)
		return NULL;
	rl_secret *copy = RL_NEW(rl_secret);
	*copy = *cur;
	return copy;
}

static void
secret_free(rl_secret *secret)
{
	if (secret == NULL)
		return;
	memset(secret, 0, sizeof(*secret));
	rl_free(secret);
}

// reply_refused explains a reply that failed authentication: when it is the
// peer's own refusal (an ErrorReply), its words are added (unproven).
static void
reply_refused(nng_msg *m, const char *why, char *errbuf, size_t errlen)
{
	Rill__Envelope *env;
	const uint8_t  *tail;
	size_t          tail_len;
	char            ignored[64];
	if (rl_frame_decode(
	        nng_msg_body(m), nng_msg_len(m), &env, &tail, &tail_len, ignored, sizeof(ignored))
	    != RL_OK) {
		snprintf(errbuf, errlen, "reply refused: %s", why);
		return;
	}
	if (env->body_case == RILL__ENVELOPE__BODY_ERROR && env->error->message != NULL)
		snprintf(errbuf, errlen, "reply refused: %s; it says (unproven): %s", why,
		    env->error->message);
	else
		snprintf(errbuf, errlen, "reply refused: %s", why);
	rill__envelope__free_unpacked(env, NULL);
}

// msg_from_nng decodes m into a new rl_msg that owns m; m is freed on error.
// With secret, m must be a reply to the request whose MAC is bind.
static rl_err
msg_from_nng(nng_msg *m, const rl_secret *secret, const uint8_t *bind, rl_msg **ret, char *errbuf,
    size_t errlen)
{
	if (secret != NULL) {
		uint8_t mac[RL_HMAC_LEN];
		char    why[256];
		if (frame_check(
		        secret, bind, nng_msg_body(m), nng_msg_len(m), mac, why, sizeof(why))
		    != RL_OK) {
			reply_refused(m, why, errbuf, errlen);
			nng_msg_free(m);
			return RL_ERR_AUTH;
		}
	}
	rl_msg *msg = RL_NEW(rl_msg);
	rl_err  rv = rl_frame_decode(nng_msg_body(m), nng_msg_len(m), &msg->m_env, &msg->m_tail,
	     &msg->m_tail_len, errbuf, errlen);
	if (rv != RL_OK) {
		rl_free(msg);
		nng_msg_free(m);
		return rv;
	}
	msg->m_frame = m;
	*ret = msg;
	return RL_OK;
}

void
rl_msg_free(rl_msg *msg)
{
	if (msg == NULL)
		return;
	rill__envelope__free_unpacked(msg->m_env, NULL);
	nng_msg_free(msg->m_frame);
	rl_free(msg);
}

static rl_err
from_nng(int rv)
{
	switch (rv) {
	case 0:
		return RL_OK;
	case NNG_ENOMEM:
		return RL_ERR_NOMEM;
	case NNG_ETIMEDOUT:
		return RL_ERR_TIMEDOUT;
	case NNG_ECLOSED:
		return RL_ERR_CLOSED;
	case NNG_ECANCELED:
		return RL_ERR_CANCELED;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return RL_ERR_INVAL;
	case NNG_EPROTO:
		return RL_ERR_PROTO;
	default:
		return RL_ERR_NET;
	}
}

rl_err
rl_msg_decode(const uint8_t *frame, size_t len, rl_msg **ret, char *errbuf, size_t errlen)
{
	nng_msg *m;
	int      rv = nng_msg_alloc(&m, len);
	if (rv != 0) {
		snprintf(errbuf, errlen, "message of %zu bytes: %s", len, nng_strerror(rv));
		return from_nng(rv);
	}
	if (len > 0)
		memcpy(nng_msg_body(m), frame, len);
	return msg_from_nng(m, NULL, NULL, ret, errbuf, errlen);
}

bool
rl_rpc_url_split(const char *url, char *host, size_t hostlen, int *port)
{
	const char *prefix = "tcp://";
	if (strncmp(url, prefix, strlen(prefix)) != 0)
		return false;
	const char *h = url + strlen(prefix);
	const char *colon = strrchr(h, ':');
	if (colon == NULL || colon == h || (size_t)(colon - h) >= hostlen)
		return false;
	char *end;
	long  p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return false;
	memcpy(host, h, (size_t)(colon - h));
	host[colon - h] = '\0';
	*port = (int)p;
	return true;
}

static void
format_peer(nng_msg *m, char *buf, size_t len)
{
	nng_sockaddr sa;
	nng_pipe     p = nng_msg_get_pipe(m);
	snprintf(buf, len, "unknown");
	if (nng_pipe_id(p) < 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	if (sa.s_family == NNG_AF_INET) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sa.s_in.sa_port));
	} else if (sa.s_family == NNG_AF_INET6) {
		char ip[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
	}
}

static void
set_socket_limits(nng_socket s)
{
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, RL_FRAME_MAX);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
}

// ---- server ----

typedef struct worker {
	rl_rpc_server *w_srv;
	pthread_t      w_thread;
	nng_ctx        w_ctx;
	nng_aio       *w_aio;
	rl_arena       w_arena;
	bool           w_started;
} worker;

struct rl_rpc_server {
	nng_socket     s_sock;
	nng_listener   s_listener;
	char           s_url[256];
	int            s_nworkers;
	worker        *s_workers;
	rl_rpc_handler s_handler;
	void          *s_arg;
	rl_secret     *s_secret; // NULL: none
	_Atomic bool   s_closing;
	// Workers serve nothing before create has written *ret (s_open).
	pthread_mutex_t s_gate_mu;
	pthread_cond_t  s_gate;
	bool            s_open;
};

static void
reply_error(rl_reply *reply, rl_err code, const char *message)
{
	Rill__ErrorReply *er = rl_arena_alloc(reply->r_arena, sizeof(*er));
	rill__error_reply__init(er);
	er->code = (uint32_t)code;
	er->message = rl_arena_memdup(reply->r_arena, message, strlen(message) + 1);
	reply->r_env.body_case = RILL__ENVELOPE__BODY_ERROR;
	reply->r_env.error = er;
}

static void
serve_one(worker *w, nng_msg *m)
{
	rl_rpc_server *srv = w->w_srv;
	char           peer[64], why[256];
	format_peer(m, peer, sizeof(peer));
	rl_reply reply = { .r_arena = &w->w_arena };
	rill__envelope__init(&reply.r_env);

	rl_msg  req = { 0 };
	uint8_t req_mac[RL_HMAC_LEN] = { 0 };
	rl_err  rv = RL_OK;
	if (srv->s_secret != NULL
	    && (rv = frame_check(srv->s_secret, NULL, nng_msg_body(m), nng_msg_len(m), req_mac, why,
	            sizeof(why)))
	        != RL_OK) {
		rl_warn("rpc", "refused an unauthenticated request",
		    "url=%s peer=%s bytes=%zu error=\"%s\"", srv->s_url, peer, nng_msg_len(m), why);
		reply_error(&reply, rv, "authentication failed");
	} else if ((rv = rl_frame_decode(nng_msg_body(m), nng_msg_len(m), &req.m_env, &req.m_tail,
	                &req.m_tail_len, why, sizeof(why)))
	    != RL_OK) {
		rl_warn("rpc", "refused a malformed frame", "url=%s peer=%s bytes=%zu error=\"%s\"",
		    srv->s_url, peer, nng_msg_len(m), why);
		reply_error(&reply, rv, why);
	} else {
		req.m_frame = m;
		srv->s_handler(srv->s_arg, &req, peer, &reply);
		if (reply.r_env.body_case == RILL__ENVELOPE__BODY__NOT_SET)
			reply_error(&reply, RL_ERR_PROTO, "request not understood");
	}

	nng_msg *out;
	int      nrv = frame_to_nng(
	         &reply.r_env, reply.r_tail, reply.r_tail_len, srv->s_secret, req_mac, NULL, &out);
	if (nrv == 0) {
		nng_aio_set_msg(w->w_aio, out);
		nng_ctx_send(w->w_ctx, w->w_aio);
		nng_aio_wait(w->w_aio);
		if (nng_aio_result(w->w_aio) != 0)
			nng_msg_free(out);
	}
	// The reply may point into the request: free it only now.
	if (req.m_env != NULL)
		rill__envelope__free_unpacked(req.m_env, NULL);
	nng_msg_free(m);
	if (reply.r_done != NULL)
		reply.r_done(reply.r_done_arg);
	rl_arena_reset(&w->w_arena);
}

static void *
worker_main(void *arg)
{
	worker        *w = arg;
	rl_rpc_server *srv = w->w_srv;
	pthread_mutex_lock(&srv->s_gate_mu);
	while (!srv->s_open)
		pthread_cond_wait(&srv->s_gate, &srv->s_gate_mu);
	pthread_mutex_unlock(&srv->s_gate_mu);
	while (!srv->s_closing) {
		nng_ctx_recv(w->w_ctx, w->w_aio);
		nng_aio_wait(w->w_aio);
		int rv = nng_aio_result(w->w_aio);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			continue;
		serve_one(w, nng_aio_get_msg(w->w_aio));
	}
	return NULL;
}

// open_gate lets the workers serve (or, with s_closing set, leave).
static void
open_gate(rl_rpc_server *srv)
{
	pthread_mutex_lock(&srv->s_gate_mu);
	srv->s_open = true;
	pthread_cond_broadcast(&srv->s_gate);
	pthread_mutex_unlock(&srv->s_gate_mu);
}

rl_err
rl_rpc_server_create(const char *url, int nworkers, rl_rpc_handler handler, void *arg,
    rl_rpc_server **ret, char *errbuf, size_t errlen)
{
	char host[200];
	int  port, rv;
	if (!rl_rpc_url_split(url, host, sizeof(host), &port)) {
		snprintf(errbuf, errlen, "listen URL '%s' is not of the form tcp://HOST:PORT", url);
		return RL_ERR_INVAL;
	}
	rl_rpc_server *srv = RL_NEW(rl_rpc_server);
	srv->s_handler = handler;
	srv->s_arg = arg;
	srv->s_secret = secret_copy();
	pthread_mutex_init(&srv->s_gate_mu, NULL);
	pthread_cond_init(&srv->s_gate, NULL);
	if ((rv = nng_rep0_open(&srv->s_sock)) != 0) {
		snprintf(errbuf, errlen, "rep socket: %s", nng_strerror(rv));
		goto err_alloc;
	}
	set_socket_limits(srv->s_sock);
	if ((rv = nng_listen(srv->s_sock, url, &srv->s_listener, 0)) != 0) {
		snprintf(errbuf, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
		goto err_sock;
	}
	int bound = port;
	nng_listener_get_int(srv->s_listener, NNG_OPT_TCP_BOUND_PORT, &bound);
	snprintf(srv->s_url, sizeof(srv->s_url), "tcp://%s:%d", host, bound);

	srv->s_nworkers = nworkers;
	srv->s_workers = rl_calloc((size_t)nworkers, sizeof(worker));
	for (int i = 0; i < nworkers; i++) {
		worker *w = &srv->s_workers[i];
		w->w_srv = srv;
		rl_arena_init(&w->w_arena, 4096);
		if ((rv = nng_ctx_open(&w->w_ctx, srv->s_sock)) != 0
		    || (rv = nng_aio_alloc(&w->w_aio, NULL, NULL)) != 0) {
			snprintf(errbuf, errlen, "server context: %s", nng_strerror(rv));
			goto err_workers;
		}
		int prv = pthread_create(&w->w_thread, NULL, worker_main, w);
		if (prv != 0) {
			snprintf(errbuf, errlen, "cannot start a server thread: %s", strerror(prv));
			rv = NNG_ENOMEM;
			goto err_workers;
		}
		w->w_started = true;
	}
	// A request may already wait: its handler may use what *ret points to.
	*ret = srv;
	open_gate(srv);
	return RL_OK;

err_workers:
	rl_rpc_server_destroy(srv);
	return from_nng(rv);
err_sock:
	nng_close(srv->s_sock);
err_alloc:
	pthread_cond_destroy(&srv->s_gate);
	pthread_mutex_destroy(&srv->s_gate_mu);
	secret_free(srv->s_secret);
	rl_free(srv);
	return from_nng(rv);
}

const char *
rl_rpc_server_url(const rl_rpc_server *srv)
{
	return srv->s_url;
}

// A socket's close, on a thread of its own: nng 1.5's nng_close can wait
// forever on a pipe it never lets go (nanomsg/nng#1236, #1543, #1813 are of
// that kind); a `rill run` whose job had stopped once hung there at exit.
typedef struct closer {
	nng_socket      c_sock;
	pthread_mutex_t c_mu;
	pthread_cond_t  c_done_cv;
	bool            c_done, c_abandoned;
} closer;

static void
closer_free(closer *c)
{
	pthread_mutex_destroy(&c->c_mu);
	pthread_cond_destroy(&c->c_done_cv);
	rl_free(c);
}

static void *
closer_main(void *arg)
{
	closer *c = arg;
	nng_close(c->c_sock);
	pthread_mutex_lock(&c->c_mu);
	c->c_done = true;
	bool abandoned = c->c_abandoned;
	pthread_cond_signal(&c->c_done_cv);
	pthread_mutex_unlock(&c->c_mu);
	if (abandoned)
		closer_free(c);
	return NULL;
}

#define CLOSE_WAIT_MS 5000

// close_within closes sock, waiting at most CLOSE_WAIT_MS; false if the
// close is still stuck then (its thread goes on alone; what it holds leaks).
static bool
close_within(nng_socket sock)
{
	closer *c = RL_NEW(closer);
	c->c_sock = sock;
	pthread_mutex_init(&c->c_mu, NULL);
	pthread_cond_init(&c->c_done_cv, NULL);
	pthread_t th;
	if (pthread_create(&th, NULL, closer_main, c) != 0) {
		nng_close(sock);
		closer_free(c);
		return true;
	}
	pthread_detach(th);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CLOSE_WAIT_MS / 1000;
	pthread_mutex_lock(&c->c_mu);
	while (!c->c_done)
		if (pthread_cond_timedwait(&c->c_done_cv, &c->c_mu, &ts) == ETIMEDOUT)
			break;
	bool done = c->c_done;
	c->c_abandoned = !done;
	pthread_mutex_unlock(&c->c_mu);
	if (done)
		closer_free(c);
	return done;
}

void
rl_rpc_server_destroy(rl_rpc_server *srv)
{
	if (srv == NULL)
		return;
	// Every worker leaves before the socket closes: nng 1.5 panics when a
	// worker sends its reply on a context that nng_close freed meanwhile.
	// nng_aio_stop aborts what a worker waits for (a request) and makes
	// every later operation on its aio fail at once with NNG_ECANCELED,
	// so a worker in a handler finishes it, its reply is dropped, and it
	// sees s_closing: nothing can block it again. Then join them all.
	srv->s_closing = true;
	open_gate(srv); // a failed create never opened it
	for (int i = 0; i < srv->s_nworkers; i++)
		if (srv->s_workers[i].w_aio != NULL)
			nng_aio_stop(srv->s_workers[i].w_aio);
	for (int i = 0; i < srv->s_nworkers; i++)
		if (srv->s_workers[i].w_started)
			pthread_join(srv->s_workers[i].w_thread, NULL);
	if (!close_within(srv->s_sock)) {
		// The socket may still use the workers' aios: leave them be.
		rl_warn("rpc", "socket close stuck, going on without it", "waited_ms=%d",
		    CLOSE_WAIT_MS);
		return;
	}
	for (int i = 0; i < srv->s_nworkers; i++) {
		worker *w = &srv->s_workers[i];
		if (w->w_aio != NULL)
			nng_aio_free(w->w_aio);
		rl_arena_fini(&w->w_arena);
	}
	rl_free(srv->s_workers);
	pthread_cond_destroy(&srv->s_gate);
	pthread_mutex_destroy(&srv->s_gate_mu);
	secret_free(srv->s_secret);
	rl_free(srv);
}

// ---- client ----

typedef struct call call;

struct rl_rpc_client {
	nng_socket      c_sock;
	char           *c_url;
	rl_secret      *c_secret; // NULL: none
	pthread_mutex_t c_mu; // guards c_calls and c_ncalls
	call           *c_calls; // in flight and not finished, for cancel_all
	int             c_ncalls; // async calls whose callback has not returned
	pthread_cond_t  c_idle; // c_ncalls dropped to 0
	_Atomic int     c_pipes;
	pthread_mutex_t c_link_mu; // guards the callback; with c_link_cond:
	pthread_cond_t  c_link_cond; // waiting for a connection
	rl_rpc_link_cb  c_link_cb;
	void           *c_link_arg;
};

enum { CALL_SEND, CALL_RECV };

struct call {
	rl_rpc_client *k_cli;
	nng_ctx        k_ctx;
	nng_aio       *k_aio;
	int            k_state;
	bool           k_canceled;
	uint8_t        k_mac[RL_HMAC_LEN]; // the request's, with a secret
	int64_t        k_deadline_ms; // monotonic, < 0 = none
	rl_rpc_done_cb k_done;
	void          *k_arg;
	call          *k_prev, *k_next;
};

static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rl_rpc_client *cli = arg;
	(void)p;
	if (ev != NNG_PIPE_EV_ADD_POST && ev != NNG_PIPE_EV_REM_POST)
		return;
	pthread_mutex_lock(&cli->c_link_mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		cli->c_pipes++;
		pthread_cond_broadcast(&cli->c_link_cond);
	} else {
		cli->c_pipes--;
	}
	rl_rpc_link_cb cb = cli->c_link_cb;
	void          *cb_arg = cli->c_link_arg;
	pthread_mutex_unlock(&cli->c_link_mu);
	if (cb != NULL)
		cb(cb_arg, ev == NNG_PIPE_EV_ADD_POST);
}

rl_err
rl_rpc_client_create(const char *url, rl_rpc_client **ret, char *errbuf, size_t errlen)
{
	int            rv;
	rl_rpc_client *cli = RL_NEW(rl_rpc_client);
	if ((rv = nng_req0_open(&cli->c_sock)) != 0) {
		snprintf(errbuf, errlen, "req socket: %s", nng_strerror(rv));
		rl_free(cli);
		return from_nng(rv);
	}
	set_socket_limits(cli->c_sock);
	// A request is sent once: rill retries tasks itself, on another executor.
	nng_socket_set_ms(cli->c_sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	pthread_mutex_init(&cli->c_mu, NULL);
	pthread_cond_init(&cli->c_idle, NULL);
	pthread_mutex_init(&cli->c_link_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cli->c_link_cond, &ca);
	pthread_condattr_destroy(&ca);
	cli->c_url = rl_strdup(url);
	cli->c_secret = secret_copy();
	nng_pipe_notify(cli->c_sock, NNG_PIPE_EV_ADD_POST, pipe_event, cli);
	nng_pipe_notify(cli->c_sock, NNG_PIPE_EV_REM_POST, pipe_event, cli);
	if ((rv = nng_dial(cli->c_sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		snprintf(errbuf, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
		rl_rpc_client_destroy(cli);
		return from_nng(rv);
	}
	*ret = cli;
	return RL_OK;
}

void
rl_rpc_client_destroy(rl_rpc_client *cli)
{
	if (cli == NULL)
		return;
	// Every async call ends before the socket closes (the server's rule:
	// nng_close frees contexts that their callbacks may still be using).
	// Canceled, a call finishes on an nng thread; the last one to return
	// from its callback signals c_idle.
	// Neither the wait nor the close may hang the caller for good (nng 1.5
	// can lose a canceled call's completion, or stick in nng_close, nng
	// issues #1543 and #1813): past CLOSE_WAIT_MS the client is left as it
	// is, leaked, with a warning.
	rl_rpc_client_cancel_all(cli);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLOSE_WAIT_MS / 1000;
	pthread_mutex_lock(&cli->c_mu);
	while (cli->c_ncalls > 0)
		if (pthread_cond_timedwait(&cli->c_idle, &cli->c_mu, &until) == ETIMEDOUT)
			break;
	int left = cli->c_ncalls;
	pthread_mutex_unlock(&cli->c_mu);
	if (left > 0) {
		rl_warn("rpc", "canceled calls did not end, leaving the client open",
		    "url=%s calls=%d waited_ms=%d", cli->c_url, left, CLOSE_WAIT_MS);
		return;
	}
	if (!close_within(cli->c_sock)) {
		rl_warn("rpc", "socket close stuck, going on without it", "url=%s waited_ms=%d",
		    cli->c_url, CLOSE_WAIT_MS);
		return;
	}
	pthread_mutex_destroy(&cli->c_mu);
	pthread_cond_destroy(&cli->c_idle);
	pthread_cond_destroy(&cli->c_link_cond);
	pthread_mutex_destroy(&cli->c_link_mu);
	rl_free(cli->c_url);
	secret_free(cli->c_secret);
	rl_free(cli);
}

const char *
rl_rpc_client_url(const rl_rpc_client *cli)
{
	return cli->c_url;
}

void
rl_rpc_client_on_link(rl_rpc_client *cli, rl_rpc_link_cb cb, void *arg)
{
	// The dial has started already: a pipe event may be running.
	pthread_mutex_lock(&cli->c_link_mu);
	cli->c_link_arg = arg;
	cli->c_link_cb = cb;
	pthread_mutex_unlock(&cli->c_link_mu);
}

bool
rl_rpc_client_connected(rl_rpc_client *cli)
{
	return cli->c_pipes > 0;
}

bool
rl_rpc_client_wait_connected(rl_rpc_client *cli, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cli->c_link_mu);
	int rv = 0;
	while (cli->c_pipes == 0 && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&cli->c_link_cond, &cli->c_link_mu, &until);
	bool up = cli->c_pipes > 0;
	pthread_mutex_unlock(&cli->c_link_mu);
	return up;
}

// reply_to_result turns an ErrorReply into an error; otherwise keeps the reply.
static rl_err
reply_to_result(rl_msg *msg, char *errbuf, size_t errlen)
{
	if (msg->m_env->body_case != RILL__ENVELOPE__BODY_ERROR)
		return RL_OK;
	Rill__ErrorReply *er = msg->m_env->error;
	snprintf(errbuf, errlen, "peer says: %s", er->message);
	rl_err code
	    = er->code != RL_OK && rl_err_known((int)er->code) ? (rl_err)er->code : RL_ERR_PROTO;
	return code;
}

rl_err
rl_rpc_call(rl_rpc_client *cli, Rill__Envelope *req, const void *tail, size_t tail_len,
    int timeout_ms, rl_msg **ret, char *errbuf, size_t errlen)
{
	nng_ctx  ctx;
	nng_aio *aio;
	nng_msg *m;
	uint8_t  mac[RL_HMAC_LEN];
	int      rv;
	if ((rv = nng_ctx_open(&ctx, cli->c_sock)) != 0) {
		snprintf(errbuf, errlen, "%s: %s", cli->c_url, nng_strerror(rv));
		return from_nng(rv);
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto err_ctx;
	if ((rv = frame_to_nng(req, tail, tail_len, cli->c_secret, NULL, mac, &m)) != 0)
		goto err_aio;
	int64_t deadline = rl_mono_ms() + timeout_ms;
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(m);
		goto err_aio;
	}
	int64_t left = deadline - rl_mono_ms();
	nng_aio_set_timeout(aio, left > 0 ? (nng_duration)left : 1);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto err_aio;
	m = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	nng_ctx_close(ctx);

	rl_msg *msg;
	rl_err  err = msg_from_nng(m, cli->c_secret, mac, &msg, errbuf, errlen);
	if (err != RL_OK)
		return err;
	if ((err = reply_to_result(msg, errbuf, errlen)) != RL_OK) {
		rl_msg_free(msg);
		return err;
	}
	*ret = msg;
	return RL_OK;

err_aio:
	nng_aio_free(aio);
err_ctx:
	nng_ctx_close(ctx);
	snprintf(errbuf, errlen, "%s: %s", cli->c_url, nng_strerror(rv));
	return from_nng(rv);
}

static void
call_finish(call *k, rl_err err, const char *why, rl_msg *reply)
{
	rl_rpc_client *cli = k->k_cli;
	pthread_mutex_lock(&cli->c_mu);
	if (k->k_prev != NULL)
		k->k_prev->k_next = k->k_next;
	else
		cli->c_calls = k->k_next;
	if (k->k_next != NULL)
		k->k_next->k_prev = k->k_prev;
	pthread_mutex_unlock(&cli->c_mu);

	k->k_done(k->k_arg, err, why, reply);
	nng_ctx_close(k->k_ctx);
	nng_aio_reap(k->k_aio);
	rl_free(k);
	// The last thing a call does with cli: destroy may free it right after.
	pthread_mutex_lock(&cli->c_mu);
	if (--cli->c_ncalls == 0)
		pthread_cond_broadcast(&cli->c_idle);
	pthread_mutex_unlock(&cli->c_mu);
}

static void
call_step(void *arg)
{
	call          *k = arg;
	rl_rpc_client *cli = k->k_cli;
	int            rv = nng_aio_result(k->k_aio);
	char           why[256];
	if (k->k_state == CALL_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(k->k_aio));
			call_finish(k, from_nng(rv), nng_strerror(rv), NULL);
			return;
		}
		pthread_mutex_lock(&cli->c_mu);
		bool canceled = k->k_canceled;
		if (!canceled) {
			k->k_state = CALL_RECV;
			if (k->k_deadline_ms >= 0) {
				int64_t left = k->k_deadline_ms - rl_mono_ms();
				nng_aio_set_timeout(k->k_aio, left > 0 ? (nng_duration)left : 1);
			}
			nng_ctx_recv(k->k_ctx, k->k_aio);
		}
		pthread_mutex_unlock(&cli->c_mu);
		if (canceled)
			call_finish(k, RL_ERR_CANCELED, rl_strerror(RL_ERR_CANCELED), NULL);
		return;
	}
	if (rv != 0) {
		call_finish(k, from_nng(rv), nng_strerror(rv), NULL);
		return;
	}
	rl_msg *msg;
	rl_err  err = msg_from_nng(
	     nng_aio_get_msg(k->k_aio), cli->c_secret, k->k_mac, &msg, why, sizeof(why));
	if (err == RL_OK && (err = reply_to_result(msg, why, sizeof(why))) != RL_OK) {
		rl_msg_free(msg);
		msg = NULL;
	}
	if (err != RL_OK)
		rl_warn("rpc", "bad reply", "url=%s error=\"%s\"", cli->c_url, why);
	call_finish(k, err, err == RL_OK ? "" : why, err == RL_OK ? msg : NULL);
}

void
rl_rpc_call_async(
    rl_rpc_client *cli, Rill__Envelope *req, int timeout_ms, rl_rpc_done_cb done, void *arg)
{
	call    *k = RL_NEW(call);
	nng_msg *m;
	int      rv;
	k->k_cli = cli;
	k->k_done = done;
	k->k_arg = arg;
	k->k_deadline_ms = timeout_ms < 0 ? -1 : rl_mono_ms() + timeout_ms;
	if ((rv = nng_ctx_open(&k->k_ctx, cli->c_sock)) != 0)
		goto err_call;
	if ((rv = nng_aio_alloc(&k->k_aio, call_step, k)) != 0)
		goto err_ctx;
	if ((rv = frame_to_nng(req, NULL, 0, cli->c_secret, NULL, k->k_mac, &m)) != 0)
		goto err_aio;
	nng_aio_set_timeout(k->k_aio, timeout_ms < 0 ? NNG_DURATION_INFINITE : timeout_ms);
	nng_aio_set_msg(k->k_aio, m);
	pthread_mutex_lock(&cli->c_mu);
	k->k_next = cli->c_calls;
	if (cli->c_calls != NULL)
		cli->c_calls->k_prev = k;
	cli->c_calls = k;
	cli->c_ncalls++;
	k->k_state = CALL_SEND;
	nng_ctx_send(k->k_ctx, k->k_aio);
	pthread_mutex_unlock(&cli->c_mu);
	return;

err_aio:
	nng_aio_free(k->k_aio);
err_ctx:
	nng_ctx_close(k->k_ctx);
err_call:
	rl_free(k);
	done(arg, from_nng(rv), nng_strerror(rv), NULL);
}

void
rl_rpc_client_cancel_all(rl_rpc_client *cli)
{
	pthread_mutex_lock(&cli->c_mu);
	for (call *k = cli->c_calls; k != NULL; k = k->k_next) {
		k->k_canceled = true;
		nng_aio_cancel(k->k_aio);
	}
	pthread_mutex_unlock(&cli->c_mu);
}

void
rl_rpc_fini(void)
{
	nng_fini();
}
