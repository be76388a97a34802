// SPDX-License-Identifier: Apache-2.0
// The kafka source's executor half: a split is a partition, read from the
// job's reader, whose per-partition consumers stay warm between batches.
#include <stdio.h>

#include "common/kafka.h"
#include "common/sources/kafka.h"
#include "executor/source.h"

typedef struct kafka_read {
	rl_kafka_reader    *k_reader;
	char                k_topic[RL_SPLIT_ID_MAX];
	int32_t             k_partition;
	int64_t             k_from;
	int64_t             k_until;
	int64_t             k_end_seen;
	rl_source_record_cb k_cb;
	void               *k_arg;
} kafka_read;

static rl_err
kafka_job_open(const rl_job *job, void **ret_shared, char *errbuf, size_t errlen)
{
	const rl_kafka_source *src = job->j_source.c_conf;
	rl_kafka_props         props = { src->k_prop_names, src->k_prop_values, src->k_nprops };
	rl_kafka_reader       *reader;
	rl_err rv = rl_kafka_reader_create(src->k_brokers, &props, &reader, errbuf, errlen);
	if (rv == RL_OK)
		*ret_shared = reader;
	return rv;
}

static void
kafka_job_close(void *shared)
{
	rl_kafka_reader_destroy(shared);
}

static rl_err
parse_split(const rl_split_range *range, char *topic, size_t len, int32_t *ret_partition,
    char *errbuf, size_t errlen)
{
	if (!rl_kafka_split_parse(range->sr_id, topic, len, ret_partition)) {
		snprintf(errbuf, errlen, "kafka source: split '%s' is not TOPIC/PARTITION",
		    range->sr_id);
		return RL_ERR_PROTO;
	}
	return RL_OK;
}

static rl_err
kafka_warm(void *shared, const rl_split_range *range, char *errbuf, size_t errlen)
{
	char    topic[RL_SPLIT_ID_MAX];
	int32_t partition;
	rl_err  rv = parse_split(range, topic, sizeof(topic), &partition, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (range->sr_splits_here > 0)
		rl_kafka_reader_expect(shared, range->sr_splits_here);
	// The driver's warm-up range ends where the split ended when it looked
	// (until == from: nothing waiting, or not known).
	return rl_kafka_warm(shared, topic, partition, range->sr_from,
	    range->sr_until > range->sr_from ? range->sr_until - range->sr_from : 0,
	    range->sr_read_next, errbuf, errlen);
}

static rl_err
kafka_open(void *read, void *shared, const rl_split_range *range, char *errbuf, size_t errlen)
{
	kafka_read *kr = read;
	kr->k_reader = shared;
	kr->k_from = range->sr_from;
	kr->k_until = range->sr_until;
	kr->k_end_seen = range->sr_end_seen;
	return parse_split(
	    range, kr->k_topic, sizeof(kr->k_topic), &kr->k_partition, errbuf, errlen);
}

static rl_err
from_kafka(void *arg, const rl_kafka_record *rec)
{
	const kafka_read *kr = arg;
	rl_source_record  sr = {
		 .r_key = rec->r_key,
		 .r_key_len = rec->r_key_len,
		 .r_value = rec->r_value,
		 .r_value_len = rec->r_value_len,
		 .r_timestamp_ms = rec->r_timestamp_ms,
	};
	return kr->k_cb(kr->k_arg, &sr);
}

static rl_err
kafka_read_range(
    void *read, int idle_timeout_ms, rl_source_record_cb cb, void *arg, char *errbuf, size_t errlen)
{
	kafka_read *kr = read;
	kr->k_cb = cb;
	kr->k_arg = arg;
	// What waits beyond the range, as the driver saw it (-1: not said).
	int64_t backlog = kr->k_end_seen <= 0 ? -1
	    : kr->k_end_seen > kr->k_until    ? kr->k_end_seen - kr->k_until
	                                      : 0;
	return rl_kafka_read_range(kr->k_reader, kr->k_topic, kr->k_partition, kr->k_from,
	    kr->k_until, backlog, idle_timeout_ms, from_kafka, kr, errbuf, errlen);
}

static void
kafka_close(void *read)
{
}

const rl_source_exec_ops rl_source_kafka_exec = {
	.se_version = RL_SOURCE_EXEC_VERSION,
	.se_name = "kafka",
	.se_read_size = sizeof(kafka_read),
	.se_job_open = kafka_job_open,
	.se_job_close = kafka_job_close,
	.se_warm = kafka_warm,
	.se_open = kafka_open,
	.se_read = kafka_read_range,
	.se_close = kafka_close,
};
