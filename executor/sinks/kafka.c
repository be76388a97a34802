// SPDX-License-Identifier: Apache-2.0
// kafka sink, task side. With exactly_once, each output task writes in a
// Kafka transaction of its own (transactional.id from job and partition) that
// it leaves prepared, with a commit marker in it (offset T of the sink topic's
// partition 0 for the task's own group); the driver has it committed once
// every task of the batch succeeded (kafka_finish, on SinkFinish).
// Without, records go through an idempotent producer, at least once.
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/kafka.h"
#include "common/layout.h"
#include "common/log.h"
#include "common/sinks/kafka.h"
#include "executor/sink.h"

#define TXN_TIMEOUT_MS 30000

// ---- the registry ----

enum { TXN_IDLE, TXN_OPEN, TXN_PREPARED };

typedef struct slot slot;

// One output task's producer. s_mu is held by the task using it, from begin
// to prepared, and by a finish.
struct slot {
	slot              *s_next;
	char              *s_id;
	pthread_mutex_t    s_mu;
	rl_kafka_txn      *s_txn; // NULL until first used, or after it became unusable
	int                s_state;
	int64_t            s_batch_ms;
	rl_kafka_producer *s_plain; // at-least-once producer (id = broker list)
};

typedef struct txn_registry txn_registry;

// The executor's producers of this sink kind, across batches: one
// transactional producer per output task id (exactly-once), one plain
// producer per broker list (at-least-once).
struct txn_registry {
	pthread_mutex_t r_mu;
	slot           *r_slots;
};

static void *
registry_create(void)
{
	txn_registry *reg = RL_NEW(txn_registry);
	pthread_mutex_init(&reg->r_mu, NULL);
	return reg;
}

static void
registry_destroy(void *shared)
{
	txn_registry *reg = shared;
	if (reg == NULL)
		return;
	slot *s = reg->r_slots;
	while (s != NULL) {
		slot *next = s->s_next;
		rl_kafka_txn_destroy(s->s_txn);
		rl_kafka_producer_destroy(s->s_plain);
		pthread_mutex_destroy(&s->s_mu);
		rl_free(s->s_id);
		rl_free(s);
		s = next;
	}
	pthread_mutex_destroy(&reg->r_mu);
	rl_free(reg);
}

static slot *
slot_get(txn_registry *reg, const char *id, bool create)
{
	pthread_mutex_lock(&reg->r_mu);
	slot *s;
	for (s = reg->r_slots; s != NULL; s = s->s_next)
		if (strcmp(s->s_id, id) == 0)
			break;
	if (s == NULL && create) {
		s = RL_NEW(slot);
		s->s_id = rl_strdup(id);
		pthread_mutex_init(&s->s_mu, NULL);
		s->s_next = reg->r_slots;
		reg->r_slots = s;
	}
	pthread_mutex_unlock(&reg->r_mu);
	return s;
}

// drop_if_unusable forgets a producer that was fenced or failed fatally.
static void
drop_if_unusable(slot *s, rl_err rv)
{
	if (rv == RL_ERR_STALE_EPOCH) {
		rl_kafka_txn_destroy(s->s_txn);
		s->s_txn = NULL;
		s->s_state = TXN_IDLE;
	}
}

// kafka_finish commits (or aborts) the transaction that the sink task (job,
// partition) left prepared for batch_ms.
static rl_err
kafka_finish(void *shared, const char *job, uint32_t partition, int64_t batch_ms, bool commit,
    char *errbuf, size_t errlen)
{
	txn_registry *reg = shared;
	char          id[256];
	rl_kafka_sink_txn_id(job, partition, id, sizeof(id));
	slot *s = slot_get(reg, id, false);
	if (s == NULL) {
		if (!commit)
			return RL_OK;
		snprintf(errbuf, errlen, "%s: no transaction of batch %" PRId64 " is prepared here",
		    id, batch_ms);
		return RL_ERR_NOENT;
	}
	rl_err rv = RL_OK;
	pthread_mutex_lock(&s->s_mu);
	if (s->s_txn != NULL && s->s_state == TXN_PREPARED && s->s_batch_ms == batch_ms) {
		rv = commit ? rl_kafka_txn_commit(s->s_txn, TXN_TIMEOUT_MS, errbuf, errlen)
		            : rl_kafka_txn_abort(s->s_txn, TXN_TIMEOUT_MS, errbuf, errlen);
		s->s_state = TXN_IDLE;
		drop_if_unusable(s, rv);
	} else if (commit) {
		snprintf(errbuf, errlen, "%s: no transaction of batch %" PRId64 " is prepared here",
		    id, batch_ms);
		rv = RL_ERR_NOENT;
	}
	pthread_mutex_unlock(&s->s_mu);
	return rv;
}

// ---- the sink writer ----

typedef struct kafka_state {
	const rl_kafka_sink *sink;
	rl_sink_task         task;
	slot                *slot; // locked while this task owns it (exactly-once)
	char                 id[256];
	rl_err               write_err;
	char                 err[256];
} kafka_state;

