// SPDX-License-Identifier: Apache-2.0
// librdkafka for keyed state: the changelog topic's creation (admin API), a
// transactional writer pinned to one partition, and the restore reader.
// Kept apart from common/kafka.c (the source's reader lives there).
#include "common/kafka_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka_client.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"

// ---- configuration ----

// new_client makes a client of type for brokers: rill's defaults, then the
// job's properties, then `fixed` (settings the state store depends on).
static rl_err
new_client(rd_kafka_type_t type, const char *brokers, const char *const *defaults,
    const rl_kafka_props *props, const char *const *fixed, rd_kafka_t **ret, char *errbuf,
    size_t errlen)
{
	rd_kafka_conf_t *conf;
	rl_err           rv = rl_kafka_conf_make(brokers, defaults, props, &conf, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	for (size_t i = 0; fixed != NULL && fixed[i] != NULL; i += 2) {
		if ((rv = rl_kafka_conf_set(conf, fixed[i], fixed[i + 1], errbuf, errlen))
		    != RL_OK) {
			rd_kafka_conf_destroy(conf);
			return rv;
		}
	}
	return rl_kafka_client_new(type, conf, ret, errbuf, errlen);
}

// ---- the topic ----

// admin_wait polls q for the result of one admin request.
static rd_kafka_event_t *
admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type, int timeout_ms)
{
	int64_t deadline = rl_mono_ms() + timeout_ms + 2000;
	while (rl_mono_ms() < deadline) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
		if (ev == NULL)
			continue;
		if (rd_kafka_event_type(ev) == type)
			return ev;
		rd_kafka_event_destroy(ev);
	}
	return NULL;
}

// check_existing checks that topic has `partitions` partitions and is compacted.
static rl_err
check_existing(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic, int32_t partitions,
    int timeout_ms, char *errbuf, size_t errlen)
{
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_t          *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t        err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
		snprintf(errbuf, errlen, "state changelog topic %s: metadata: %s", topic,
		    rd_kafka_err2str(err));
		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		return RL_ERR_KAFKA;
	}
	int have = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	if (have != partitions) {
		snprintf(errbuf, errlen,
		    "state changelog topic %s has %d partitions, the job's state needs %" PRId32,
		    topic, have, partitions);
		return RL_ERR_INVAL;
	}
	rd_kafka_ConfigResource_t *res
	    = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
	rd_kafka_ConfigResource_destroy(res);
	rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
	if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen,
		    "state changelog topic %s: describing its configuration: %s", topic,
		    ev != NULL ? rd_kafka_event_error_string(ev) : "timed out");
		if (ev != NULL)
			rd_kafka_event_destroy(ev);
		return RL_ERR_KAFKA;
	}
	size_t                            nres, nconf;
	const rd_kafka_ConfigResource_t **got = rd_kafka_DescribeConfigs_result_resources(
	    rd_kafka_event_DescribeConfigs_result(ev), &nres);
	const char *policy = NULL;
	if (nres == 1) {
		const rd_kafka_ConfigEntry_t **entries
		    = rd_kafka_ConfigResource_configs(got[0], &nconf);
		for (size_t i = 0; i < nconf; i++)
			if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), "cleanup.policy") == 0)
				policy = rd_kafka_ConfigEntry_value(entries[i]);
	}
	rl_err rv = RL_OK;
	if (policy == NULL || strstr(policy, "compact") == NULL) {
		snprintf(errbuf, errlen,
		    "state changelog topic %s has cleanup.policy=%s; it must be compact (or the "
		    "state's history is deleted by retention)",
		    topic, policy != NULL ? policy : "(unknown)");
		rv = RL_ERR_INVAL;
	}
	rd_kafka_event_destroy(ev);
	return rv;
}

rl_err
rl_kafka_changelog_ensure(const char *brokers, const rl_kafka_props *props, const char *topic,
    int32_t partitions, int timeout_ms, char *errbuf, size_t errlen)
{
	const char *defaults[] = { "client.id", "rill-state-admin", NULL };
	rd_kafka_t *rk;
	rl_err      rv
	    = new_client(RD_KAFKA_PRODUCER, brokers, defaults, props, NULL, &rk, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rd_kafka_queue_t    *q = rd_kafka_queue_new(rk);
	char                 why[256];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof(why));
	if (nt == NULL) {
		snprintf(errbuf, errlen, "state changelog topic %s: %s", topic, why);
		rv = RL_ERR_INVAL;
		goto out;
	}
	// Compaction never touches the active segment: roll it often enough
	// that a restore reads about the state, not every batch's markers.
	rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
	rd_kafka_NewTopic_set_config(nt, "segment.bytes", "67108864");
	rd_kafka_NewTopic_set_config(nt, "segment.ms", "600000");
	rd_kafka_NewTopic_set_config(nt, "min.compaction.lag.ms", "0");
	rd_kafka_AdminOptions_t *opts
	    = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
	rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
	rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms);
	if (ev == NULL) {
		snprintf(errbuf, errlen, "state changelog topic %s: creating it timed out", topic);
		rv = RL_ERR_TIMEDOUT;
		goto out;
	}
	rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
	const char         *msg = rd_kafka_event_error_string(ev);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		size_t                          n;
		const rd_kafka_topic_result_t **trs = rd_kafka_CreateTopics_result_topics(
		    rd_kafka_event_CreateTopics_result(ev), &n);
		if (n == 1) {
			err = rd_kafka_topic_result_error(trs[0]);
			msg = rd_kafka_topic_result_error_string(trs[0]);
		}
	}
	if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		rv = check_existing(rk, q, topic, partitions, timeout_ms, errbuf, errlen);
	} else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "state changelog topic %s: cannot create it: %s", topic,
		    msg != NULL ? msg : rd_kafka_err2str(err));
		rv = RL_ERR_KAFKA;
	} else {
		rl_info("kafka", "state changelog created",
		    "topic=%s partitions=%" PRId32 " cleanup_policy=compact", topic, partitions);
	}
	rd_kafka_event_destroy(ev);
