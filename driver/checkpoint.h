// SPDX-License-Identifier: Apache-2.0
// The checkpoint directory: one BatchRecord file per batch and phase, written
// atomically (temp file, fsync, rename, fsync of the directory), checked with
// CRC32C on read. Torn or corrupt files are skipped, never trusted.
#ifndef RL_CHECKPOINT_H
#define RL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"

// Layout (all under DIR):
//   DIR/batches/<T>.<phase>   one record, phase = planned | prepared | done
//   T is the batch time in ms since the epoch, in decimal, no padding.
// File bytes:
//   "RILLCKP1" (8 bytes) | u32 BE payload length | u32 BE CRC32C(payload) | payload
//   payload = a packed Rill__BatchRecord whose phase matches the file name.

typedef struct rl_checkpoint rl_checkpoint;

// Called for every record file that is skipped for its content (torn, CRC32C
// mismatch with both values, bad magic, wrong version, name and content
// disagreeing) and for an old file pruning could not remove: path and why.
// The caller logs it. May be NULL. A file that cannot be read at all (EIO,
// EACCES) is an error, not skipped: a failing disk must not silently rewind
// a job. Names that are not exactly <T>.<phase> (".tmp", "0123.done") are
// ignored.
typedef void (*rl_checkpoint_warn_fn)(void *arg, const char *path, const char *why);

// rl_checkpoint_open uses dir (created with its parents if missing). A path
// that is not a directory, cannot be created, or is not writable is
// RL_ERR_IO with "DIR: reason" in errbuf. keep (>= 1) is how many done
// batches are kept; older files are removed after each done record.
rl_err rl_checkpoint_open(const char *dir, int keep, rl_checkpoint_warn_fn warn, void *warn_arg,
    rl_checkpoint **ret, char *errbuf, size_t errlen);
void   rl_checkpoint_close(rl_checkpoint *ckp);
const char *rl_checkpoint_dir(const rl_checkpoint *ckp);

// rl_checkpoint_write stores rec (its batch_time_ms and phase name the file;
// format_version and written_ms are set here). Durable when it returns RL_OK.
// Writing a done record also prunes: the newest `keep` batches with a valid
// done record are kept, and every batch newer than the oldest of them; an
// error while pruning is returned although the record itself is durable.
// @locality one thread: a checkpoint is not shared.
rl_err rl_checkpoint_write(rl_checkpoint *ckp, Rill__BatchRecord *rec, char *errbuf, size_t errlen);

// rl_checkpoint_latest finds the newest batch with at least one valid record
// and returns its most advanced valid phase (done > prepared > planned);
// *ret = NULL when the directory holds no valid record at all. Invalid files
// met on the way go to the warn callback. The caller frees the record with
// rill__batch_record__free_unpacked(rec, NULL).
rl_err rl_checkpoint_latest(
    rl_checkpoint *ckp, Rill__BatchRecord **ret, char *errbuf, size_t errlen);

// rl_checkpoint_read reads one batch's most advanced valid record (same
// rules); *ret = NULL when the batch has none.
rl_err rl_checkpoint_read(
    rl_checkpoint *ckp, int64_t batch_ms, Rill__BatchRecord **ret, char *errbuf, size_t errlen);

#endif
