// SPDX-License-Identifier: Apache-2.0
// A state partition on disk, past the job's state memory budget: a RocksDB
// instance in the executor's work directory (the only includer of
// rocksdb/c.h). A cache, not the source of truth: the changelog is; the
// files are removed when the partition is dropped, and a restarted executor
// rebuilds a partition from the changelog.
#ifndef RL_STATE_DB_H
#define RL_STATE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct rl_state_db rl_state_db;

// rl_state_db_open makes an empty store in dir (removing whatever was there:
// an earlier process's copy is stale by definition).
rl_err rl_state_db_open(const char *dir, rl_state_db **ret, char *errbuf, size_t errlen);
// rl_state_db_destroy closes db and removes its files (NULL: no-op).
void rl_state_db_destroy(rl_state_db *db);

// rl_state_db_get reads key's state; false when it has none. Pending writes
// are not seen.
bool rl_state_db_get(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t *ret);
// rl_state_db_put and rl_state_db_del add a write to db's pending batch.
void rl_state_db_put(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t value);
void rl_state_db_del(rl_state_db *db, const uint8_t *key, size_t key_len);
// rl_state_db_pending is the number of pending writes.
size_t rl_state_db_pending(const rl_state_db *db);
// rl_state_db_apply writes the pending batch (no write-ahead log: a crash
// loses the store, which the changelog rebuilds).
rl_err rl_state_db_apply(rl_state_db *db, char *errbuf, size_t errlen);

// rl_state_db_each calls cb for every key and its state, in key order; the
// key is valid during the call only. cb's error stops the walk.
typedef rl_err (*rl_state_db_cb)(void *arg, const uint8_t *key, size_t key_len, int64_t value);
rl_err rl_state_db_each(rl_state_db *db, rl_state_db_cb cb, void *arg, char *errbuf, size_t errlen);

// rl_state_db_keys is RocksDB's estimate of the number of keys.
uint64_t rl_state_db_keys(rl_state_db *db);

#endif
