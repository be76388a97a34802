// SPDX-License-Identifier: Apache-2.0
// ZooKeeper access (the only module that includes zookeeper.h): a session,
// and the few znode operations rill needs, synchronous and with timeouts.
#ifndef RL_ZK_H
#define RL_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct rl_zk rl_zk;

// rl_zk_connect opens a session to connect ("host:port[,host:port…][/chroot]")
// and waits up to timeout_ms for it to be established. A chroot that does not
// exist is created. Errors: RL_ERR_INVAL for a malformed connect string,
// RL_ERR_TIMEDOUT when no server answered, with the connect string in errbuf.
rl_err rl_zk_connect(const char *connect, int session_timeout_ms, int timeout_ms, rl_zk **ret,
    char *errbuf, size_t errlen);
void   rl_zk_close(rl_zk *zk);

// rl_zk_expired tells whether the session has expired (a driver must stop
// acting as leader at once then). @locality any thread
bool rl_zk_expired(rl_zk *zk);

// rl_zk_set writes data to path, creating it and any missing parents as
// persistent znodes. @locality any thread
rl_err rl_zk_set(
    rl_zk *zk, const char *path, const void *data, size_t len, char *errbuf, size_t errlen);

// rl_zk_get reads path into a new buffer (NUL-terminated after len bytes;
// free with rl_free). A missing node is RL_ERR_NOENT.
rl_err rl_zk_get(
    rl_zk *zk, const char *path, char **ret, size_t *ret_len, char *errbuf, size_t errlen);

// rl_zk_children lists path's children (NULL-terminated array, free with
// rl_zk_free_names). A missing node is RL_ERR_NOENT.
rl_err rl_zk_children(
    rl_zk *zk, const char *path, char ***ret, size_t *ret_count, char *errbuf, size_t errlen);
void rl_zk_free_names(char **names);

// rl_zk_delete removes path (and, with recursive, everything below it). A
// missing node is success.
rl_err rl_zk_delete(rl_zk *zk, const char *path, bool recursive, char *errbuf, size_t errlen);

#endif
