// SPDX-License-Identifier: Apache-2.0
// Partition discovery and watermarks for the job's Kafka source.
#include "driver/input.h"

#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/time.h"

#define META_TIMEOUT_MS 10000
#define DISCOVER_EVERY_MS 10000

struct rl_input {
	const rl_kafka_source *in_src;
	rl_kafka_meta         *in_meta;
	rl_input_part         *in_parts;
	size_t                 in_nparts;
	rl_tp                 *in_tps; // the same partitions, for offset queries
	int64_t                in_discovered_ms;
};

static int
cmp_part(const void *a, const void *b)
{
	const rl_input_part *x = a, *y = b;
	int                  c = strcmp(x->ip_topic, y->ip_topic);
	return c != 0 ? c
	              : (x->ip_partition > y->ip_partition) - (x->ip_partition < y->ip_partition);
}

// topic_names lists the source's topics: as written, or those matching the pattern.
static rl_err
topic_names(rl_input *in, char ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	const rl_kafka_source *src = in->in_src;
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
	rl_err rv = rl_kafka_list_topics(in->in_meta, META_TIMEOUT_MS, &all, &n, errbuf, errlen);
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

// discover adds partitions not seen before. At creation they start per
// starting_offsets; found later they start at the earliest offset.
static rl_err
discover(rl_input *in, bool initial, char *errbuf, size_t errlen)
{
	char **names;
	size_t ntopics;
	rl_err rv = topic_names(in, &names, &ntopics, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	size_t old = in->in_nparts;
	for (size_t t = 0; t < ntopics; t++) {
		int32_t count;
		rv = rl_kafka_partition_count(
		    in->in_meta, names[t], META_TIMEOUT_MS, &count, errbuf, errlen);
		if (rv != RL_OK)
			goto out;
		for (int32_t p = 0; p < count; p++) {
			if (rl_input_find(in, names[t], p) >= 0)
				continue;
			in->in_parts
			    = rl_realloc(in->in_parts, (in->in_nparts + 1) * sizeof(rl_input_part));
			in->in_parts[in->in_nparts++] = (rl_input_part) {
				.ip_topic = rl_strdup(names[t]),
				.ip_partition = p,
				.ip_next = -1,
				.ip_target = -1,
				.ip_preferred = -1,
			};
		}
	}
	if (in->in_nparts == 0) {
		snprintf(errbuf, errlen, "no topic matches pattern '%s' on %s",
		    in->in_src->k_pattern, in->in_src->k_brokers);
		rv = RL_ERR_NOENT;
		goto out;
	}
	if (in->in_nparts == old)
		goto out;
	qsort(in->in_parts, in->in_nparts, sizeof(rl_input_part), cmp_part);
	in->in_tps = rl_realloc(in->in_tps, in->in_nparts * sizeof(rl_tp));
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_tps[i] = (rl_tp) { in->in_parts[i].ip_topic, in->in_parts[i].ip_partition };

	// Partitions found after the start begin at their earliest offset.
	if (!initial) {
		int64_t *offs = rl_calloc(in->in_nparts, sizeof(int64_t));
		rv = rl_kafka_list_offsets(in->in_meta, in->in_tps, in->in_nparts,
		    RL_KAFKA_EARLIEST, META_TIMEOUT_MS, offs, errbuf, errlen);
		for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++) {
			rl_input_part *p = &in->in_parts[i];
			if (p->ip_next >= 0)
				continue;
			p->ip_next = offs[i];
			rl_info("driver", "new partition",
			    "topic=%s partition=%" PRId32 " from=%" PRId64, p->ip_topic,
			    p->ip_partition, p->ip_next);
		}
		rl_free(offs);
	}
out:
	for (size_t t = 0; t < ntopics; t++)
		rl_free(names[t]);
	rl_free(names);
	in->in_discovered_ms = rl_mono_ms();
	return rv;
}

rl_err
rl_input_create(const rl_kafka_source *src, rl_input **ret, char *errbuf, size_t errlen)
{
	rl_input *in = RL_NEW(rl_input);
	in->in_src = src;
	rl_kafka_props props = { src->k_prop_names, src->k_prop_values, src->k_nprops };
	rl_err         rv = rl_kafka_meta_create(
	            src->k_brokers, src->k_group, &props, &in->in_meta, errbuf, errlen);
	if (rv != RL_OK)
		goto err_input;
	if ((rv = discover(in, true, errbuf, errlen)) != RL_OK)
		goto err_input;
	*ret = in;
	return RL_OK;
err_input:
	rl_input_destroy(in);
	return rv;
}

int
rl_input_find(rl_input *in, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < in->in_nparts; i++)
		if (in->in_parts[i].ip_partition == partition
		    && strcmp(in->in_parts[i].ip_topic, topic) == 0)
			return (int)i;
	return -1;
}

