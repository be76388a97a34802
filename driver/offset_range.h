// SPDX-License-Identifier: Apache-2.0
// Offset ranges of one batch: per partition [from, until) from the watermark,
// the rate limits and the available-now target. Pure functions.
#ifndef RL_OFFSET_RANGE_H
#define RL_OFFSET_RANGE_H

#include <stddef.h>
#include <stdint.h>

// One partition's position going into a batch.
typedef struct rl_range_in {
	int64_t from; // the next offset to read (previous until, or the start)
	int64_t latest; // the partition's high watermark (or last stable offset)
	int64_t target; // available-now: never read past this; < 0 for no target
	double  rate; // records/s allowed for this partition; <= 0 for unlimited
} rl_range_in;

// rl_range_until returns the end (exclusive) of the partition's range in a
// batch of batch_ms: min(latest, target, from + rate·batch). A rate-limited
// partition with data still moves by at least one record, so a tiny rate can
// never stall it. A latest below from (a truncated or recreated partition)
// gives an empty range: until == from.
int64_t rl_range_until(const rl_range_in *in, int64_t batch_ms);

#endif
