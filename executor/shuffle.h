// SPDX-License-Identifier: Apache-2.0
// Shuffle blocks: their encoding (length-prefixed runs, no protobuf per record),
// the hash-partitioning writer, and the executor's in-memory block store.
#ifndef RL_SHUFFLE_H
#define RL_SHUFFLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "executor/record.h"

// ---- block encoding ----
// record := uvarint(key_len + 1, 0 = no key) key
//           u8 kind (0 = integer, 1 = bytes)
//           kind 0: svarint value | kind 1: uvarint len, bytes

void rl_block_put(rl_buf *block, const rl_rec *rec);
// rl_block_put_kv appends a keyed integer record (the combine output).
void rl_block_put_kv(rl_buf *block, const uint8_t *key, size_t key_len, int64_t value);

// rl_block_next decodes the next record into rec (pointing into the block).
// Returns 1 for a record, 0 at the end, -1 for malformed bytes.
int rl_block_next(rl_reader *r, rl_rec *rec);

// ---- writer: R buckets of one map task ----

typedef struct rl_shuffle_writer {
	uint32_t  w_nparts;
	rl_buf   *w_buckets;
	uint64_t *w_records;
} rl_shuffle_writer;

void rl_shuffle_writer_init(rl_shuffle_writer *w, uint32_t nparts);
void rl_shuffle_writer_fini(rl_shuffle_writer *w);
// rl_shuffle_writer_add puts a keyed integer record into its key's bucket.
void rl_shuffle_writer_add(
    rl_shuffle_writer *w, uint64_t key_hash, const uint8_t *key, size_t key_len, int64_t value);

// rl_shuffle_writer_put puts a record as it is into bucket part (< w_nparts).
void rl_shuffle_writer_put(rl_shuffle_writer *w, uint32_t part, const rl_rec *rec);

// ---- store: map outputs held for reducers until their batch is done ----

typedef struct rl_shuffle_store rl_shuffle_store;

typedef struct rl_map_output_id {
	const char *job;
	int64_t     batch_ms;
	uint32_t    stage;
	uint32_t    map_partition;
} rl_map_output_id;

// A block view handed out by rl_shuffle_acquire; valid until released.
typedef struct rl_block_ref {
	const uint8_t *b_data;
	size_t         b_len;
	uint64_t       b_records;
	void          *b_owner;
} rl_block_ref;

rl_shuffle_store *rl_shuffle_store_create(void);
void              rl_shuffle_store_destroy(rl_shuffle_store *s);

// rl_shuffle_store_put takes the writer's buckets (w is left empty), replacing
// an earlier output with the same id (a retried task). @locality any thread
void rl_shuffle_store_put(rl_shuffle_store *s, const rl_map_output_id *id, rl_shuffle_writer *w);

// rl_shuffle_acquire finds the block of reduce_partition in a map output.
// Returns false when the output is unknown (lost or dropped).
bool rl_shuffle_acquire(
    rl_shuffle_store *s, const rl_map_output_id *id, uint32_t reduce_partition, rl_block_ref *ret);
void rl_shuffle_release(rl_shuffle_store *s, rl_block_ref *ref);

// rl_shuffle_drop_before frees job's outputs of batches older than batch_ms.
void     rl_shuffle_drop_before(rl_shuffle_store *s, const char *job, int64_t batch_ms);
uint64_t rl_shuffle_bytes(rl_shuffle_store *s);

#endif
