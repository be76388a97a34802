// SPDX-License-Identifier: Apache-2.0
// The project's one error enum; rl_strerror() is generated from the same list.
#ifndef RL_ERROR_H
#define RL_ERROR_H

// X(name, text). Codes are stable: they travel in TaskResult and ErrorReply.
#define RL_ERR_MAP(X)                                                                              \
	X(OK, "no error")                                                                          \
	X(NOMEM, "out of memory")                                                                  \
	X(INVAL, "invalid argument")                                                               \
	X(PARSE, "malformed input")                                                                \
	X(IO, "input/output error")                                                                \
	X(NOENT, "no such entry")                                                                  \
	X(EXISTS, "already exists")                                                                \
	X(TIMEDOUT, "timed out")                                                                   \
	X(CLOSED, "closed")                                                                        \
	X(PROTO, "protocol error")                                                                 \
	X(VERSION, "unsupported version")                                                          \
	X(KAFKA, "Kafka error")                                                                    \
	X(DATA_LOSS, "data lost: offsets out of range")                                            \
	X(NET, "network error")                                                                    \
	X(BUSY, "busy")                                                                            \
	X(STALE_EPOCH, "stale epoch")                                                              \
	X(FETCH_FAILED, "shuffle fetch failed")                                                    \
	X(CANCELED, "canceled")                                                                    \
	X(NOTSUP, "not supported")                                                                 \
	X(USAGE, "bad usage")                                                                      \
	X(INTERNAL, "internal error")

typedef enum rl_err {
#define RL_ERR_ENUM(name, text) RL_ERR_##name,
	RL_ERR_MAP(RL_ERR_ENUM)
#undef RL_ERR_ENUM
	    RL_ERR__COUNT
} rl_err;

#define RL_OK RL_ERR_OK

// rl_strerror returns a static description of err; unknown codes give "unknown error".
const char *rl_strerror(int err);

// rl_errname returns the symbolic name ("TIMEDOUT") of err, for logs.
const char *rl_errname(int err);

#endif
