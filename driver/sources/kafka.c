// SPDX-License-Identifier: Apache-2.0
// The kafka source's driver half: partitions as splits, their watermarks, and
// progress committed to the job's consumer group.
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/sources/kafka.h"
#include "driver/source.h"

#define META_TIMEOUT_MS 10000

typedef struct kafka_source {
	const rl_kafka_source *k_src;
	rl_kafka_meta         *k_meta;
} kafka_source;

typedef struct topic_part {
	char   *t_topic;
	int32_t t_partition;
} topic_part;

static int
cmp_part(const void *a, const void *b)
{
	const topic_part *x = a, *y = b;
	int               c = strcmp(x->t_topic, y->t_topic);
	return c != 0 ? c : (x->t_partition > y->t_partition) - (x->t_partition < y->t_partition);
}

// tps_of parses split ids into topic/partition pairs whose topics point into
// *ret_names (one allocation; the caller frees both).
static rl_err
tps_of(const char *const *ids, size_t n, rl_tp **ret, char **ret_names, char *errbuf, size_t errlen)
{
	size_t total = 1;
	for (size_t i = 0; i < n; i++)
		total += strlen(ids[i]) + 1;
	char  *names = rl_malloc(total), *at = names;
	rl_tp *tps = rl_calloc(n + 1, sizeof(rl_tp));
	for (size_t i = 0; i < n; i++) {
		size_t room = total - (size_t)(at - names);
		if (!rl_kafka_split_parse(ids[i], at, room, &tps[i].tp_partition)) {
			snprintf(errbuf, errlen,
			    "kafka source: '%s' is not a TOPIC/PARTITION split", ids[i]);
			rl_free(tps);
			rl_free(names);
			return RL_ERR_INVAL;
		}
		tps[i].tp_topic = at;
		at += strlen(at) + 1;
	}
	*ret = tps;
	*ret_names = names;
	return RL_OK;
}

