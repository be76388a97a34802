// SPDX-License-Identifier: Apache-2.0
// The executor's user-function libraries, one per sha256: fetched from the
// driver that names them, verified, loaded once and kept until exit.
#ifndef RL_ARTIFACTS_H
#define RL_ARTIFACTS_H

#include <stddef.h>

#include "common/error.h"
#include "common/udf.h"

typedef struct rl_artifacts rl_artifacts;

rl_artifacts *rl_artifacts_create(void);
// rl_artifacts_destroy unloads every library; nothing may call into them
// any more. NULL is a no-op.
void rl_artifacts_destroy(rl_artifacts *a);

// rl_artifacts_get gives the library whose sha256 is sha, loading it on
// first use: its bytes are asked of url (an ArtifactFetch to the driver that
// launched the task), then rl_udf_lib_load verifies the sha256 before
// dlopen and checks the ABI. The library stays loaded (and *ret valid)
// until rl_artifacts_destroy. A failure is not remembered: the next task
// tries again. Errors as rl_udf_lib_load's, and the fetch's (RL_ERR_NET,
// RL_ERR_TIMEDOUT, RL_ERR_NOENT when the driver has no such artifact,
// RL_ERR_PROTO), with the reason in errbuf.
// @locality any thread; one load at a time (others wait for it)
rl_err rl_artifacts_get(rl_artifacts *a, const char *sha, const char *url, const rl_udf_lib **ret,
    char *errbuf, size_t errlen);

#endif
