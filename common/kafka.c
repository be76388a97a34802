// SPDX-License-Identifier: Apache-2.0
// librdkafka wrapper: metadata/offsets for the driver, range reads for executors,
// a producer and the mock cluster. rdkafka codes become rl_err here.
#include "common/kafka.h"
#include "common/kafka_client.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"

// ---- shared configuration ----

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	rl_log_level l = level <= LOG_ERR ? RL_LOG_ERROR
	    : level <= LOG_WARNING        ? RL_LOG_WARN
	    : level <= LOG_INFO           ? RL_LOG_INFO
	                                  : RL_LOG_DEBUG;
	if (!rl_log_enabled(l))
		return;
	rl_log(l, "kafka", buf, "client=%s facility=%s", rd_kafka_name(rk), fac);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)opaque;
	rl_warn("kafka", reason, "client=%s error=%s", rd_kafka_name(rk),
	    rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

rl_err
rl_kafka_conf_set(
    rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf, size_t errlen)
{
	char why[256];
	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		snprintf(errbuf, errlen, "Kafka property %s=%s: %s", name, value, why);
		return RL_ERR_INVAL;
	}
	return RL_OK;
}

rl_err
rl_kafka_conf_make(const char *brokers, const char *const *defaults, const rl_kafka_props *props,
    rd_kafka_conf_t **ret, char *errbuf, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rl_err           rv = RL_OK;
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	if (brokers != NULL
	    && (rv = rl_kafka_conf_set(conf, "bootstrap.servers", brokers, errbuf, errlen)))
		goto err_conf;
	for (size_t i = 0; defaults != NULL && defaults[i] != NULL; i += 2)
		if ((rv = rl_kafka_conf_set(conf, defaults[i], defaults[i + 1], errbuf, errlen))
		    != RL_OK)
			goto err_conf;
	for (size_t i = 0; props != NULL && i < props->p_count; i++)
		if ((rv = rl_kafka_conf_set(
		         conf, props->p_names[i], props->p_values[i], errbuf, errlen)))
			goto err_conf;
	*ret = conf;
	return RL_OK;
err_conf:
	rd_kafka_conf_destroy(conf);
	return rv;
}

rl_err
rl_kafka_client_new(
    rd_kafka_type_t type, rd_kafka_conf_t *conf, rd_kafka_t **ret, char *errbuf, size_t errlen)
{
	char        why[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(errbuf, errlen, "cannot create Kafka client: %s", why);
		return RL_ERR_KAFKA;
	}
	*ret = rk;
	return RL_OK;
}

static rl_err
from_kafka(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		return RL_OK;
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
		return RL_ERR_TIMEDOUT;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
		return RL_ERR_NOENT;
	case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
	case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
		return RL_ERR_DATA_LOSS;
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return RL_ERR_INVAL;
	default:
		return RL_ERR_KAFKA;
	}
}

static rd_kafka_topic_partition_list_t *
tp_list(const rl_tp *tps, size_t n)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, tps[i].tp_topic, tps[i].tp_partition);
	return list;
}

// ---- metadata and offsets ----

struct rl_kafka_meta {
	rd_kafka_t *m_rk;
	char       *m_brokers;
};

rl_err
rl_kafka_meta_create(const char *brokers, const char *group, const rl_kafka_props *props,
    rl_kafka_meta **ret, char *errbuf, size_t errlen)
{
	const char *defaults[] = {
		"client.id",
		"rill-driver",
		"enable.auto.commit",
		"false",
		NULL,
	};
	rd_kafka_conf_t *conf;
	rl_err           rv = rl_kafka_conf_make(brokers, defaults, props, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (group != NULL
	    && (rv = rl_kafka_conf_set(conf, "group.id", group, errbuf, errlen)) != RL_OK) {
		rd_kafka_conf_destroy(conf);
		return rv;
	}
	rd_kafka_t *rk;
	if ((rv = rl_kafka_client_new(RD_KAFKA_CONSUMER, conf, &rk, errbuf, errlen)) != RL_OK)
		return rv;
	rl_kafka_meta *meta = RL_NEW(rl_kafka_meta);
	meta->m_rk = rk;
	meta->m_brokers = rl_strdup(brokers);
	*ret = meta;
	return RL_OK;
}

void
rl_kafka_meta_destroy(rl_kafka_meta *meta)
{
	if (meta == NULL)
		return;
	rd_kafka_destroy(meta->m_rk);
	rl_free(meta->m_brokers);
	rl_free(meta);
}

rl_err
rl_kafka_partition_count(rl_kafka_meta *meta, const char *topic, int timeout_ms, int32_t *ret,
    char *errbuf, size_t errlen)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(meta->m_rk, topic, NULL);
	if (rkt == NULL) {
		snprintf(errbuf, errlen, "topic '%s': %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		return RL_ERR_INVAL;
	}
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err = rd_kafka_metadata(meta->m_rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "metadata for topic '%s' from %s: %s", topic,
		    meta->m_brokers, rd_kafka_err2str(err));
		return from_kafka(err);
	}
	rl_err rv = RL_OK;
	if (md->topic_cnt != 1) {
		snprintf(errbuf, errlen, "metadata for topic '%s': no answer", topic);
		rv = RL_ERR_KAFKA;
	} else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rv = from_kafka(md->topics[0].err);
		snprintf(errbuf, errlen, "topic '%s' on %s: %s%s", topic, meta->m_brokers,
		    rv == RL_ERR_NOENT ? "no such topic: " : "",
		    rd_kafka_err2str(md->topics[0].err));
	} else if (md->topics[0].partition_cnt == 0) {
		snprintf(errbuf, errlen, "topic '%s' on %s: no such topic", topic, meta->m_brokers);
		rv = RL_ERR_NOENT;
	} else {
		*ret = md->topics[0].partition_cnt;
	}
	rd_kafka_metadata_destroy(md);
	return rv;
}

rl_err
rl_kafka_list_topics(rl_kafka_meta *meta, int timeout_ms, char ***ret, size_t *ret_count,
    char *errbuf, size_t errlen)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err = rd_kafka_metadata(meta->m_rk, 1, NULL, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(
		    errbuf, errlen, "metadata from %s: %s", meta->m_brokers, rd_kafka_err2str(err));
		return from_kafka(err);
	}
	char **names = rl_calloc((size_t)md->topic_cnt + 1, sizeof(char *));
	size_t n = 0;
	for (int i = 0; i < md->topic_cnt; i++) {
		const char *t = md->topics[i].topic;
		if (t[0] == '_' || md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue; // internal (__consumer_offsets) or broken
		names[n++] = rl_strdup(t);
	}
	rd_kafka_metadata_destroy(md);
	*ret = names;
	*ret_count = n;
	return RL_OK;
}

