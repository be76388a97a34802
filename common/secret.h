// SPDX-License-Identifier: Apache-2.0
// The cluster secret: loading it from its file, and the one this process uses
// for every rpc link and ZooKeeper session it opens (docs/operations.md).
#ifndef RL_SECRET_H
#define RL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

// A secret file holds at least RL_SECRET_MIN and at most RL_SECRET_MAX bytes
// after one trailing newline ("\n" or "\r\n") is trimmed.
#define RL_SECRET_MIN 16
#define RL_SECRET_MAX 4096

typedef struct rl_secret {
	uint8_t s_key[RL_SECRET_MAX];
	size_t  s_len;
	char    s_path[4096]; // the file it came from ("" when made in memory)
} rl_secret;

// rl_secret_load reads the secret in path. It refuses, with RL_ERR_INVAL and
// "PATH: why" in errbuf, a file that is not a regular file, that others (not
// owner or group) may read or write, or whose secret is shorter than
// RL_SECRET_MIN or longer than RL_SECRET_MAX; RL_ERR_IO when it cannot be
// read. *ret is written only on success.
rl_err rl_secret_load(const char *path, rl_secret *ret, char *errbuf, size_t errlen);

// rl_secret_use makes secret (copied; NULL: none) the cluster secret of this
// process: rpc servers and clients and ZooKeeper sessions created after the
// call use it, those created before keep what they had. Call it before the
// threads that create them start (tests switch it between creations).
void rl_secret_use(const rl_secret *secret);

// rl_secret_current is the process's cluster secret, or NULL when it has none.
// The pointer stays valid until the next rl_secret_use.
const rl_secret *rl_secret_current(void);

// rl_secret_load_and_use loads path (NULL or "": no secret, nothing changes)
// and uses it: the daemons' and commands' --secret-file in one call.
rl_err rl_secret_load_and_use(const char *path, char *errbuf, size_t errlen);

// The help of every command's --secret-file.
#define RL_SECRET_FILE_HELP                                                                        \
	"the cluster secret (16 bytes or more, not readable by others): every message "            \
	"proves it holds it, and peers that do not are refused (docs/operations.md)"

// rl_secret_derive writes hex(HMAC-SHA256(secret, label)) (64 hex digits and
// a NUL) to out: a password for another system (ZooKeeper's digest) that does
// not reveal the secret.
void rl_secret_derive(const rl_secret *secret, const char *label, char out[65]);

#endif