// start_from_group positions partitions at the group's committed offsets;
// where there is none, at earliest[] or (none_is_error) an error.
static rl_err
start_from_group(
    rl_input *in, const int64_t *earliest, bool none_is_error, char *errbuf, size_t errlen)
{
	const rl_kafka_source *src = in->in_src;
	if (src->k_group == NULL) {
		snprintf(errbuf, errlen,
		    "starting_offsets: %s needs a consumer group (source.kafka.group)",
		    src->k_starting_offsets == RL_START_NONE ? "none" : "committed");
		return RL_ERR_INVAL;
	}
	int64_t *committed = rl_calloc(in->in_nparts, sizeof(int64_t));
	rl_err   rv = rl_kafka_committed(
	      in->in_meta, in->in_tps, in->in_nparts, META_TIMEOUT_MS, committed, errbuf, errlen);
	for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++) {
		rl_input_part *p = &in->in_parts[i];
		if (committed[i] >= 0) {
			p->ip_next = committed[i];
		} else if (none_is_error) {
			snprintf(errbuf, errlen,
			    "starting_offsets: none, and group '%s' has no committed offset for "
			    "%s[%" PRId32 "]",
			    src->k_group, p->ip_topic, p->ip_partition);
			rv = RL_ERR_NOENT;
		} else {
			p->ip_next = earliest[i];
		}
	}
	rl_free(committed);
	return rv;
}

rl_err
rl_input_start(rl_input *in, const Rill__BatchRecord *ckp, char *errbuf, size_t errlen)
{
	int64_t *earliest = rl_calloc(in->in_nparts, sizeof(int64_t));
	rl_err rv = rl_kafka_list_offsets(in->in_meta, in->in_tps, in->in_nparts, RL_KAFKA_EARLIEST,
	    META_TIMEOUT_MS, earliest, errbuf, errlen);
	if (rv != RL_OK)
		goto out;
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_parts[i].ip_next = earliest[i];
	if (ckp != NULL) {
		bool done = ckp->phase == RILL__BATCH_RECORD__PHASE__DONE;
		for (size_t r = 0; r < ckp->n_ranges; r++) {
			const Rill__CheckpointRange *cr = ckp->ranges[r];
			int i = rl_input_find(in, cr->topic, cr->partition);
			if (i >= 0)
				in->in_parts[i].ip_next = done ? cr->until_offset : cr->from_offset;
		}
		goto out;
	}
	switch (in->in_src->k_starting_offsets) {
	case RL_START_EARLIEST:
		break;
	case RL_START_LATEST:
		rv = rl_kafka_list_offsets(in->in_meta, in->in_tps, in->in_nparts, RL_KAFKA_LATEST,
		    META_TIMEOUT_MS, earliest, errbuf, errlen);
		for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++)
			in->in_parts[i].ip_next = earliest[i];
		break;
	case RL_START_COMMITTED:
	case RL_START_NONE:
		rv = start_from_group(
		    in, earliest, in->in_src->k_starting_offsets == RL_START_NONE, errbuf, errlen);
		break;
	}
out:
	rl_free(earliest);
	return rv;
}

rl_err
rl_input_earliest(rl_input *in, int64_t *ret, char *errbuf, size_t errlen)
{
	return rl_kafka_list_offsets(in->in_meta, in->in_tps, in->in_nparts, RL_KAFKA_EARLIEST,
	    META_TIMEOUT_MS, ret, errbuf, errlen);
}

rl_err
rl_input_commit(rl_input *in, char *errbuf, size_t errlen)
{
	if (in->in_src->k_group == NULL)
		return RL_OK;
	int64_t *next = rl_calloc(in->in_nparts, sizeof(int64_t));
	size_t   n = 0;
	rl_tp   *tps = rl_calloc(in->in_nparts, sizeof(rl_tp));
	for (size_t i = 0; i < in->in_nparts; i++) {
		if (in->in_parts[i].ip_next < 0)
			continue;
		tps[n] = in->in_tps[i];
		next[n++] = in->in_parts[i].ip_next;
	}
	rl_err rv = rl_kafka_commit(in->in_meta, tps, next, n, errbuf, errlen);
	rl_free(tps);
	rl_free(next);
	return rv;
}

void
rl_input_destroy(rl_input *in)
{
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->in_nparts; i++)
		rl_free(in->in_parts[i].ip_topic);
	rl_free(in->in_parts);
	rl_free(in->in_tps);
	rl_kafka_meta_destroy(in->in_meta);
	rl_free(in);
}

rl_err
rl_input_refresh(rl_input *in, char *errbuf, size_t errlen)
{
	if (rl_mono_ms() - in->in_discovered_ms >= DISCOVER_EVERY_MS) {
		char why[512];
		if (discover(in, false, why, sizeof(why)) != RL_OK)
			rl_warn("driver", "partition discovery failed", "error=\"%s\"", why);
	}
	int64_t *latest = rl_calloc(in->in_nparts, sizeof(int64_t));
	rl_err   rv = rl_kafka_list_offsets(in->in_meta, in->in_tps, in->in_nparts, RL_KAFKA_LATEST,
	      META_TIMEOUT_MS, latest, errbuf, errlen);
	if (rv == RL_OK)
		for (size_t i = 0; i < in->in_nparts; i++)
			in->in_parts[i].ip_latest = latest[i];
	rl_free(latest);
	return rv;
}

void
rl_input_set_targets(rl_input *in)
{
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_parts[i].ip_target = in->in_parts[i].ip_latest;
}

rl_input_part *
rl_input_parts(rl_input *in, size_t *ret_count)
{
	*ret_count = in->in_nparts;
	return in->in_parts;
}
