// SPDX-License-Identifier: Apache-2.0
// Kafka access through librdkafka (only common/kafka*.c include rdkafka.h):
// the driver's metadata/offsets client, the executor's partition reader with
// warm per-partition consumers, a producer, and the embedded mock cluster.
#ifndef RL_KAFKA_H
#define RL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

// librdkafka properties as name/value pairs (the job's `properties:`).
typedef struct rl_kafka_props {
	char *const *p_names;
	char *const *p_values;
	size_t       p_count;
} rl_kafka_props;

typedef struct rl_tp {
	const char *tp_topic; // not owned
	int32_t     tp_partition;
} rl_tp;

// ---- a partition as a split of the kafka source connector ----

// rl_kafka_split_id names topic/partition as a split: "TOPIC/PARTITION"
// (topic names have no '/'), truncated to len.
void rl_kafka_split_id(const char *topic, int32_t partition, char *buf, size_t len);
// rl_kafka_split_parse reads a split id back: the topic into topic[len] and
// the partition; false (nothing written) when id is not "TOPIC/N" with a
// non-empty topic that fits and N from 0 to INT32_MAX.
bool rl_kafka_split_parse(const char *id, char *topic, size_t len, int32_t *ret_partition);

// ---- driver side: metadata and offsets ----

typedef struct rl_kafka_meta rl_kafka_meta;

// rl_kafka_meta_create connects to brokers. group may be NULL (no committed
// offsets then). Errors (a bad property) are described in errbuf.
rl_err rl_kafka_meta_create(const char *brokers, const char *group, const rl_kafka_props *props,
    rl_kafka_meta **ret, char *errbuf, size_t errlen);
void   rl_kafka_meta_destroy(rl_kafka_meta *meta);

// rl_kafka_partition_count writes the number of partitions of topic. An
// unknown topic is RL_ERR_NOENT; unreachable brokers RL_ERR_TIMEDOUT.
rl_err rl_kafka_partition_count(rl_kafka_meta *meta, const char *topic, int timeout_ms,
    int32_t *ret, char *errbuf, size_t errlen);

// rl_kafka_list_topics returns the names of all topics (a NULL-terminated
// array the caller frees with rl_kafka_free_names), internal ones excluded.
rl_err rl_kafka_list_topics(rl_kafka_meta *meta, int timeout_ms, char ***ret, size_t *ret_count,
    char *errbuf, size_t errlen);
void   rl_kafka_free_names(char **names);

typedef enum rl_kafka_which {
	RL_KAFKA_EARLIEST, // the log start offset
	RL_KAFKA_LATEST, // the high watermark (the last stable offset for read_committed)
} rl_kafka_which;

// rl_kafka_list_offsets writes the earliest or latest offset of each of the n
// partitions into ret[] (one round trip per leader broker).
rl_err rl_kafka_list_offsets(rl_kafka_meta *meta, const rl_tp *tps, size_t n, rl_kafka_which which,
    int timeout_ms, int64_t *ret, char *errbuf, size_t errlen);

// rl_kafka_committed reads the group's committed offsets of the n partitions
// into ret[] (-1 where the group has none). Needs a group at create.
rl_err rl_kafka_committed(rl_kafka_meta *meta, const rl_tp *tps, size_t n, int timeout_ms,
    int64_t *ret, char *errbuf, size_t errlen);

// rl_kafka_commit commits offsets[i] as the group's position of partition i
// (what lag tools show), synchronously. Needs a group at create.
rl_err rl_kafka_commit(rl_kafka_meta *meta, const rl_tp *tps, const int64_t *offsets, size_t n,
    char *errbuf, size_t errlen);

// rl_kafka_group_offsets reads another group's committed offsets of the n
// partitions (admin API) into ret[] (-1 where it has none).
rl_err rl_kafka_group_offsets(rl_kafka_meta *meta, const char *group, const rl_tp *tps, size_t n,
    int timeout_ms, int64_t *ret, char *errbuf, size_t errlen);

// ---- executor side: reading offset ranges ----

typedef struct rl_kafka_reader rl_kafka_reader;

typedef struct rl_kafka_record {
	const void *r_key; // NULL when the record has no key
	size_t      r_key_len;
	const void *r_value;
	size_t      r_value_len;
	int64_t     r_offset;
	int64_t     r_timestamp_ms;
} rl_kafka_record;

// Called for each record of a range, in offset order. The bytes are valid only
// during the call (they point into librdkafka's fetch buffer: no copy). A
// return other than RL_OK stops the read with that error.
typedef rl_err (*rl_kafka_record_cb)(void *arg, const rl_kafka_record *rec);

// rl_kafka_reader_create makes a consumer for brokers (never commits, never
// joins a group). One reader serves many partitions; each partition stays
// assigned and prefetching between ranges. @locality any thread
rl_err rl_kafka_reader_create(const char *brokers, const rl_kafka_props *props,
    rl_kafka_reader **ret, char *errbuf, size_t errlen);
void   rl_kafka_reader_destroy(rl_kafka_reader *r);
// rl_kafka_reader_expect says how many partitions the reader will read (the
// most it was told wins): their prefetch shares one budget, so each
// partition's queue is sized when its client is made (rl_kafka_prefetch_kb).
// Partitions share at most 4 clients. @locality any thread
void rl_kafka_reader_expect(rl_kafka_reader *r, uint32_t partitions);
// rl_kafka_reader_started is how many partitions are started (fetching or
// holding prefetched records) now. @locality any thread
int rl_kafka_reader_started(rl_kafka_reader *r);
// rl_kafka_prefetch_kb is the queue, in KB, of each of `expect` partitions.
int rl_kafka_prefetch_kb(uint32_t expect);

