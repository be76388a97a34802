// SPDX-License-Identifier: Apache-2.0
// State snapshots of stateful stages (update_state_by_key): every key's state
// of one partition after a batch, in one CRC32C-checked file.
#ifndef RL_STATE_H
#define RL_STATE_H

#include <stddef.h>

#include "common/error.h"
#include "executor/combine.h"

// File bytes: "RILLSTA1" | u32 BE payload length | u32 BE CRC32C | payload,
// the payload being shuffle-block records (rl_block_put_kv), one per key.

// rl_state_load folds the snapshot at path into c (rl_combiner_merge). A
// missing file is RL_ERR_NOENT, a torn or corrupt one RL_ERR_PARSE; errbuf
// names the path and what is wrong.
rl_err rl_state_load(const char *path, rl_combiner *c, char *errbuf, size_t errlen);

// rl_state_save writes every entry of c to path: temp file, fsync, rename,
// fsync of the directory (created if missing). A replayed batch writes the
// same state again over it.
rl_err rl_state_save(const char *path, const rl_combiner *c, char *errbuf, size_t errlen);

#endif