out:
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rv;
}

// ---- the writer ----

// A transactional producer (common/kafka.c's, the exactly-once sink's) held
// to one changelog partition.
struct rl_kafka_changelog {
	rl_kafka_txn *c_txn;
	char         *c_topic;
	int32_t       c_partition;
};

// said puts the changelog partition before rv's explanation in errbuf.
static rl_err
said(const rl_kafka_changelog *c, rl_err rv, char *errbuf, size_t errlen)
{
	if (rv != RL_OK) {
		char why[512];
		snprintf(why, sizeof(why), "%s", errbuf);
		snprintf(errbuf, errlen, "state changelog %s/%" PRId32 ": %s", c->c_topic,
		    c->c_partition, why);
	}
	return rv;
}

rl_err
rl_kafka_changelog_open(const char *brokers, const rl_kafka_props *props, const char *txn_id,
    const char *topic, int32_t partition, int timeout_ms, rl_kafka_changelog **ret, char *errbuf,
    size_t errlen)
{
	const char *defaults[]
	    = { "client.id", "rill-state", "linger.ms", "5", "compression.type", "lz4", NULL };
	rl_kafka_changelog *c = RL_NEW(rl_kafka_changelog);
	c->c_topic = rl_strdup(topic);
	c->c_partition = partition;
	rl_err rv = said(c,
	    rl_kafka_txn_open(
	        brokers, defaults, props, txn_id, timeout_ms, &c->c_txn, errbuf, errlen),
	    errbuf, errlen);
	if (rv != RL_OK) {
		rl_kafka_changelog_close(c);
		return rv;
	}
	*ret = c;
	return RL_OK;
}

void
rl_kafka_changelog_close(rl_kafka_changelog *c)
{
	if (c == NULL)
		return;
	rl_kafka_txn_destroy(c->c_txn);
	rl_free(c->c_topic);
	rl_free(c);
}

rl_err
rl_kafka_changelog_begin(rl_kafka_changelog *c, char *errbuf, size_t errlen)
{
	return said(c, rl_kafka_txn_begin(c->c_txn, errbuf, errlen), errbuf, errlen);
}

rl_err
rl_kafka_changelog_put(rl_kafka_changelog *c, const void *key, size_t key_len, const void *value,
    size_t value_len, char *errbuf, size_t errlen)
{
	return said(c,
	    rl_kafka_txn_produce_to(c->c_txn, c->c_topic, c->c_partition, key, key_len, value,
	        value_len, errbuf, errlen),
	    errbuf, errlen);
}

rl_err
rl_kafka_changelog_commit(rl_kafka_changelog *c, int timeout_ms, char *errbuf, size_t errlen)
{
	// commit_transaction flushes first.
	return said(c, rl_kafka_txn_commit(c->c_txn, timeout_ms, errbuf, errlen), errbuf, errlen);
}

rl_err
rl_kafka_changelog_abort(rl_kafka_changelog *c, int timeout_ms, char *errbuf, size_t errlen)
{
	return said(c, rl_kafka_txn_abort(c->c_txn, timeout_ms, errbuf, errlen), errbuf, errlen);
}

// ---- restore ----

rl_err
rl_kafka_changelog_restore(const char *brokers, const rl_kafka_props *props, const char *topic,
    int32_t partition, int idle_timeout_ms, rl_kafka_changelog_cb cb, void *arg,
    uint64_t *ret_records, char *errbuf, size_t errlen)
{
	const char *defaults[] = { "client.id", "rill-state-restore", "fetch.max.bytes", "52428800",
		"max.partition.fetch.bytes", "16777216", NULL };
	// No group is joined (assign only) and nothing is committed.
	const char *fixed[] = { "group.id", "rill-state-restore", "enable.auto.commit", "false",
		"enable.partition.eof", "true", "isolation.level", "read_committed",
		"auto.offset.reset", "earliest", NULL };
	rd_kafka_t *rk;
	rl_err      rv
	    = new_client(RD_KAFKA_CONSUMER, brokers, defaults, props, fixed, &rk, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rd_kafka_poll_set_consumer(rk);
	uint64_t                         records = 0;
	rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tps, topic, partition)->offset
	    = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, tps);
	rd_kafka_topic_partition_list_destroy(tps);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errbuf, errlen, "state changelog %s/%" PRId32 ": assign: %s", topic,
		    partition, rd_kafka_err2str(err));
		rv = RL_ERR_KAFKA;
		goto out;
	}
	int64_t last = rl_mono_ms();
	for (;;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (m == NULL) {
			if (rl_mono_ms() - last > idle_timeout_ms) {
				snprintf(errbuf, errlen,
				    "state changelog %s/%" PRId32
				    ": no progress for %d ms after %" PRIu64 " records",
				    topic, partition, idle_timeout_ms, records);
				rv = RL_ERR_TIMEDOUT;
				break;
			}
			continue;
		}
		last = rl_mono_ms();
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			break; // the end (the last stable offset: committed data only)
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errbuf, errlen, "state changelog %s/%" PRId32 ": %s", topic,
			    partition, rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			rv = RL_ERR_KAFKA;
			break;
		}
		records++;
		rv = cb(arg, m->key, m->key_len, m->payload, m->len);
		rd_kafka_message_destroy(m);
		if (rv != RL_OK)
			break;
	}
out:
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (rv == RL_OK)
		*ret_records = records;
	return rv;
}
