// SPDX-License-Identifier: Apache-2.0
// The job's Kafka input as the driver sees it: which partitions exist, where
// each one continues, where it ends now, and the progress committed to the
// job's consumer group.
#ifndef RL_INPUT_H
#define RL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "common/kafka.h"

typedef struct rl_input_part {
	char   *ip_topic;
	int32_t ip_partition;
	int64_t ip_next; // where the next batch's range starts
	int64_t ip_latest; // watermark at the last refresh
	int64_t ip_target; // available-now end, or -1
	int     ip_preferred; // executor that read it last (its consumer is warm), or -1
} rl_input_part;

typedef struct rl_input rl_input;

// rl_input_create connects to the source's brokers and finds its partitions
// (not yet positioned). An unknown topic is RL_ERR_NOENT naming it.
rl_err rl_input_create(const rl_kafka_source *src, rl_input **ret, char *errbuf, size_t errlen);
void   rl_input_destroy(rl_input *in);

// rl_input_start positions every partition. With a checkpoint record: where
// it says (a done batch's untils; the froms of a batch to run again);
// partitions it does not know start at their earliest offset. Without one:
// per starting_offsets — earliest, latest, committed (the group's committed
// offset, else earliest) or none (the group's committed offset, and an error
// naming the first partition that has none).
rl_err rl_input_start(rl_input *in, const Rill__BatchRecord *ckp, char *errbuf, size_t errlen);

// rl_input_refresh reads every partition's latest offset (one round trip per
// broker), and every 10 s looks for new partitions (they start at the
// earliest offset).
rl_err rl_input_refresh(rl_input *in, char *errbuf, size_t errlen);

// rl_input_set_targets fixes the available-now end of every partition at its
// latest offset (call after a refresh).
void rl_input_set_targets(rl_input *in);

// rl_input_earliest writes every partition's earliest offset into ret[] (in
// rl_input_parts order).
rl_err rl_input_earliest(rl_input *in, int64_t *ret, char *errbuf, size_t errlen);

// rl_input_commit commits every partition's position to the job's consumer
// group, if it has one (Kafka's own lag tools then see the job's progress).
rl_err rl_input_commit(rl_input *in, char *errbuf, size_t errlen);

// rl_input_parts gives the partitions (stable order: topic, partition).
rl_input_part *rl_input_parts(rl_input *in, size_t *ret_count);
// rl_input_find returns the index of topic/partition, or -1.
int rl_input_find(rl_input *in, const char *topic, int32_t partition);

#endif
