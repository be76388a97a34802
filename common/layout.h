// SPDX-License-Identifier: Apache-2.0
// Where the files sink puts a batch, shared by the executors that write parts
// and the driver that commits the batch directory.
#ifndef RL_LAYOUT_H
#define RL_LAYOUT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

// The batch's directory while its tasks write into it.
static inline void
rl_files_batch_tmp_dir(const char *path, int64_t batch_ms, char *buf, size_t len)
{
	snprintf(buf, len, "%s/.batch-%" PRId64 ".tmp", path, batch_ms);
}

// The batch's directory once committed: SPEC.md's P/batch-T.
static inline void
rl_files_batch_dir(const char *path, int64_t batch_ms, char *buf, size_t len)
{
	snprintf(buf, len, "%s/batch-%" PRId64, path, batch_ms);
}

#endif