void
rl_kafka_free_names(char **names)
{
	if (names == NULL)
		return;
	for (char **p = names; *p != NULL; p++)
		rl_free(*p);
	rl_free(names);
}

// retriable tells errors that a moment later may not be there: leadership
// moving, a topic just created, a request that timed out.
static bool
retriable(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
	case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
	case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
		return true;
	default:
		return false;
	}
}

static rl_err list_offsets_once(rl_kafka_meta *meta, const rl_tp *tps, size_t n,
    rl_kafka_which which, int timeout_ms, int64_t *ret, bool *ret_retriable, char *errbuf,
    size_t errlen);
static rl_err list_offsets_chunk(rl_kafka_meta *meta, const rl_tp *tps, size_t n,
    rl_kafka_which which, int timeout_ms, int64_t *ret, bool *ret_retriable, char *errbuf,
    size_t errlen);

rl_err
rl_kafka_list_offsets(rl_kafka_meta *meta, const rl_tp *tps, size_t n, rl_kafka_which which,
    int timeout_ms, int64_t *ret, char *errbuf, size_t errlen)
{
	// A few quick retries ride out a leader moving or a topic just created.
	int64_t backoff = 50;
	for (int attempt = 0;; attempt++) {
		bool   again = false;
		rl_err rv = list_offsets_once(
		    meta, tps, n, which, timeout_ms, ret, &again, errbuf, errlen);
		if (rv == RL_OK || !again || attempt == 5)
			return rv;
		rl_sleep_ms(backoff);
		backoff *= 2;
	}
}

// librdkafka 2.0's rd_kafka_offsets_for_times matches each answer to its
// request by a linear search of the list: quadratic in the partitions,
// 5-6 ms of strcmp a batch at 1,024 of them, most of a trickle batch's
// time. Lists longer than OFFSETS_CHUNK go as chunks, OFFSETS_THREADS
// of them at a time (the requests then overlap on the wire as well):
// 1,024 partitions' latest offsets took 4.2-5.2 ms in one list, 2.6-3.2 ms
// in chunks of 64 one after the other, 1.4-1.8 ms in 8 chunks of 128 at
// once (a local broker).
#define OFFSETS_CHUNK 128
#define OFFSETS_THREADS 8

typedef struct offsets_job {
	rl_kafka_meta *o_meta;
	const rl_tp   *o_tps;
	size_t         o_n;
	rl_kafka_which o_which;
	int            o_timeout_ms;
	int64_t       *o_ret;
	size_t         o_first; // this thread's first chunk; then every o_stride-th
	size_t         o_stride;
	rl_err         o_rv;
	bool           o_retriable;
	char           o_err[512];
} offsets_job;

static void *
offsets_main(void *arg)
{
	offsets_job *j = arg;
	for (size_t c = j->o_first; c * OFFSETS_CHUNK < j->o_n && j->o_rv == RL_OK;
	     c += j->o_stride) {
		size_t at = c * OFFSETS_CHUNK;
		size_t n = j->o_n - at < OFFSETS_CHUNK ? j->o_n - at : OFFSETS_CHUNK;
		j->o_rv = list_offsets_chunk(j->o_meta, j->o_tps + at, n, j->o_which,
		    j->o_timeout_ms, j->o_ret + at, &j->o_retriable, j->o_err, sizeof(j->o_err));
	}
	return NULL;
}

static rl_err
list_offsets_once(rl_kafka_meta *meta, const rl_tp *tps, size_t n, rl_kafka_which which,
    int timeout_ms, int64_t *ret, bool *ret_retriable, char *errbuf, size_t errlen)
{
	if (n <= OFFSETS_CHUNK)
		return list_offsets_chunk(
		    meta, tps, n, which, timeout_ms, ret, ret_retriable, errbuf, errlen);
	size_t       nchunks = (n + OFFSETS_CHUNK - 1) / OFFSETS_CHUNK;
	size_t       nthreads = nchunks < OFFSETS_THREADS ? nchunks : OFFSETS_THREADS;
	int64_t     *got = rl_calloc(n, sizeof(int64_t));
	offsets_job *jobs = rl_calloc(nthreads, sizeof(offsets_job));
	pthread_t   *threads = rl_calloc(nthreads, sizeof(pthread_t));
	bool        *started = rl_calloc(nthreads, sizeof(bool));
	for (size_t t = 0; t < nthreads; t++) {
		jobs[t] = (offsets_job) {
			.o_meta = meta,
			.o_tps = tps,
			.o_n = n,
			.o_which = which,
			.o_timeout_ms = timeout_ms,
			.o_ret = got,
			.o_first = t,
			.o_stride = nthreads,
		};
		// The first chunks run here if a thread cannot start.
		started[t]
		    = t > 0 && pthread_create(&threads[t], NULL, offsets_main, &jobs[t]) == 0;
	}
	for (size_t t = 0; t < nthreads; t++)
		if (!started[t])
			offsets_main(&jobs[t]);
	rl_err rv = RL_OK;
	for (size_t t = 0; t < nthreads; t++) {
		if (started[t])
			pthread_join(threads[t], NULL);
		if (jobs[t].o_rv != RL_OK && rv == RL_OK) {
			rv = jobs[t].o_rv;
			*ret_retriable = jobs[t].o_retriable;
			snprintf(errbuf, errlen, "%s", jobs[t].o_err);
		}
	}
	if (rv == RL_OK)
		memcpy(ret, got, n * sizeof(int64_t));
	rl_free(started);
	rl_free(threads);
	rl_free(jobs);
	rl_free(got);
	return rv;
}

