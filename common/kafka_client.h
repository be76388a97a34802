// SPDX-License-Identifier: Apache-2.0
// Making librdkafka clients the one rill way (logging, error callback,
// defaults then the job's properties): shared by common/kafka*.c, the only
// files that include rdkafka.h.
#ifndef RL_KAFKA_CLIENT_H
#define RL_KAFKA_CLIENT_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/error.h"
#include "common/kafka.h"

// rl_kafka_conf_set sets one property; errbuf names it and librdkafka's reason.
rl_err rl_kafka_conf_set(
    rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf, size_t errlen);

// rl_kafka_conf_make builds a configuration for brokers (NULL: none): rill's
// log and error callbacks, then defaults (NULL-terminated name/value pairs),
// then the job's properties, which win. *ret is the caller's on success.
rl_err rl_kafka_conf_make(const char *brokers, const char *const *defaults,
    const rl_kafka_props *props, rd_kafka_conf_t **ret, char *errbuf, size_t errlen);

// rl_kafka_client_new makes a client of type from conf, which it owns from
// then on (destroyed on failure too).
rl_err rl_kafka_client_new(
    rd_kafka_type_t type, rd_kafka_conf_t *conf, rd_kafka_t **ret, char *errbuf, size_t errlen);

// rl_kafka_txn_open is rl_kafka_txn_create with its own client defaults
// (NULL-terminated name/value pairs; the job's properties still win).
rl_err rl_kafka_txn_open(const char *brokers, const char *const *defaults,
    const rl_kafka_props *props, const char *txn_id, int timeout_ms, rl_kafka_txn **ret,
    char *errbuf, size_t errlen);

#endif
