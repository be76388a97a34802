// SPDX-License-Identifier: Apache-2.0
// State snapshots of stateful stages (update_state_by_key): every key's state
// of one partition after a batch, in one CRC32C-checked file.
#ifndef RL_STATE_H
#define RL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/kafka_state.h"
#include "executor/combine.h"
#include "executor/state_db.h"

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

typedef struct rl_state_table rl_state_table;

// ---- the Kafka changelog of a job's state ----

// A changelog record's key is one byte of kind, then the kind's bytes:
// RL_STATE_LOG_KEY + a state key, whose value is its state (8 bytes,
// big-endian two's complement; map_with_state adds 8 more: the batch the key
// was last seen, or minus the batch it expired in) or none (a tombstone: the
// key was removed);
// RL_STATE_LOG_MARKER alone, whose value is the batch (ms, 8 bytes) the
// partition's state reflects once the transaction that wrote it commits
// (written by every batch; compaction keeps the newest).
#define RL_STATE_LOG_KEY "k"
#define RL_STATE_LOG_MARKER "m"

// rl_state_restore reads changelog partition topic/partition to its end
// (committed transactions) into table t, empty, whose table is lent to c (a
// key's newest state wins; a tombstone removes it), and writes the batch it
// reflects (0: none, an empty changelog). With a budget (bytes, 0: none)
// and spill_dir, a table that outgrows the budget moves to RocksDB there
// and the restore goes on into it (t->st_db). A record of another shape is
// RL_ERR_PARSE naming the partition and record.
rl_err rl_state_restore(const char *brokers, const rl_kafka_props *props, const char *topic,
    int32_t partition, rl_state_table *t, rl_combiner *c, size_t budget, const char *spill_dir,
    int64_t *ret_reflects, char *errbuf, size_t errlen);

// ---- warm state: a state partition's table kept between batches ----

// One state partition's table, and the batch whose state it holds. The
// table's keys live in st_keys; a task lends st_table out (moves the struct
// into its own combiner and zeroes it here) and moves it back when done.
struct rl_state_table {
	rl_arena            st_keys;
	rl_combiner         st_table;
	int64_t             st_batch_ms; // the batch it reflects (0: none yet)
	rl_kafka_changelog *st_writer; // its changelog partition's writer, or NULL
	rl_state_db        *st_db; // past the memory budget: the state is here, not in st_table
	struct rl_window   *st_window; // a window's partition: its slots (owned), or NULL
};

// rl_state_table_bytes is the memory an in-memory table takes (slots and
// keys); 0 for one in RocksDB.
size_t rl_state_table_bytes(const rl_state_table *t, const rl_combiner *table);

// rl_state_table_spill moves the table (lent to table, whose keys are in
// t's arena) into a new RocksDB store in dir, empties table and frees the
// keys: the table then lives in t->st_db.
rl_err rl_state_table_spill(
    rl_state_table *t, rl_combiner *table, const char *dir, char *errbuf, size_t errlen);

// rl_state_table_create makes an empty table (a sum combiner over its own
// key arena); rl_state_table_destroy frees it with its keys and closes its
// writer (NULL: no-op).
rl_state_table *rl_state_table_create(void);
void            rl_state_table_destroy(rl_state_table *t);

// The tables of every state partition this executor ran last, keyed by
// (job, state store, stage, partition): the store is where the job's state
// is durable (its state directory), so that another job of the same name
// never sees them. @locks its own mutex: tasks of every thread use it.
typedef struct rl_state_cache rl_state_cache;

rl_state_cache *rl_state_cache_create(void);
void            rl_state_cache_destroy(rl_state_cache *c); // NULL: no-op

typedef struct rl_state_key {
	const char *sk_job;
	const char *sk_store;
	uint32_t    sk_stage;
	uint32_t    sk_partition;
	uint64_t    sk_code; // the job spec's and artifact's hash: what computed it
} rl_state_key;

// rl_state_cache_take removes the partition's table from the cache and
// returns it (the caller owns it) when it reflects batch_ms and was computed
// by the same code (sk_code: an upgrade may have run a batch again with
// other steps); a table of the partition that reflects another batch or
// came from other code is dropped (a replayed batch starts
// from the batch before it, which only the durable store still has), and so
// are the job's tables of other partitions older than batch_ms (stale: their
// partitions have moved to other executors). NULL when there is none.
rl_state_table *rl_state_cache_take(rl_state_cache *c, const rl_state_key *key, int64_t batch_ms);

// rl_state_cache_put keeps t (ownership moves to the cache) as the
// partition's table, replacing one there.
void rl_state_cache_put(rl_state_cache *c, const rl_state_key *key, rl_state_table *t);

// rl_state_cache_stats gives the number of tables and of keys in them.
void rl_state_cache_stats(rl_state_cache *c, size_t *ret_tables, size_t *ret_keys);

// rl_state_cache_memory is the memory the job's in-memory tables take
// (those in RocksDB not counted), in the cache and held by running tasks.
size_t rl_state_cache_memory(rl_state_cache *c, const char *job);

// rl_state_cache_hold says that a running task of job now holds a table of
// `bytes` out of the cache; *held_bytes is what it said last (0 at first),
// and is set to bytes. A task says 0 when its table goes back or is gone.
// Tasks folding at once so see each other's tables against the budget.
void rl_state_cache_hold(rl_state_cache *c, const char *job, size_t *held_bytes, size_t bytes);

#endif
