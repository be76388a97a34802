// SPDX-License-Identifier: Apache-2.0
// Local mode: executor processes started on this host for `rill run` and
// `rill demo`, talking to the driver over nng TCP on loopback.
#ifndef RL_LOCAL_H
#define RL_LOCAL_H

#include <stddef.h>

#include "common/error.h"

typedef struct rl_local rl_local;

// rl_local_start spawns n rill-executor processes that register with
// driver_url. They die with this process (PR_SET_PDEATHSIG). With a cluster
// secret (rl_secret_current) loaded from a file, they get --secret-file FILE.
rl_err rl_local_start(
    const char *driver_url, int n, int cores, rl_local **ret, char *errbuf, size_t errlen);
// rl_local_stop terminates them (SIGTERM, then SIGKILL after 5 s) and reaps.
void rl_local_stop(rl_local *local);

// rl_local_find_executor writes the path of the rill-executor binary:
// $RILL_EXECUTOR_BIN, beside this program, or the build tree's executor/.
rl_err rl_local_find_executor(char *buf, size_t len, char *errbuf, size_t errlen);

#endif
