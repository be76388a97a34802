// SPDX-License-Identifier: Apache-2.0
// Request/reply messaging between rill processes (the only module that talks nng).
//
// A frame is: u32 big-endian length L, L bytes of a protobuf Rill__Envelope,
// then an optional raw tail (shuffle-block bytes) that is never protobuf.
// With a cluster secret (common/secret.h) the envelope ends with its auth
// field, a MAC of the envelope and tail (docs/operations.md).
#ifndef RL_RPC_H
#define RL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "rill.pb-c.h"

#define RL_PROTO_VERSION 3u
// Largest frame a rill process accepts from the network.
#define RL_FRAME_MAX (256u * 1024u * 1024u)

// A received frame: the decoded envelope and a view of its raw tail.
typedef struct rl_msg {
	Rill__Envelope *m_env;
	const uint8_t  *m_tail;
	size_t          m_tail_len;
	void           *m_frame; // owns the bytes
} rl_msg;

// rl_frame_decode checks and decodes a frame of len bytes at data. It never
// trusts the input: a short frame, a length beyond the frame, an envelope that
// does not unpack, another version or an empty body are RL_ERR_PROTO (or
// RL_ERR_VERSION) with a reason in errbuf. On success *ret_env (free with
// rill__envelope__free_unpacked) and the tail (a view into data) are written.
rl_err rl_frame_decode(const uint8_t *data, size_t len, Rill__Envelope **ret_env,
    const uint8_t **ret_tail, size_t *ret_tail_len, char *errbuf, size_t errlen);

// rl_frame_encode appends the frame for env (+ tail) to out; sets env's version.
void rl_frame_encode(Rill__Envelope *env, const void *tail, size_t tail_len, rl_buf *out);

// rl_msg_decode makes a message of the frame's len bytes (copied), as a
// call's reply is made of what the network delivered: for answers given in
// this process (driver/executors.h's local executors). Errors as
// rl_frame_decode's.
rl_err rl_msg_decode(const uint8_t *frame, size_t len, rl_msg **ret, char *errbuf, size_t errlen);

// rl_msg_free releases a received message; NULL is a no-op.
void rl_msg_free(rl_msg *msg);

// ---- Server: a rep socket served by worker threads, one context each. ----

typedef struct rl_rpc_server rl_rpc_server;

// What a handler answers. The handler sets r_env's body (the version is set
// for it), may point r_tail at bytes that stay valid until the reply is sent
// (r_done runs after that), and may allocate from r_arena (reset after the send).
typedef struct rl_reply {
	Rill__Envelope r_env;
	const void    *r_tail;
	size_t         r_tail_len;
	rl_arena      *r_arena;
	void (*r_done)(void *arg); // called after the reply is sent, or NULL
	void *r_done_arg;
} rl_reply;

// rl_rpc_handler answers one request. It runs on one of the server's worker
// threads, so up to nworkers handlers run at once. A handler may block (run a
// task); requests that must not wait behind it are served by other workers.
// The request stays valid until the reply has been sent, so the reply may
// point into it.
typedef void (*rl_rpc_handler)(void *arg, const rl_msg *req, const char *peer, rl_reply *reply);

// rl_rpc_server_create listens on url (tcp://IP:PORT, port 0 picks a free
// one) and starts nworkers threads. Malformed frames are answered with an
// ErrorReply and logged; they never reach the handler. With the process's
// cluster secret at this call (rl_secret_current), so are frames without a
// valid MAC (an RL_ERR_AUTH ErrorReply, logged with the peer), and every
// reply carries a MAC bound to its request. No handler runs
// before *ret is written, so a handler may read it (through arg).
rl_err rl_rpc_server_create(const char *url, int nworkers, rl_rpc_handler handler, void *arg,
    rl_rpc_server **ret, char *errbuf, size_t errlen);
// rl_rpc_server_url is the URL actually bound (with the chosen port).
const char *rl_rpc_server_url(const rl_rpc_server *srv);
// rl_rpc_server_destroy closes the socket and joins the workers; NULL is a no-op.
void rl_rpc_server_destroy(rl_rpc_server *srv);

// ---- Client: a req socket dialed to one peer, reconnecting in background. ----

typedef struct rl_rpc_client rl_rpc_client;

// Called from nng's threads when the connection comes up or goes down.
typedef void (*rl_rpc_link_cb)(void *arg, bool up);

// rl_rpc_client_create dials url in the background. With the process's cluster
// secret at this call, every request carries its MAC and a reply without a
// valid one fails the call with RL_ERR_AUTH.
rl_err      rl_rpc_client_create(const char *url, rl_rpc_client **ret, char *errbuf, size_t errlen);
void        rl_rpc_client_destroy(rl_rpc_client *cli);
const char *rl_rpc_client_url(const rl_rpc_client *cli);
// rl_rpc_client_on_link registers cb for connection changes; call before use.
void rl_rpc_client_on_link(rl_rpc_client *cli, rl_rpc_link_cb cb, void *arg);
bool rl_rpc_client_connected(rl_rpc_client *cli);
// rl_rpc_client_wait_connected waits up to timeout_ms for a connection;
// false if there is none by then (the peer may be gone).
bool rl_rpc_client_wait_connected(rl_rpc_client *cli, int timeout_ms);

// rl_rpc_call sends req (+tail) and waits up to timeout_ms for the reply.
// On success *ret is the reply (caller frees with rl_msg_free). A reply that is
// an ErrorReply is returned as that error with its message in errbuf.
// @locality any thread; calls on one client may run concurrently.
rl_err rl_rpc_call(rl_rpc_client *cli, Rill__Envelope *req, const void *tail, size_t tail_len,
    int timeout_ms, rl_msg **ret, char *errbuf, size_t errlen);

// Completion of an asynchronous call, on an nng thread. On success reply is
// the answer and the callee owns it, and why is ""; otherwise reply is NULL and
// why says what failed in nng's own words (nng_strerror) or the peer's (an
// ErrorReply's message). why is valid only during the call: copy it to keep it.
typedef void (*rl_rpc_done_cb)(void *arg, rl_err err, const char *why, rl_msg *reply);

// rl_rpc_call_async sends req and calls done exactly once. A timeout_ms < 0 waits forever.
void rl_rpc_call_async(
    rl_rpc_client *cli, Rill__Envelope *req, int timeout_ms, rl_rpc_done_cb done, void *arg);
// rl_rpc_client_cancel_all ends every call in flight on cli with RL_ERR_CANCELED.
void rl_rpc_client_cancel_all(rl_rpc_client *cli);

// rl_rpc_url_host_port splits tcp://HOST:PORT; returns false if url is not that form.
bool rl_rpc_url_split(const char *url, char *host, size_t hostlen, int *port);

// rl_rpc_fini frees what nng still holds once every socket of the process
// is closed: replies accepted for a peer that went away stay queued until
// nng's reaper runs, and a process exiting before it would leak them (leak
// checkers see it). Call it last, from main, after every rl_rpc_* object is
// destroyed. @locality the main thread, at exit
void rl_rpc_fini(void);

#endif