static rl_err
open_transaction(kafka_state *st, char *errbuf, size_t errlen)
{
	const rl_kafka_sink *sink = st->sink;
	slot                *s = st->slot;
	rl_err               rv;
	if (s->s_txn == NULL
	    && (rv = rl_kafka_txn_create(
	            sink->k_brokers, NULL, st->id, TXN_TIMEOUT_MS, &s->s_txn, errbuf, errlen))
	        != RL_OK)
		return rv;
	if (s->s_state != TXN_IDLE) {
		// Left by an attempt whose batch never finished: it must not commit.
		rv = rl_kafka_txn_abort(s->s_txn, TXN_TIMEOUT_MS, errbuf, errlen);
		s->s_state = TXN_IDLE;
		drop_if_unusable(s, rv);
		if (rv != RL_OK)
			return rv;
	}
	if ((rv = rl_kafka_txn_begin(s->s_txn, errbuf, errlen)) != RL_OK) {
		drop_if_unusable(s, rv);
		return rv;
	}
	s->s_state = TXN_OPEN;
	return RL_OK;
}

static rl_err
kafka_open(void *state, const void *conf, const rl_sink_task *task, char *errbuf, size_t errlen)
{
	const rl_kafka_sink *sink = conf;
	kafka_state         *st = state;
	st->sink = sink;
	st->task = *task;
	if (!sink->k_exactly_once) {
		// One idempotent producer per broker list, shared by the tasks.
		st->slot = slot_get(task->t_shared, sink->k_brokers, true);
		pthread_mutex_lock(&st->slot->s_mu);
		const char    *props_n[] = { "enable.idempotence" }, *props_v[] = { "true" };
		rl_kafka_props props = { (char *const *)props_n, (char *const *)props_v, 1 };
		rl_err         rv = st->slot->s_plain != NULL
		            ? RL_OK
		            : rl_kafka_producer_create(
		                sink->k_brokers, &props, &st->slot->s_plain, errbuf, errlen);
		pthread_mutex_unlock(&st->slot->s_mu);
		return rv;
	}
	rl_kafka_sink_txn_id(task->t_job->j_name, task->t_partition, st->id, sizeof(st->id));
	st->slot = slot_get(task->t_shared, st->id, true);
	pthread_mutex_lock(&st->slot->s_mu);
	rl_err rv = open_transaction(st, errbuf, errlen);
	if (rv != RL_OK) {
		pthread_mutex_unlock(&st->slot->s_mu);
		st->slot = NULL;
	}
	return rv;
}

static rl_err
kafka_write(void *state, const rl_rec *rec)
{
	kafka_state *st = state;
	uint8_t      num[24];
	const void  *value = rec->r_val;
	size_t       value_len = rec->r_val_len;
	if (rec->r_is_num) {
		rl_rec v = { .r_num = rec->r_num, .r_is_num = true };
		value_len = rl_rec_format(&v, '\t', num);
		value = num;
	}
	rl_err rv = st->sink->k_exactly_once
	    ? rl_kafka_txn_produce(st->slot->s_txn, st->sink->k_topic, rec->r_key, rec->r_key_len,
	        value, value_len, st->err, sizeof(st->err))
	    : rl_kafka_produce(st->slot->s_plain, st->sink->k_topic, -1, rec->r_key, rec->r_key_len,
	        value, value_len, st->err, sizeof(st->err));
	if (rv != RL_OK && st->write_err == RL_OK)
		st->write_err = rv;
	return rv;
}

static void
kafka_abort(void *state)
{
	kafka_state *st = state;
	if (!st->sink->k_exactly_once || st->slot == NULL)
		return;
	slot *s = st->slot;
	char  why[256];
	if (s->s_txn != NULL && s->s_state == TXN_OPEN) {
		rl_err rv = rl_kafka_txn_abort(s->s_txn, TXN_TIMEOUT_MS, why, sizeof(why));
		s->s_state = TXN_IDLE;
		drop_if_unusable(s, rv);
	}
	pthread_mutex_unlock(&s->s_mu);
	st->slot = NULL;
}

static rl_err
kafka_commit(void *state, rl_sink_result *res, char *errbuf, size_t errlen)
{
	kafka_state *st = state;
	if (st->write_err != RL_OK) {
		snprintf(errbuf, errlen, "kafka sink: %s", st->err);
		return st->write_err;
	}
	if (!st->sink->k_exactly_once)
		return rl_kafka_flush(st->slot->s_plain, TXN_TIMEOUT_MS, errbuf, errlen);
	slot  *s = st->slot;
	rl_err rv = rl_kafka_txn_prepare(s->s_txn, st->id, st->sink->k_topic, 0,
	    st->task.t_batch_ms, TXN_TIMEOUT_MS, errbuf, errlen);
	if (rv != RL_OK)
		return rv; // the framework calls kafka_abort
	s->s_state = TXN_PREPARED;
	s->s_batch_ms = st->task.t_batch_ms;
	pthread_mutex_unlock(&s->s_mu);
	st->slot = NULL;
	return RL_OK;
}

const rl_sink_ops rl_sink_kafka_exec = {
	.s_version = RL_SINK_OPS_VERSION,
	.s_name = "kafka",
	.s_state_size = sizeof(kafka_state),
	.s_open = kafka_open,
	.s_write = kafka_write,
	.s_commit = kafka_commit,
	.s_abort = kafka_abort,
	.s_shared_create = registry_create,
	.s_shared_destroy = registry_destroy,
	.s_finish = kafka_finish,
};