// topic_names lists the source's topics: as written, or those matching the pattern.
static rl_err
topic_names(kafka_source *ks, char ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	const rl_kafka_source *src = ks->k_src;
	if (src->k_pattern == NULL) {
		char **names = rl_calloc(src->k_ntopics + 1, sizeof(char *));
		for (size_t i = 0; i < src->k_ntopics; i++)
			names[i] = rl_strdup(src->k_topics[i]);
		*ret = names;
		*ret_count = src->k_ntopics;
		return RL_OK;
	}
	char **all;
	size_t n;
	rl_err rv = rl_kafka_list_topics(ks->k_meta, META_TIMEOUT_MS, &all, &n, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	// Like Kafka's subscribe(Pattern): the whole name must match, so the
	// pattern is anchored as ^(PATTERN)$ (REG_NOSUB leaves no match offsets).
	size_t plen = strlen(src->k_pattern) + sizeof("^()$");
	char  *anchored = rl_malloc(plen);
	snprintf(anchored, plen, "^(%s)$", src->k_pattern);
	regex_t re;
	int     bad = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
	rl_free(anchored);
	if (bad != 0) {
		rl_kafka_free_names(all);
		snprintf(errbuf, errlen, "pattern '%s' does not compile", src->k_pattern);
		return RL_ERR_INVAL;
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (regexec(&re, all[i], 0, NULL, 0) == 0)
			all[kept++] = all[i];
		else
			rl_free(all[i]);
	}
	all[kept] = NULL;
	regfree(&re);
	*ret = all;
	*ret_count = kept;
	return RL_OK;
}

static rl_err
kafka_open(void *state, const rl_job *job, rl_source_limits *limits, char *errbuf, size_t errlen)
{
	kafka_source          *ks = state;
	const rl_kafka_source *src = job->j_source.c_conf;
	ks->k_src = src;
	rl_kafka_props props = { src->k_prop_names, src->k_prop_values, src->k_nprops };
	rl_err         rv = rl_kafka_meta_create(
	            src->k_brokers, src->k_group, &props, &ks->k_meta, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	*limits = (rl_source_limits) {
		.l_max_rate_per_split = src->k_max_rate_per_partition,
		.l_backpressure = src->k_backpressure,
		.l_initial_rate = src->k_initial_rate,
		.l_fail_on_data_loss = src->k_fail_on_data_loss,
		.l_data_loss_hint = "set source.kafka.fail_on_data_loss: false",
	};
	return RL_OK;
}

static void
kafka_close(void *state)
{
	kafka_source *ks = state;
	rl_kafka_meta_destroy(ks->k_meta);
}

// kafka_discover lists every partition of the source's topics (named, or
// matching the pattern), sorted by topic and partition.
static rl_err
kafka_discover(void *state, rl_split_desc **ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	kafka_source *ks = state;
	char        **names;
	size_t        ntopics, nparts = 0;
	rl_err        rv = topic_names(ks, &names, &ntopics, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	topic_part *parts = NULL;
	for (size_t t = 0; t < ntopics; t++) {
		int32_t count;
		rv = rl_kafka_partition_count(
		    ks->k_meta, names[t], META_TIMEOUT_MS, &count, errbuf, errlen);
		if (rv != RL_OK)
			goto out;
		parts = rl_realloc(parts, (nparts + (size_t)count + 1) * sizeof(topic_part));
		for (int32_t p = 0; p < count; p++)
			parts[nparts++] = (topic_part) { names[t], p };
	}
	if (nparts == 0) {
		snprintf(errbuf, errlen, "no topic matches pattern '%s' on %s",
		    ks->k_src->k_pattern, ks->k_src->k_brokers);
		rv = RL_ERR_NOENT;
		goto out;
	}
	qsort(parts, nparts, sizeof(topic_part), cmp_part);
	rl_split_desc *descs = rl_calloc(nparts + 1, sizeof(rl_split_desc));
	for (size_t i = 0; i < nparts; i++) {
		char id[RL_SPLIT_ID_MAX];
		rl_kafka_split_id(parts[i].t_topic, parts[i].t_partition, id, sizeof(id));
		descs[i].sd_id = rl_strdup(id);
	}
	*ret = descs;
	*ret_count = nparts;
out:
	rl_free(parts);
	for (size_t t = 0; t < ntopics; t++)
		rl_free(names[t]);
	rl_free(names);
	return rv;
}

static rl_err
kafka_positions(void *state, const char *const *ids, size_t n, rl_source_position which,
    int64_t *ret, char *errbuf, size_t errlen)
{
	kafka_source *ks = state;
	rl_tp        *tps;
	char         *names;
	rl_err        rv = tps_of(ids, n, &tps, &names, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rv = rl_kafka_list_offsets(ks->k_meta, tps, n,
	    which == RL_POSITION_LATEST ? RL_KAFKA_LATEST : RL_KAFKA_EARLIEST, META_TIMEOUT_MS, ret,
	    errbuf, errlen);
	rl_free(tps);
	rl_free(names);
	return rv;
}

// kafka_start positions partitions per starting_offsets: earliest, latest,
// committed (the group's committed offset, else earliest) or none (the
// group's committed offset, and an error naming the first partition that
// has none).
static rl_err
kafka_start(void *state, const char *const *ids, size_t n, const int64_t *earliest, int64_t *ret,
    char *errbuf, size_t errlen)
{
	kafka_source          *ks = state;
	const rl_kafka_source *src = ks->k_src;
	switch (src->k_starting_offsets) {
	case RL_START_EARLIEST:
		memcpy(ret, earliest, n * sizeof(int64_t));
		return RL_OK;
	case RL_START_LATEST:
		return kafka_positions(state, ids, n, RL_POSITION_LATEST, ret, errbuf, errlen);
	case RL_START_COMMITTED:
	case RL_START_NONE:
		break;
	}
	bool none_is_error = src->k_starting_offsets == RL_START_NONE;
	if (src->k_group == NULL) {
		snprintf(errbuf, errlen,
		    "starting_offsets: %s needs a consumer group (source.kafka.group)",
		    none_is_error ? "none" : "committed");
		return RL_ERR_INVAL;
	}
	rl_tp *tps;
	char  *names;
	rl_err rv = tps_of(ids, n, &tps, &names, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	int64_t *committed = rl_calloc(n + 1, sizeof(int64_t));
	rv = rl_kafka_committed(ks->k_meta, tps, n, META_TIMEOUT_MS, committed, errbuf, errlen);
	for (size_t i = 0; rv == RL_OK && i < n; i++) {
		if (committed[i] >= 0) {
			ret[i] = committed[i];
		} else if (none_is_error) {
			snprintf(errbuf, errlen,
			    "starting_offsets: none, and group '%s' has no committed offset for "
			    "%s[%" PRId32 "]",
			    src->k_group, tps[i].tp_topic, tps[i].tp_partition);
			rv = RL_ERR_NOENT;
		} else {
			ret[i] = earliest[i];
		}
	}
	rl_free(committed);
	rl_free(tps);
	rl_free(names);
	return rv;
}

// kafka_commit commits every partition's position to the job's consumer
// group, if it has one: Kafka's own lag tools then see the job's progress.
static rl_err
kafka_commit(
    void *state, const char *const *ids, const int64_t *next, size_t n, char *errbuf, size_t errlen)
{
	kafka_source *ks = state;
	if (ks->k_src->k_group == NULL)
		return RL_OK;
	rl_tp *tps;
	char  *names;
	rl_err rv = tps_of(ids, n, &tps, &names, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	int64_t *offsets = rl_calloc(n + 1, sizeof(int64_t));
	size_t   k = 0;
	for (size_t i = 0; i < n; i++) {
		if (next[i] < 0)
			continue;
		tps[k] = tps[i];
		offsets[k++] = next[i];
	}
	if ((rv = rl_kafka_commit(ks->k_meta, tps, offsets, k, errbuf, errlen)) != RL_OK) {
		size_t len = strlen(errbuf);
		snprintf(errbuf + len, errlen - len, " (consumer group %s)", ks->k_src->k_group);
	}
	rl_free(offsets);
	rl_free(tps);
	rl_free(names);
	return rv;
}

static void
kafka_describe(void *state, const char *id, char *buf, size_t len)
{
	char    topic[RL_SPLIT_ID_MAX];
	int32_t partition;
	if (rl_kafka_split_parse(id, topic, sizeof(topic), &partition))
		snprintf(buf, len, "topic=%s partition=%" PRId32, topic, partition);
	else
		snprintf(buf, len, "split=%s", id);
}

const rl_source_driver_ops rl_source_kafka_driver = {
	.sd_version = RL_SOURCE_DRIVER_VERSION,
	.sd_name = "kafka",
	.sd_state_size = sizeof(kafka_source),
	.sd_open = kafka_open,
	.sd_close = kafka_close,
	.sd_discover = kafka_discover,
	.sd_positions = kafka_positions,
	.sd_start = kafka_start,
	.sd_commit = kafka_commit,
	.sd_describe = kafka_describe,
};