static rl_err
list_offsets_chunk(rl_kafka_meta *meta, const rl_tp *tps, size_t n, rl_kafka_which which,
    int timeout_ms, int64_t *ret, bool *ret_retriable, char *errbuf, size_t errlen)
{
	rd_kafka_topic_partition_list_t *list = tp_list(tps, n);
	int64_t                          query
	    = which == RL_KAFKA_EARLIEST ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
	for (size_t i = 0; i < n; i++)
		list->elems[i].offset = query;
	rl_err              rv = RL_OK;
	rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(meta->m_rk, list, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "listing offsets on %s: %s", meta->m_brokers,
		    rd_kafka_err2str(err));
		*ret_retriable = retriable(err);
		rv = from_kafka(err);
		goto out;
	}
	for (int i = 0; i < list->cnt; i++) {
		const rd_kafka_topic_partition_t *e = &list->elems[i];
		if (e->err != RD_KAFKA_RESP_ERR_NO_ERROR || e->offset < 0) {
			*ret_retriable = e->err == RD_KAFKA_RESP_ERR_NO_ERROR || retriable(e->err);
			snprintf(errbuf, errlen, "offset of %s[%" PRId32 "] on %s: %s", e->topic,
			    e->partition, meta->m_brokers,
			    e->err ? rd_kafka_err2str(e->err) : "no offset returned");
			rv = e->err ? from_kafka(e->err) : RL_ERR_KAFKA;
			goto out;
		}
	}
	// The list keeps our order; write results only when all succeeded.
	for (size_t i = 0; i < n; i++)
		ret[i] = list->elems[i].offset;
out:
	rd_kafka_topic_partition_list_destroy(list);
	return rv;
}

rl_err
rl_kafka_committed(rl_kafka_meta *meta, const rl_tp *tps, size_t n, int timeout_ms, int64_t *ret,
    char *errbuf, size_t errlen)
{
	rd_kafka_topic_partition_list_t *list = tp_list(tps, n);
	rl_err                           rv = RL_OK;
	rd_kafka_resp_err_t              err = rd_kafka_committed(meta->m_rk, list, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "reading committed offsets from %s: %s", meta->m_brokers,
		    rd_kafka_err2str(err));
		rv = from_kafka(err);
		goto out;
	}
	for (int i = 0; i < list->cnt; i++) {
		const rd_kafka_topic_partition_t *e = &list->elems[i];
		if (e->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errbuf, errlen, "committed offset of %s[%" PRId32 "]: %s",
			    e->topic, e->partition, rd_kafka_err2str(e->err));
			rv = from_kafka(e->err);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		ret[i] = list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
out:
	rd_kafka_topic_partition_list_destroy(list);
	return rv;
}

rl_err
rl_kafka_commit(rl_kafka_meta *meta, const rl_tp *tps, const int64_t *offsets, size_t n,
    char *errbuf, size_t errlen)
{
	rd_kafka_topic_partition_list_t *list = tp_list(tps, n);
	for (size_t i = 0; i < n; i++)
		list->elems[i].offset = offsets[i];
	rl_err              rv = RL_OK;
	rd_kafka_resp_err_t err = rd_kafka_commit(meta->m_rk, list, 0);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < list->cnt; i++)
			if ((err = list->elems[i].err) != RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "committing offsets to %s: %s", meta->m_brokers,
		    rd_kafka_err2str(err));
		rv = from_kafka(err);
	}
	rd_kafka_topic_partition_list_destroy(list);
	return rv;
}

rl_err
rl_kafka_group_offsets(rl_kafka_meta *meta, const char *group, const rl_tp *tps, size_t n,
    int timeout_ms, int64_t *ret, char *errbuf, size_t errlen)
{
	rd_kafka_topic_partition_list_t     *list = tp_list(tps, n);
	rd_kafka_ListConsumerGroupOffsets_t *req
	    = rd_kafka_ListConsumerGroupOffsets_new(group, list);
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_queue_t        *q = rd_kafka_queue_new(meta->m_rk);
	rd_kafka_AdminOptions_t *opts
	    = rd_kafka_AdminOptions_new(meta->m_rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	char why[256];
	rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
	rd_kafka_ListConsumerGroupOffsets(meta->m_rk, &req, 1, opts, q);
	rd_kafka_ListConsumerGroupOffsets_destroy(req); // the call copied it
	rl_err            rv = RL_OK;
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
	if (ev == NULL) {
		snprintf(errbuf, errlen, "offsets of group '%s' from %s: no answer in %d ms", group,
		    meta->m_brokers, timeout_ms);
		rv = RL_ERR_TIMEDOUT;
		goto out;
	}
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "offsets of group '%s' from %s: %s", group,
		    meta->m_brokers, rd_kafka_event_error_string(ev));
		rv = from_kafka(rd_kafka_event_error(ev));
		goto out;
	}
	const rd_kafka_ListConsumerGroupOffsets_result_t *res
	    = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
	size_t                          ngroups;
	const rd_kafka_group_result_t **groups
	    = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &ngroups);
	const rd_kafka_topic_partition_list_t *parts
	    = ngroups == 1 ? rd_kafka_group_result_partitions(groups[0]) : NULL;
	if (ngroups != 1 || rd_kafka_group_result_error(groups[0]) != NULL || parts == NULL) {
		snprintf(errbuf, errlen, "offsets of group '%s': %s", group,
		    ngroups == 1 && rd_kafka_group_result_error(groups[0]) != NULL
		        ? rd_kafka_error_string(rd_kafka_group_result_error(groups[0]))
		        : "unexpected answer");
		rv = RL_ERR_KAFKA;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ret[i] = -1;
		for (int k = 0; k < parts->cnt; k++)
			if (parts->elems[k].partition == tps[i].tp_partition
			    && strcmp(parts->elems[k].topic, tps[i].tp_topic) == 0
			    && parts->elems[k].offset >= 0)
				ret[i] = parts->elems[k].offset;
	}
out:
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return rv;
}

// ---- range reads ----