// rl_kafka_read_range reads the records with offsets in [from, until) of one
// partition and calls cb for each; backlog is how many records are known to
// wait past until (-1: unknown), which decides whether the partition stays
// started and prefetching after the read. Offsets may be missing (compaction,
// transaction markers); the range ends at the first offset >= until or at the
// end of the log at or past until. Ranges of one partition must not be read
// concurrently; different partitions may. Errors: RL_ERR_DATA_LOSS when from is
// no longer in the log (retention), RL_ERR_TIMEDOUT when no progress is made
// for idle_timeout_ms, RL_ERR_KAFKA for other client errors, or cb's error;
// errbuf says which topic, partition and offset. errbuf must start empty (""):
// a cb that fails explains itself by writing into it.
rl_err rl_kafka_read_range(rl_kafka_reader *r, const char *topic, int32_t partition, int64_t from,
    int64_t until, int64_t backlog, int idle_timeout_ms, rl_kafka_record_cb cb, void *arg,
    char *errbuf, size_t errlen);

// rl_kafka_warm starts the partition's consumer at from (if it is not already
// there), so that reading from it later finds the data prefetched; backlog is
// how many records are known to wait there (-1: unknown). Partitions with a
// backlog beyond the reader's budget are left to start at their first read,
// unless soon: a read follows at once (a task's read-ahead).
rl_err rl_kafka_warm(rl_kafka_reader *r, const char *topic, int32_t partition, int64_t from,
    int64_t backlog, bool soon, char *errbuf, size_t errlen);

// ---- producer ----

typedef struct rl_kafka_producer rl_kafka_producer;

rl_err rl_kafka_producer_create(const char *brokers, const rl_kafka_props *props,
    rl_kafka_producer **ret, char *errbuf, size_t errlen);
// rl_kafka_producer_destroy flushes (up to 10 s) and frees; NULL is a no-op.
void rl_kafka_producer_destroy(rl_kafka_producer *p);
// rl_kafka_produce queues one record (partition < 0: the default partitioner),
// waiting for queue space when it is full. The bytes are copied.
rl_err rl_kafka_produce(rl_kafka_producer *p, const char *topic, int32_t partition, const void *key,
    size_t key_len, const void *value, size_t value_len, char *errbuf, size_t errlen);
// rl_kafka_producer_connect fetches the topic's metadata, so the first record
// produced goes straight to its partition's leader; an unknown topic is an error.
rl_err rl_kafka_producer_connect(
    rl_kafka_producer *p, const char *topic, int timeout_ms, char *errbuf, size_t errlen);
rl_err rl_kafka_flush(rl_kafka_producer *p, int timeout_ms, char *errbuf, size_t errlen);

// ---- transactional producer (the exactly-once Kafka sink) ----

typedef struct rl_kafka_txn rl_kafka_txn;

// rl_kafka_txn_create makes a producer with transactional.id txn_id and
// initialises it, which fences any earlier producer with that id: its open
// transaction is aborted and it can no longer commit.
rl_err rl_kafka_txn_create(const char *brokers, const rl_kafka_props *props, const char *txn_id,
    int timeout_ms, rl_kafka_txn **ret, char *errbuf, size_t errlen);
// rl_kafka_txn_destroy frees the producer; an open transaction is left to be
// aborted by the next producer with the same id (or the broker's timeout).
void rl_kafka_txn_destroy(rl_kafka_txn *t);

// Transaction steps. An error is RL_ERR_KAFKA when the transaction can be
// aborted and the producer used again, RL_ERR_STALE_EPOCH when the producer
// is unusable (fenced by a newer one, or fatal): destroy it.
rl_err rl_kafka_txn_begin(rl_kafka_txn *t, char *errbuf, size_t errlen);
// rl_kafka_txn_produce queues one record (copied), waiting when the queue is
// full; rl_kafka_txn_produce_to into one partition (-1: the partitioner's
// choice). A NULL value is a tombstone.
rl_err rl_kafka_txn_produce(rl_kafka_txn *t, const char *topic, const void *key, size_t key_len,
    const void *value, size_t value_len, char *errbuf, size_t errlen);
rl_err rl_kafka_txn_produce_to(rl_kafka_txn *t, const char *topic, int32_t partition,
    const void *key, size_t key_len, const void *value, size_t value_len, char *errbuf,
    size_t errlen);
// rl_kafka_txn_prepare waits until every record is acknowledged and adds to
// the transaction the commit of marker_offset as group's position of
// marker_topic/marker_partition: the marker becomes visible exactly when the
// transaction commits, so a reader can tell afterwards whether it did.
rl_err rl_kafka_txn_prepare(rl_kafka_txn *t, const char *group, const char *marker_topic,
    int32_t marker_partition, int64_t marker_offset, int timeout_ms, char *errbuf, size_t errlen);
rl_err rl_kafka_txn_commit(rl_kafka_txn *t, int timeout_ms, char *errbuf, size_t errlen);
rl_err rl_kafka_txn_abort(rl_kafka_txn *t, int timeout_ms, char *errbuf, size_t errlen);

// ---- embedded mock cluster (librdkafka's, for `rill demo` and fault tests) ----

typedef struct rl_kafka_mock rl_kafka_mock;

rl_err rl_kafka_mock_create(int nbrokers, rl_kafka_mock **ret, char *errbuf, size_t errlen);
void   rl_kafka_mock_destroy(rl_kafka_mock *m);
// The bootstrap list clients in any process on this host can connect to.
const char *rl_kafka_mock_bootstraps(const rl_kafka_mock *m);
rl_err      rl_kafka_mock_create_topic(
         rl_kafka_mock *m, const char *topic, int partitions, char *errbuf, size_t errlen);

#endif
