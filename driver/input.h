// SPDX-License-Identifier: Apache-2.0
// The job's Kafka input as the driver sees it: which partitions exist, where
// each one continues, and where it ends now.
#ifndef RL_INPUT_H
#define RL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/jobfile.h"

typedef struct rl_input_part {
	char   *ip_topic;
	int32_t ip_partition;
	int64_t ip_next;      // where the next batch's range starts
	int64_t ip_latest;    // watermark at the last refresh
	int64_t ip_target;    // available-now end, or -1
	int     ip_preferred; // executor that read it last (its consumer is warm), or -1
} rl_input_part;

typedef struct rl_input rl_input;

// rl_input_create connects to the source's brokers and finds its partitions,
// positioned per starting_offsets. An unknown topic is RL_ERR_NOENT naming it.
rl_err rl_input_create(const rl_kafka_source *src, rl_input **ret, char *errbuf, size_t errlen);
void   rl_input_destroy(rl_input *in);

// rl_input_refresh reads every partition's latest offset (one round trip per
// broker), and every discover_ms looks for new partitions (they start at the
// earliest offset).
rl_err rl_input_refresh(rl_input *in, char *errbuf, size_t errlen);

// rl_input_set_targets fixes the available-now end of every partition at its
// latest offset (call after a refresh).
void rl_input_set_targets(rl_input *in);

// rl_input_parts gives the partitions (stable order: topic, partition).
rl_input_part *rl_input_parts(rl_input *in, size_t *ret_count);

#endif