#define STASH_MAX 512
// Partitions share a bounded pool of librdkafka clients: each client brings
// a main thread and one per broker, so a client per partition made an
// executor's threads and memory follow the partition count (862 threads and
// 353 MB at 512 partitions). Up to READER_CLIENTS partitions still get one
// client each: independent fetchers read the 8-partition word count fastest
// (0.6-0.7 s against 0.9-1.2 s with one client shared by the partitions).
#define READER_CLIENTS 4
// The reader's prefetch budget: what librdkafka may queue ahead for all its
// partitions together, shared evenly by the partitions the executor expects
// to read (rl_kafka_reader_expect), each between PART_KB_MIN and PART_KB_MAX.
#define PREFETCH_BUDGET_KB (16 * 1024)
#define PART_KB_MIN 16
#define PART_KB_MAX 1024
// A partition not read for this long (it moved to another executor, or its
// job stopped reading it) is stopped: its prefetched data is released.
#define RELEASE_IDLE_MS 30000
// What stays started between reads. A started partition keeps fetching, and
// with a backlog it holds at least a record batch (up to a MB, whatever the
// queue limits say), librdkafka's op of ~120 bytes for each message and the
// fetch buffers those pin (heaptrack at 1,024 partitions: as much again as
// the ops). Each started partition is charged the records it is expected to
// queue: the backlog the driver saw past its last range, or that range's
// size if more (at most CHARGE_MAX, about a record batch; that much before
// its first read when nothing is known). When the charges pass
// CHARGE_BUDGET a partition just read is stopped rather than kept warm,
// unless ALWAYS_WARM or fewer are started, and a warm-up waits for the
// first read. At a trickle every partition stays warm (idle, 512 started
// partitions cost an executor 18 MB); with a backlog on hundreds of
// partitions only what fits stays started, and a task that reads several
// ranges starts the next one while it reads the current (executor/task.c).
#define CHARGE_BUDGET ((int64_t)16384)
#define CHARGE_MAX 10000
// A read-ahead starts a partition past the budget only if it is charged at
// most this (a small partition, or a short backlog).
#define SOON_CHARGE_MAX 2000
#define ALWAYS_WARM 8
#define SWEEP_EVERY_MS 5000

typedef struct part part;

// One partition's warm consumer on one of the reader's clients: started once,
// positioned by the last range, its own queue of prefetched messages.
struct part {
	part               *p_next;
	rl_kafka_reader    *p_reader;
	rd_kafka_t         *p_rk; // its client's
	char               *p_topic;
	int32_t             p_partition;
	rd_kafka_topic_t   *p_rkt;
	pthread_mutex_t     p_mu; // one range read at a time
	bool                p_started;
	int64_t             p_charge; // records it is expected to queue while started
	int64_t             p_next_offset; // where the consumer continues
	atomic_llong        p_used_ms; // last read or warm-up, rl_mono_ms
	rd_kafka_message_t *p_stash[STASH_MAX]; // consumed past the last range
	size_t              p_stash_pos, p_stash_len;
};

typedef struct client {
	rd_kafka_t *c_rk;
	size_t      c_parts; // partitions on it
} client;

struct rl_kafka_reader {
	rd_kafka_conf_t *r_conf; // each client is made from a copy
	bool             r_user_sized; // the job's properties size the queues themselves
	pthread_mutex_t  r_mu; // guards everything below
	part            *r_parts;
	size_t           r_nparts;
	client           r_clients[READER_CLIENTS];
	size_t           r_nclients;
	uint32_t         r_expect; // partitions the executor expects to read (0: unknown)
	atomic_llong     r_charged; // the started partitions' charges
	atomic_int       r_started;
	int64_t          r_swept_ms;
};

// Prefetch settings sized for a client whose partitions are one of expect.
static const char *const SIZED_KEYS[] = {
	"queued.max.messages.kbytes",
	"queued.min.messages",
	"fetch.message.max.bytes",
};

