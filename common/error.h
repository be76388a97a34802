// SPDX-License-Identifier: Apache-2.0
// The project's one error enum; rl_strerror() is generated from the same list.
#ifndef RL_ERROR_H
#define RL_ERROR_H

#include <stddef.h>

#include <stdbool.h>

// X(name, value, text). Each value is pinned: codes travel on the wire (TaskResult.code,
// ErrorReply.code in proto/rill.proto), so a value is never changed or reused; a new code takes
// a new number, and tests/common/error_test.c pins them all.
#define RL_ERR_MAP(X)                                                                              \
	X(OK, 0, "no error")                                                                       \
	X(NOMEM, 1, "out of memory")                                                               \
	X(INVAL, 2, "invalid argument")                                                            \
	X(PARSE, 3, "malformed input")                                                             \
	X(IO, 4, "input/output error")                                                             \
	X(NOENT, 5, "no such entry")                                                               \
	X(EXISTS, 6, "already exists")                                                             \
	X(TIMEDOUT, 7, "timed out")                                                                \
	X(CLOSED, 8, "closed")                                                                     \
	X(PROTO, 9, "protocol error")                                                              \
	X(VERSION, 10, "unsupported version")                                                      \
	X(KAFKA, 11, "Kafka error")                                                                \
	X(DATA_LOSS, 12, "data lost: offsets out of range")                                        \
	X(NET, 13, "network error")                                                                \
	X(BUSY, 14, "busy")                                                                        \
	X(STALE_EPOCH, 15, "stale epoch")                                                          \
	X(FETCH_FAILED, 16, "shuffle fetch failed")                                                \
	X(CANCELED, 17, "canceled")                                                                \
	X(NOTSUP, 18, "not supported")                                                             \
	X(USAGE, 19, "bad usage")                                                                  \
	X(INTERNAL, 20, "internal error")                                                          \
	X(AUTH, 21, "authentication failed")

typedef enum rl_err {
#define RL_ERR_ENUM(name, value, text) RL_ERR_##name = value,
	RL_ERR_MAP(RL_ERR_ENUM)
#undef RL_ERR_ENUM
} rl_err;

#define RL_OK RL_ERR_OK

// rl_err_known says whether err is one of the codes in RL_ERR_MAP (values may have gaps);
// use it to check a code that came off the wire before casting it to rl_err.
bool rl_err_known(int err);

// rl_strerror returns a static description of err; unknown codes give "unknown error".
const char *rl_strerror(int err);

// rl_errbuf_printf writes a message into errbuf (printf-style, truncated to
// errlen); errbuf may be NULL or errlen 0, and then nothing is written.
void rl_errbuf_printf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// rl_errname returns the symbolic name ("TIMEDOUT") of err, for logs; unknown codes give
// "UNKNOWN".
const char *rl_errname(int err);

#endif
