// SPDX-License-Identifier: Apache-2.0
// The kafka sink's driver half. With exactly_once it commits in two phases:
// each task's transaction carries a commit marker (offset T of the sink topic's
// partition 0, committed for the task's own group), which tells a recovering
// driver whether that task committed batch T.
#include <stdio.h>

#include "common/kafka.h"
#include "common/layout.h"
#include "common/log.h"
#include "common/sinks/kafka.h"
#include "driver/sink.h"

#define META_TIMEOUT_MS 10000

typedef struct kafka_sink {
	const rl_job        *k_job;
	const rl_kafka_sink *k_conf;
	rl_kafka_meta       *k_meta; // the sink's cluster: its topic, the commit markers
} kafka_sink;

static rl_err
kafka_open(void *state, const rl_job *job, const rl_sink_env *env, bool *ret_two_phase,
    char *errbuf, size_t errlen)
{
	kafka_sink *ks = state;
	int32_t     count;
	ks->k_job = job;
	ks->k_conf = job->j_sink.c_conf;
	// The sink's topic must exist; its cluster holds the commit markers.
	rl_err rv
	    = rl_kafka_meta_create(ks->k_conf->k_brokers, NULL, NULL, &ks->k_meta, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if ((rv = rl_kafka_partition_count(
	         ks->k_meta, ks->k_conf->k_topic, META_TIMEOUT_MS, &count, errbuf, errlen))
	    != RL_OK)
		return rv;
	*ret_two_phase = ks->k_conf->k_exactly_once;
	return RL_OK;
}

static void
kafka_close(void *state)
{
	kafka_sink *ks = state;
	rl_kafka_meta_destroy(ks->k_meta);
}

// kafka_fence aborts what sink tasks of an earlier run left open:
// initialising a producer with each task's transactional id fences the old
// one. Until then an open transaction holds back read_committed readers of
// the output (its last stable offset) for up to transaction.timeout.ms.
static void
kafka_fence(void *state, uint32_t width)
{
	kafka_sink *ks = state;
	for (uint32_t p = 0; p < width; p++) {
		char id[256], why[512];
		rl_kafka_sink_txn_id(ks->k_job->j_name, p, id, sizeof(id));
		rl_kafka_txn *t;
		if (rl_kafka_txn_create(
		        ks->k_conf->k_brokers, NULL, id, 30000, &t, why, sizeof(why))
		    != RL_OK) {
			rl_warn("driver", "cannot fence a sink transaction",
			    "transactional_id=%s error=\"%s\"", id, why);
			continue;
		}
		rl_kafka_txn_destroy(t);
	}
}

// kafka_committed reads the task's commit marker: its group's committed
// offset on the sink topic's partition 0 is the last batch it committed.
static rl_err
kafka_committed(
    void *state, uint32_t partition, int64_t batch_ms, bool *ret, char *errbuf, size_t errlen)
{
	kafka_sink *ks = state;
	char        group[256];
	rl_kafka_sink_txn_id(ks->k_job->j_name, partition, group, sizeof(group));
	rl_tp   marker = { ks->k_conf->k_topic, 0 };
	int64_t offset;
	rl_err  rv = rl_kafka_group_offsets(
	     ks->k_meta, group, &marker, 1, META_TIMEOUT_MS, &offset, errbuf, errlen);
	if (rv == RL_OK)
		*ret = offset >= batch_ms;
	return rv;
}

static void
kafka_task_id(void *state, uint32_t partition, char *buf, size_t len)
{
	kafka_sink *ks = state;
	rl_kafka_sink_txn_id(ks->k_job->j_name, partition, buf, len);
}

const rl_sink_driver_ops rl_sink_kafka_driver = {
	.sk_version = RL_SINK_DRIVER_VERSION,
	.sk_name = "kafka",
	.sk_state_size = sizeof(kafka_sink),
	.sk_open = kafka_open,
	.sk_close = kafka_close,
	.sk_fence = kafka_fence,
	.sk_committed = kafka_committed,
	.sk_task_id = kafka_task_id,
};