rl_err
rl_kafka_reader_create(const char *brokers, const rl_kafka_props *props, rl_kafka_reader **ret,
    char *errbuf, size_t errlen)
{
	// A small per-partition prefetch keeps an executor's memory bounded
	// (librdkafka holds an op of a few hundred bytes per queued message
	// besides its bytes) while the next range is already on its way; see
	// next_messages() for why a small queue does not stall the reads. The
	// queue sizes themselves are set per client (client_new), from the
	// budget. A fetch waits at most 20 ms for data: a partition started
	// while its client's fetch waits at the log end of the others is
	// fetched only when that one returns, so the wait is what a cold read
	// pays (librdkafka's 500 ms default, and our earlier 100 ms, made a
	// batch over 1,024 partitions twice as slow).
	const char *defaults[] = {
		"client.id",
		"rill-executor",
		"enable.auto.commit",
		"false",
		"enable.auto.offset.store",
		"false",
		"enable.partition.eof",
		"true",
		"auto.offset.reset",
		"error",
		"fetch.wait.max.ms",
		"20",
		NULL,
	};
	rd_kafka_conf_t *conf;
	rl_err           rv = rl_kafka_conf_make(brokers, defaults, props, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rl_kafka_reader *r = RL_NEW(rl_kafka_reader);
	r->r_conf = conf;
	for (size_t i = 0; props != NULL && i < props->p_count; i++)
		for (size_t k = 0; k < sizeof(SIZED_KEYS) / sizeof(SIZED_KEYS[0]); k++)
			if (strcmp(props->p_names[i], SIZED_KEYS[k]) == 0)
				r->r_user_sized = true;
	pthread_mutex_init(&r->r_mu, NULL);
	*ret = r;
	return RL_OK;
}

void
rl_kafka_reader_expect(rl_kafka_reader *r, uint32_t partitions)
{
	pthread_mutex_lock(&r->r_mu);
	if (partitions > r->r_expect)
		r->r_expect = partitions;
	pthread_mutex_unlock(&r->r_mu);
}

int
rl_kafka_reader_started(rl_kafka_reader *r)
{
	return atomic_load(&r->r_started);
}

// rl_kafka_prefetch_kb is the queue one partition of expect may fill.
int
rl_kafka_prefetch_kb(uint32_t expect)
{
	int kb = PREFETCH_BUDGET_KB / (int)(expect > 0 ? expect : 1);
	return kb < PART_KB_MIN ? PART_KB_MIN : kb > PART_KB_MAX ? PART_KB_MAX : kb;
}

// client_new adds a client to the pool, its queues sized for partitions
// that are one of expect. Called with r_mu held.
static client *
client_new(rl_kafka_reader *r, uint32_t expect, char *errbuf, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(r->r_conf);
	if (!r->r_user_sized) {
		// About 5 queued messages a KB (records of ~100 bytes and
		// librdkafka's op for each), at most the 5000 of the old default;
		// a fetch brings at most one partition's share.
		int  kb = rl_kafka_prefetch_kb(expect);
		int  msgs = kb * 5 > 5000 ? 5000 : kb * 5;
		int  fetch = kb * 1024 > 524288 ? 524288 : kb * 1024;
		char v[3][32];
		snprintf(v[0], sizeof(v[0]), "%d", kb);
		snprintf(v[1], sizeof(v[1]), "%d", msgs);
		snprintf(v[2], sizeof(v[2]), "%d", fetch);
		for (size_t k = 0; k < 3; k++) {
			rl_err rv = rl_kafka_conf_set(conf, SIZED_KEYS[k], v[k], errbuf, errlen);
			if (rv != RL_OK) {
				rd_kafka_conf_destroy(conf);
				return NULL;
			}
		}
	}
	client *c = &r->r_clients[r->r_nclients];
	if (rl_kafka_client_new(RD_KAFKA_CONSUMER, conf, &c->c_rk, errbuf, errlen) != RL_OK)
		return NULL;
	c->c_parts = 0;
	r->r_nclients++;
	return c;
}

// client_for picks the client of a new partition: a new one while the pool
// has room (one client a partition, up to READER_CLIENTS), else the one with
// the fewest partitions. Called with r_mu held.
static client *
client_for(rl_kafka_reader *r, char *errbuf, size_t errlen)
{
	if (r->r_nclients < READER_CLIENTS) {
		uint32_t expect
		    = r->r_expect > r->r_nparts + 1 ? r->r_expect : (uint32_t)r->r_nparts + 1;
		return client_new(r, expect, errbuf, errlen);
	}
	client *best = &r->r_clients[0];
	for (size_t i = 1; i < r->r_nclients; i++)
		if (r->r_clients[i].c_parts < best->c_parts)
			best = &r->r_clients[i];
	return best;
}

static void
stash_clear(part *p)
{
	for (size_t i = p->p_stash_pos; i < p->p_stash_len; i++)
		rd_kafka_message_destroy(p->p_stash[i]);
	p->p_stash_pos = p->p_stash_len = 0;
}

void
rl_kafka_reader_destroy(rl_kafka_reader *r)
{
	if (r == NULL)
		return;
	part *p = r->r_parts;
	while (p != NULL) {
		part *next = p->p_next;
		stash_clear(p);
		if (p->p_started)
			rd_kafka_consume_stop(p->p_rkt, p->p_partition);
		rd_kafka_topic_destroy(p->p_rkt);
		pthread_mutex_destroy(&p->p_mu);
		rl_free(p->p_topic);
		rl_free(p);
		p = next;
	}
	for (size_t i = 0; i < r->r_nclients; i++)
		rd_kafka_destroy(r->r_clients[i].c_rk);
	rd_kafka_conf_destroy(r->r_conf);
	pthread_mutex_destroy(&r->r_mu);
	rl_free(r);
}

static void part_reset(part *p);

// sweep stops the partitions nobody read for RELEASE_IDLE_MS (one being
// read is left alone), at most every SWEEP_EVERY_MS.
static void
sweep(rl_kafka_reader *r, int64_t now)
{
	pthread_mutex_lock(&r->r_mu);
	bool due = now - r->r_swept_ms >= SWEEP_EVERY_MS;
	if (due)
		r->r_swept_ms = now;
	part *head = r->r_parts;
	pthread_mutex_unlock(&r->r_mu);
	if (!due)
		return;
	// Parts are only ever prepended, and freed with the reader: the list
	// from head on stays as it is.
	for (part *p = head; p != NULL; p = p->p_next) {
		if (now - atomic_load(&p->p_used_ms) <= RELEASE_IDLE_MS
		    || pthread_mutex_trylock(&p->p_mu) != 0)
			continue;
		if (p->p_started)
			part_reset(p);
		pthread_mutex_unlock(&p->p_mu);
	}
}

static part *
part_get(rl_kafka_reader *r, const char *topic, int32_t partition, char *errbuf, size_t errlen)
{
	int64_t now = rl_mono_ms();
	sweep(r, now);
	pthread_mutex_lock(&r->r_mu);
	part *p;
	for (p = r->r_parts; p != NULL; p = p->p_next)
		if (p->p_partition == partition && strcmp(p->p_topic, topic) == 0)
			goto out;
	client *c = client_for(r, errbuf, errlen);
	if (c == NULL)
		goto out;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->c_rk, topic, NULL);
	if (rkt == NULL) {
		snprintf(errbuf, errlen, "topic '%s': %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		goto out;
	}
	c->c_parts++;
	p = RL_NEW(part);
	p->p_reader = r;
	p->p_charge = CHARGE_MAX; // a backlog may wait before its first read
	p->p_rk = c->c_rk;
	p->p_topic = rl_strdup(topic);
	p->p_partition = partition;
	p->p_rkt = rkt;
	p->p_next_offset = -1;
	pthread_mutex_init(&p->p_mu, NULL);
	p->p_next = r->r_parts;
	r->r_parts = p;
	r->r_nparts++;
out:
	if (p != NULL)
		atomic_store(&p->p_used_ms, now);
	pthread_mutex_unlock(&r->r_mu);
	return p;
}

// position makes the partition's consumer deliver from offset `from` next.
static rl_err
position(part *p, int64_t from, char *errbuf, size_t errlen)
{
	if (p->p_started && p->p_next_offset == from)
		return RL_OK; // warm: the prefetched data is what we need
	stash_clear(p);
	if (!p->p_started) {
		if (rd_kafka_consume_start(p->p_rkt, p->p_partition, from) == -1) {
			rd_kafka_resp_err_t err = rd_kafka_last_error();
			snprintf(errbuf, errlen,
			    "%s[%" PRId32 "]: cannot start consuming at %" PRId64 ": %s",
			    p->p_topic, p->p_partition, from, rd_kafka_err2str(err));
			return from_kafka(err);
		}
		p->p_started = true;
		atomic_fetch_add(&p->p_reader->r_charged, p->p_charge);
		atomic_fetch_add(&p->p_reader->r_started, 1);
	} else {
		rd_kafka_resp_err_t err = rd_kafka_seek(p->p_rkt, p->p_partition, from, 10000);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errbuf, errlen, "%s[%" PRId32 "]: cannot seek to %" PRId64 ": %s",
			    p->p_topic, p->p_partition, from, rd_kafka_err2str(err));
			return from_kafka(err);
		}
	}
	p->p_next_offset = from;
	return RL_OK;
}

