// SPDX-License-Identifier: Apache-2.0
// The checkpoint directory: one BatchRecord file per batch and phase, written
// atomically (temp file, fsync, rename, fsync of the directory), checked with
// CRC32C on read. Torn or corrupt files are skipped, never trusted.
#ifndef RL_CHECKPOINT_H
#define RL_CHECKPOINT_H

#include <stdbool.h>
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
// rl_checkpoint_keep is the keep it was opened with.
int rl_checkpoint_keep(const rl_checkpoint *ckp);

// rl_checkpoint_write stores rec (its batch_time_ms and phase name the file;
// format_version and written_ms are set here). Durable when it returns RL_OK.
// Writing a done record also prunes: the newest `keep` batches with a valid
// done record are kept, and every batch newer than the oldest of them or
// than the oldest base a kept sparse record builds on; an error while
// pruning is returned although the record itself is durable.
// @locality one thread: a checkpoint is not shared.
rl_err rl_checkpoint_write(rl_checkpoint *ckp, Rill__BatchRecord *rec, char *errbuf, size_t errlen);

// rl_checkpoint_latest finds the newest batch with at least one valid record
// and returns its most advanced valid phase (done > prepared > planned),
// whole (a sparse record completed from its base; one whose base is gone is
// not valid); *ret = NULL when the directory holds no valid record at all.
// Invalid files met on the way go to the warn callback. The caller frees the record with
// rill__batch_record__free_unpacked(rec, NULL).
rl_err rl_checkpoint_latest(
    rl_checkpoint *ckp, Rill__BatchRecord **ret, char *errbuf, size_t errlen);

// rl_checkpoint_read reads one batch's most advanced valid record (same
// rules); *ret = NULL when the batch has none.
rl_err rl_checkpoint_read(
    rl_checkpoint *ckp, int64_t batch_ms, Rill__BatchRecord **ret, char *errbuf, size_t errlen);

// rl_checkpoint_complete makes sparse record rec whole (see base_batch_ms
// in proto/checkpoint.proto) from base, the done record of its base batch:
// the splits base lists, in its order, each as rec lists it or else with
// nothing new; then the splits only rec lists. rec's base_batch_ms becomes
// 0, and rec is still freed with rill__batch_record__free_unpacked.
// RL_ERR_INVAL, with why and rec unchanged, when base is NULL (the base's
// done record is gone or not valid) or not a whole done record of rec's base
// batch.
rl_err rl_checkpoint_complete(
    Rill__BatchRecord *rec, const Rill__BatchRecord *base, char *why, size_t whylen);

// ---- lag: how far a batch was behind its source ----

// rl_checkpoint_split_lag is how many records split sr of rec was behind its
// source's end when rec's batch was planned, after that batch's range:
// end_seen - until (0 when the range reaches past the end seen). False,
// *ret untouched, when rec does not say (written before rill recorded the
// ends). Lag as of planning, not now: records that arrived since count not.
bool rl_checkpoint_split_lag(
    const Rill__BatchRecord *rec, const Rill__SplitRange *sr, int64_t *ret);
// rl_checkpoint_lag is the sum of rl_checkpoint_split_lag over rec's
// splits; false, *ret untouched, when rec does not say.
bool rl_checkpoint_lag(const Rill__BatchRecord *rec, int64_t *ret);

// ---- one record's bytes, shared by every store of the batch log ----
// (driver/batch_log_zk.c keeps the same bytes in a ZooKeeper node.)

#define RL_CHECKPOINT_HEADER_LEN 16

// rl_checkpoint_phase_name is "planned", "prepared" or "done"; NULL for a
// phase that is none of them.
const char *rl_checkpoint_phase_name(Rill__BatchRecord__Phase phase);

// rl_checkpoint_parse_name accepts exactly the names of records,
// "<T>.<phase>" with T in canonical decimal ("0123.done", ".1.done.tmp" and
// "1.finished" are not).
bool rl_checkpoint_parse_name(
    const char *name, int64_t *ret_time, Rill__BatchRecord__Phase *ret_phase);

// rl_checkpoint_encode checks rec (a known phase, a batch time >= 0), sets
// its format_version (3 for a sparse record, else 2) and written_ms, and
// frames it as the layout above says: *ret (free with rl_free) holds
// *ret_len bytes. Errors are RL_ERR_INVAL with "where: what" in errbuf.
rl_err rl_checkpoint_encode(Rill__BatchRecord *rec, const char *where, unsigned char **ret,
    size_t *ret_len, char *errbuf, size_t errlen);

// rl_checkpoint_check_header checks the first got bytes of a record that is
// total bytes long: a whole header, the magic, and a length that is what
// the holder ("file", "node") has after the header. On success *ret_len is
// the payload's length; otherwise why says what is wrong.
bool rl_checkpoint_check_header(const unsigned char *bytes, size_t got, uint64_t total,
    const char *holder, uint32_t *ret_len, char *why, size_t whylen);

// rl_checkpoint_decode validates a whole record, bytes[0..len), named batch
// t and phase: the header, the CRC32C, the decoding, the format version
// (format 1 is upgraded to 2), and the phase and batch time it holds. It
// returns the record (free with rill__batch_record__free_unpacked) or NULL
// with the reason in why (the words the skip warnings use).
Rill__BatchRecord *rl_checkpoint_decode(const unsigned char *bytes, size_t len, int64_t t,
    Rill__BatchRecord__Phase phase, const char *holder, char *why, size_t whylen);

#endif
