// SPDX-License-Identifier: Apache-2.0
// Kafka for keyed state (only common/kafka*.c include rdkafka.h): the
// changelog topic (compacted, one partition per state partition), the
// transactional writer of one of its partitions, and the reader that
// restores a partition from it.
#ifndef RL_KAFKA_STATE_H
#define RL_KAFKA_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/kafka.h"

// rl_kafka_changelog_ensure creates topic with `partitions` partitions and
// cleanup.policy=compact (the brokers' default replication), unless it
// exists; an existing topic with another partition count is RL_ERR_INVAL,
// and so is one that is not compacted. errbuf names the topic.
rl_err rl_kafka_changelog_ensure(const char *brokers, const rl_kafka_props *props,
    const char *topic, int32_t partitions, int timeout_ms, char *errbuf, size_t errlen);

// The transactional writer of one changelog partition.
typedef struct rl_kafka_changelog rl_kafka_changelog;

// rl_kafka_changelog_open makes a producer with transactional.id txn_id
// for topic/partition and initialises it: an earlier writer with that id is
// fenced, its open transaction aborted, and one it was committing finished,
// so that a restore that follows sees every committed change.
rl_err rl_kafka_changelog_open(const char *brokers, const rl_kafka_props *props, const char *txn_id,
    const char *topic, int32_t partition, int timeout_ms, rl_kafka_changelog **ret, char *errbuf,
    size_t errlen);
void   rl_kafka_changelog_close(rl_kafka_changelog *c); // NULL: no-op

// Transaction steps; errors as rl_kafka_txn's: RL_ERR_KAFKA when the
// transaction can be aborted and the writer used again, RL_ERR_STALE_EPOCH
// when the writer is unusable (fenced by a newer one): close it.
rl_err rl_kafka_changelog_begin(rl_kafka_changelog *c, char *errbuf, size_t errlen);
// rl_kafka_changelog_put queues key = value (copied) in the open
// transaction; value NULL is a tombstone (the key is removed).
rl_err rl_kafka_changelog_put(rl_kafka_changelog *c, const void *key, size_t key_len,
    const void *value, size_t value_len, char *errbuf, size_t errlen);
// rl_kafka_changelog_commit waits for every record and commits.
rl_err rl_kafka_changelog_commit(
    rl_kafka_changelog *c, int timeout_ms, char *errbuf, size_t errlen);
rl_err rl_kafka_changelog_abort(rl_kafka_changelog *c, int timeout_ms, char *errbuf, size_t errlen);

// Called for each record of a restore, in offset order; value is NULL for a
// tombstone. The bytes are valid during the call only.
typedef rl_err (*rl_kafka_changelog_cb)(
    void *arg, const void *key, size_t key_len, const void *value, size_t value_len);

// rl_kafka_changelog_restore reads topic/partition from its start to its
// end, committed transactions only (read_committed), and calls cb for each
// record; RL_ERR_TIMEDOUT when no progress is made for idle_timeout_ms.
// *ret_records is how many records it read.
rl_err rl_kafka_changelog_restore(const char *brokers, const rl_kafka_props *props,
    const char *topic, int32_t partition, int idle_timeout_ms, rl_kafka_changelog_cb cb, void *arg,
    uint64_t *ret_records, char *errbuf, size_t errlen);

#endif