// next_messages refills the stash: whatever is queued, without waiting, or
// else the first message to arrive within wait_ms. Returns the count or -1.
//
// An empty queue while the range is not done means the fetcher is idle: it
// stops when the queue passes queued.min.messages and librdkafka < 2.2 (no
// fetch.queue.backoff.ms) looks again only after up to a second. Seeking to
// exactly the next offset wakes it at once and loses nothing, as nothing is
// queued.
static ssize_t
next_messages(part *p, int wait_ms)
{
	ssize_t n = rd_kafka_consume_batch(p->p_rkt, p->p_partition, 0, p->p_stash, STASH_MAX);
	if (n != 0)
		return n;
	if (p->p_next_offset >= 0)
		rd_kafka_seek(p->p_rkt, p->p_partition, p->p_next_offset, 1000);
	rd_kafka_message_t *m = rd_kafka_consume(p->p_rkt, p->p_partition, wait_ms);
	if (m == NULL)
		return rd_kafka_last_error() == RD_KAFKA_RESP_ERR__TIMED_OUT ? 0 : -1;
	p->p_stash[0] = m;
	return 1;
}

// drain frees what a stopped partition's queue still holds. librdkafka's
// stop drops the queued messages, but a fetch answered while the stop was
// on its way still lands in the queue, outdated, and stays there until the
// queue is next read: a whole record batch and an op for each of its
// records, for as long as the partition is not read again (heaptrack, 1,024
// partitions written in 1 MB record batches: 39 MB of fetch buffers and
// 105 MB of ops, of an executor's 154 MB). Reading the queue once the stop
// is done destroys them.
static void
drain(part *p)
{
	rd_kafka_message_t *m[64];
	ssize_t             n;
	while ((n = rd_kafka_consume_batch(p->p_rkt, p->p_partition, 0, m, 64)) > 0)
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(m[i]);
}

static void
part_reset(part *p)
{
	stash_clear(p);
	if (p->p_started) {
		rd_kafka_consume_stop(p->p_rkt, p->p_partition);
		drain(p);
		atomic_fetch_sub(&p->p_reader->r_charged, p->p_charge);
		atomic_fetch_sub(&p->p_reader->r_started, 1);
	}
	p->p_started = false;
	p->p_next_offset = -1;
}

// charge_of is what a partition expected to queue `records` is charged.
static int64_t
charge_of(int64_t records)
{
	return records < 1 ? 1 : records > CHARGE_MAX ? CHARGE_MAX : records;
}

// over_budget says whether the started partitions' charges pass the budget
// with more than ALWAYS_WARM of them started.
static bool
over_budget(const rl_kafka_reader *r, int64_t more)
{
	return atomic_load(&r->r_charged) + more > CHARGE_BUDGET
	    && atomic_load(&r->r_started) >= ALWAYS_WARM;
}

// recharge charges p (started, under p_mu) what it will queue after a read:
// the backlog the driver saw past the range, or what a range like the last
// one (span offsets) brings by the next batch, whichever is more; and stops
// it if the reader is over its budget. A range cut small by rate limits
// from a long backlog is charged the backlog: librdkafka fills the queue
// whatever the range.
static void
recharge(part *p, int64_t span, int64_t backlog)
{
	int64_t charge = charge_of(backlog > span ? backlog : span);
	if (p->p_started)
		atomic_fetch_add(&p->p_reader->r_charged, charge - p->p_charge);
	p->p_charge = charge;
	if (p->p_started && over_budget(p->p_reader, 0))
		part_reset(p);
}

rl_err
rl_kafka_read_range(rl_kafka_reader *r, const char *topic, int32_t partition, int64_t from,
    int64_t until, int64_t backlog, int idle_timeout_ms, rl_kafka_record_cb cb, void *arg,
    char *errbuf, size_t errlen)
{
	if (from >= until)
		return RL_OK;
	part *p = part_get(r, topic, partition, errbuf, errlen);
	if (p == NULL)
		return RL_ERR_INVAL;
	pthread_mutex_lock(&p->p_mu);
	rl_err rv = position(p, from, errbuf, errlen);
	if (rv != RL_OK)
		goto out;

	int64_t last_progress = rl_mono_ms();
	bool    done = false;
	while (!done) {
		if (p->p_stash_pos == p->p_stash_len) {
			p->p_stash_pos = 0;
			ssize_t n = next_messages(p, 100);
			if (n < 0) {
				rd_kafka_resp_err_t err = rd_kafka_last_error();
				snprintf(errbuf, errlen, "%s[%" PRId32 "] at %" PRId64 ": %s",
				    topic, partition, p->p_next_offset, rd_kafka_err2str(err));
				rv = from_kafka(err);
				p->p_stash_len = 0;
				goto err_reset;
			}
			p->p_stash_len = (size_t)n;
			if (n == 0) {
				if (rl_mono_ms() - last_progress > idle_timeout_ms) {
					snprintf(errbuf, errlen,
					    "%s[%" PRId32 "]: no records after offset %" PRId64
					    " for %d ms while reading up to %" PRId64
					    " (broker unreachable?)",
					    topic, partition, p->p_next_offset, idle_timeout_ms,
					    until);
					rv = RL_ERR_TIMEDOUT;
					goto err_reset;
				}
				continue;
			}
			last_progress = rl_mono_ms();
		}
		rd_kafka_message_t *m = p->p_stash[p->p_stash_pos];
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			// The log ends at m->offset: past-the-end of our range means done.
			p->p_stash_pos++;
			if (m->offset >= until) {
				p->p_next_offset = until;
				done = true;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rv = from_kafka(m->err);
			if (rv == RL_ERR_DATA_LOSS)
				snprintf(errbuf, errlen,
				    "%s[%" PRId32 "]: offset %" PRId64
				    " is no longer in the log (deleted by retention?): %s",
				    topic, partition, p->p_next_offset, rd_kafka_message_errstr(m));
			else
				snprintf(errbuf, errlen, "%s[%" PRId32 "] at %" PRId64 ": %s",
				    topic, partition, p->p_next_offset, rd_kafka_message_errstr(m));
			goto err_reset;
		}
		if (m->offset >= until) {
			// Belongs to the next range: leave it stashed.
			p->p_next_offset = until;
			done = true;
			break;
		}
		p->p_stash_pos++;
		if (m->offset >= from) {
			rl_kafka_record rec = {
				.r_key = m->key,
				.r_key_len = m->key_len,
				.r_value = m->payload != NULL ? m->payload : "",
				.r_value_len = m->len,
				.r_offset = m->offset,
				.r_timestamp_ms = rd_kafka_message_timestamp(m, NULL),
			};
			rv = cb(arg, &rec);
		}
		int64_t off = m->offset;
		rd_kafka_message_destroy(m);
		if (rv != RL_OK) {
			// Keep the callback's own explanation, if it gave one.
			char why[512];
			snprintf(
			    why, sizeof(why), "%s", errbuf[0] != '\0' ? errbuf : rl_strerror(rv));
			snprintf(errbuf, errlen, "%s[%" PRId32 "] at offset %" PRId64 ": %s", topic,
			    partition, off, why);
			goto err_reset;
		}
		p->p_next_offset = off + 1;
		if (off + 1 >= until) {
			p->p_next_offset = until;
			done = true;
		}
	}
	recharge(p, until - from, backlog);
	goto out;

err_reset:
	part_reset(p);
out:
	pthread_mutex_unlock(&p->p_mu);
	return rv;
}

rl_err
rl_kafka_warm(rl_kafka_reader *r, const char *topic, int32_t partition, int64_t from,
    int64_t backlog, bool soon, char *errbuf, size_t errlen)
{
	part *p = part_get(r, topic, partition, errbuf, errlen);
	if (p == NULL)
		return RL_ERR_INVAL;
	pthread_mutex_lock(&p->p_mu);
	rl_err rv = RL_OK;
	if (!p->p_started && backlog >= 0)
		p->p_charge = charge_of(backlog);
	// Past the budget a partition waits for its first read to start,
	// unless that read is next and the partition small enough that its
	// fetch is mostly round trip (a read-ahead of partitions written in
	// 1 MB record batches would hold a MB or two each for nothing).
	if (p->p_started || (soon && p->p_charge <= SOON_CHARGE_MAX)
	    || !over_budget(r, p->p_charge))
		rv = position(p, from, errbuf, errlen);
	pthread_mutex_unlock(&p->p_mu);
	return rv;
}

// ---- producer ----

struct rl_kafka_producer {
	rd_kafka_t      *p_rk;
	_Atomic uint64_t p_failed;
	char             p_last_error[256];
};

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	rl_kafka_producer *p = opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (p->p_failed++ == 0)
			snprintf(p->p_last_error, sizeof(p->p_last_error), "%s",
			    rd_kafka_err2str(m->err));
	}
}

rl_err
rl_kafka_producer_create(const char *brokers, const rl_kafka_props *props, rl_kafka_producer **ret,
    char *errbuf, size_t errlen)
{
	const char      *defaults[] = { "client.id", "rill-producer", "linger.ms", "5", NULL };
	rd_kafka_conf_t *conf;
	rl_err           rv = rl_kafka_conf_make(brokers, defaults, props, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rl_kafka_producer *p = RL_NEW(rl_kafka_producer);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, p);
	if ((rv = rl_kafka_client_new(RD_KAFKA_PRODUCER, conf, &p->p_rk, errbuf, errlen))
	    != RL_OK) {
		rl_free(p);
		return rv;
	}
	*ret = p;
	return RL_OK;
}

void
rl_kafka_producer_destroy(rl_kafka_producer *p)
{
	if (p == NULL)
		return;
	rd_kafka_flush(p->p_rk, 10000);
	rd_kafka_destroy(p->p_rk);
	rl_free(p);
}

rl_err
rl_kafka_produce(rl_kafka_producer *p, const char *topic, int32_t partition, const void *key,
    size_t key_len, const void *value, size_t value_len, char *errbuf, size_t errlen)
{
	size_t klen = key != NULL ? key_len : 0;
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(p->p_rk, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
		    RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value_len), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_poll(p->p_rk, 0);
			return RL_OK;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			snprintf(
			    errbuf, errlen, "producing to '%s': %s", topic, rd_kafka_err2str(err));
			return from_kafka(err);
		}
		rd_kafka_poll(p->p_rk, 10);
	}
}

rl_err
rl_kafka_producer_connect(
    rl_kafka_producer *p, const char *topic, int timeout_ms, char *errbuf, size_t errlen)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->p_rk, topic, NULL);
	if (rkt == NULL) {
		snprintf(errbuf, errlen, "topic '%s': %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		return RL_ERR_KAFKA;
	}
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t             err = rd_kafka_metadata(p->p_rk, 0, rkt, &md, timeout_ms);
	rl_err                          rv = RL_OK;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "metadata for '%s': %s", topic, rd_kafka_err2str(err));
		rv = from_kafka(err);
	} else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		err = md->topic_cnt != 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : md->topics[0].err;
		snprintf(errbuf, errlen, "topic '%s': %s", topic, rd_kafka_err2str(err));
		rv = from_kafka(err);
	}
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rv;
}

rl_err
rl_kafka_flush(rl_kafka_producer *p, int timeout_ms, char *errbuf, size_t errlen)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(p->p_rk, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "flush: %s", rd_kafka_err2str(err));
		return from_kafka(err);
	}
	if (p->p_failed > 0) {
		snprintf(errbuf, errlen, "%" PRIu64 " records were not delivered: %s",
		    (uint64_t)p->p_failed, p->p_last_error);
		return RL_ERR_KAFKA;
	}
	return RL_OK;
}

// ---- transactional producer ----

struct rl_kafka_txn {
	rd_kafka_t *t_rk;
	char       *t_id;
};

// txn_error turns a transactional API error into rl_err (destroying it).
static rl_err
txn_error(rl_kafka_txn *t, rd_kafka_error_t *error, const char *what, char *errbuf, size_t errlen)
{
	if (error == NULL)
		return RL_OK;
	bool unusable = rd_kafka_error_is_fatal(error)
	    || rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FENCED
	    || rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
	snprintf(errbuf, errlen, "transactional producer %s: %s: %s%s", t->t_id, what,
	    rd_kafka_error_string(error), unusable ? " (producer unusable)" : "");
	rd_kafka_error_destroy(error);
	return unusable ? RL_ERR_STALE_EPOCH : RL_ERR_KAFKA;
}

rl_err
rl_kafka_txn_create(const char *brokers, const rl_kafka_props *props, const char *txn_id,
    int timeout_ms, rl_kafka_txn **ret, char *errbuf, size_t errlen)
{
	const char *defaults[] = { "client.id", "rill-sink", "linger.ms", "5", NULL };
	return rl_kafka_txn_open(brokers, defaults, props, txn_id, timeout_ms, ret, errbuf, errlen);
}

rl_err
rl_kafka_txn_open(const char *brokers, const char *const *defaults, const rl_kafka_props *props,
    const char *txn_id, int timeout_ms, rl_kafka_txn **ret, char *errbuf, size_t errlen)
{
	rd_kafka_conf_t *conf;
	rl_err           rv = rl_kafka_conf_make(brokers, defaults, props, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if ((rv = rl_kafka_conf_set(conf, "transactional.id", txn_id, errbuf, errlen)) != RL_OK) {
		rd_kafka_conf_destroy(conf);
		return rv;
	}
	rl_kafka_txn *t = RL_NEW(rl_kafka_txn);
	t->t_id = rl_strdup(txn_id);
	if ((rv = rl_kafka_client_new(RD_KAFKA_PRODUCER, conf, &t->t_rk, errbuf, errlen))
	    != RL_OK) {
		rl_free(t->t_id);
		rl_free(t);
		return rv;
	}
	rv = txn_error(t, rd_kafka_init_transactions(t->t_rk, timeout_ms), "init", errbuf, errlen);
	if (rv != RL_OK) {
		rl_kafka_txn_destroy(t);
		return rv;
	}
	*ret = t;
	return RL_OK;
}

void
rl_kafka_txn_destroy(rl_kafka_txn *t)
{
	if (t == NULL)
		return;
	rd_kafka_destroy(t->t_rk);
	rl_free(t->t_id);
	rl_free(t);
}

rl_err
rl_kafka_txn_begin(rl_kafka_txn *t, char *errbuf, size_t errlen)
{
	return txn_error(t, rd_kafka_begin_transaction(t->t_rk), "begin", errbuf, errlen);
}

rl_err
rl_kafka_txn_produce(rl_kafka_txn *t, const char *topic, const void *key, size_t key_len,
    const void *value, size_t value_len, char *errbuf, size_t errlen)
{
	return rl_kafka_txn_produce_to(
	    t, topic, RD_KAFKA_PARTITION_UA, key, key_len, value, value_len, errbuf, errlen);
}

rl_err
rl_kafka_txn_produce_to(rl_kafka_txn *t, const char *topic, int32_t partition, const void *key,
    size_t key_len, const void *value, size_t value_len, char *errbuf, size_t errlen)
{
	size_t klen = key != NULL ? key_len : 0;
	size_t vlen = value != NULL ? value_len : 0;
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(t->t_rk, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)(uintptr_t)value, vlen),
		    RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			return RL_OK;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			snprintf(errbuf, errlen, "transactional producer %s: producing to '%s': %s",
			    t->t_id, topic, rd_kafka_err2str(err));
			return err == RD_KAFKA_RESP_ERR__FATAL ? RL_ERR_STALE_EPOCH : RL_ERR_KAFKA;
		}
		rd_kafka_poll(t->t_rk, 10);
	}
}

rl_err
rl_kafka_txn_prepare(rl_kafka_txn *t, const char *group, const char *marker_topic,
    int32_t marker_partition, int64_t marker_offset, int timeout_ms, char *errbuf, size_t errlen)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(t->t_rk, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "transactional producer %s: flush: %s", t->t_id,
		    rd_kafka_err2str(err));
		return RL_ERR_KAFKA;
	}
	rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(offsets, marker_topic, marker_partition)->offset
	    = marker_offset;
	rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata_new(group);
	rl_err                              rv
	    = txn_error(t, rd_kafka_send_offsets_to_transaction(t->t_rk, offsets, cgmd, timeout_ms),
	        "adding the commit marker", errbuf, errlen);
	rd_kafka_consumer_group_metadata_destroy(cgmd);
	rd_kafka_topic_partition_list_destroy(offsets);
	return rv;
}

rl_err
rl_kafka_txn_commit(rl_kafka_txn *t, int timeout_ms, char *errbuf, size_t errlen)
{
	return txn_error(
	    t, rd_kafka_commit_transaction(t->t_rk, timeout_ms), "commit", errbuf, errlen);
}

rl_err
rl_kafka_txn_abort(rl_kafka_txn *t, int timeout_ms, char *errbuf, size_t errlen)
{
	return txn_error(
	    t, rd_kafka_abort_transaction(t->t_rk, timeout_ms), "abort", errbuf, errlen);
}

// ---- mock cluster ----

struct rl_kafka_mock {
	rd_kafka_t              *m_rk; // owns the cluster
	rd_kafka_mock_cluster_t *m_cluster;
	char                    *m_bootstraps;
};

rl_err
rl_kafka_mock_create(int nbrokers, rl_kafka_mock **ret, char *errbuf, size_t errlen)
{
	rd_kafka_conf_t *conf;
	const char      *defaults[] = { "client.id", "rill-mock", NULL };
	rl_err           rv = rl_kafka_conf_make(NULL, defaults, NULL, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rd_kafka_t *rk;
	if ((rv = rl_kafka_client_new(RD_KAFKA_PRODUCER, conf, &rk, errbuf, errlen)) != RL_OK)
		return rv;
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (mc == NULL) {
		snprintf(errbuf, errlen, "cannot start a mock cluster of %d brokers", nbrokers);
		rd_kafka_destroy(rk);
		return RL_ERR_KAFKA;
	}
	rl_kafka_mock *m = RL_NEW(rl_kafka_mock);
	m->m_rk = rk;
	m->m_cluster = mc;
	m->m_bootstraps = rl_strdup(rd_kafka_mock_cluster_bootstraps(mc));
	*ret = m;
	return RL_OK;
}

void
rl_kafka_mock_destroy(rl_kafka_mock *m)
{
	if (m == NULL)
		return;
	rd_kafka_mock_cluster_destroy(m->m_cluster);
	rd_kafka_destroy(m->m_rk);
	rl_free(m->m_bootstraps);
	rl_free(m);
}

const char *
rl_kafka_mock_bootstraps(const rl_kafka_mock *m)
{
	return m->m_bootstraps;
}

rl_err
rl_kafka_mock_create_topic(
    rl_kafka_mock *m, const char *topic, int partitions, char *errbuf, size_t errlen)
{
	rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->m_cluster, topic, partitions, 1);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "mock topic '%s': %s", topic, rd_kafka_err2str(err));
		return from_kafka(err);
	}
	return RL_OK;
}
