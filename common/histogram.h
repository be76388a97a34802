// SPDX-License-Identifier: Apache-2.0
// A log-bucketed histogram of milliseconds (exact below 128 ms, then 16
// sub-buckets per power of two, so within 1/16 above): record latencies.
#ifndef RL_HISTOGRAM_H
#define RL_HISTOGRAM_H

#include <stdint.h>

#define RL_HIST_EXACT 128
#define RL_HIST_SUB 16
#define RL_HIST_BUCKETS (RL_HIST_EXACT + (63 - 7) * RL_HIST_SUB)

// The caller owns the struct; zero it to start (about 7 KB).
typedef struct rl_hist {
	uint64_t h_counts[RL_HIST_BUCKETS];
	uint64_t h_total;
	int64_t  h_max;
} rl_hist;

// rl_hist_bucket maps a value (< 0 counts as 0) to its bucket.
uint32_t rl_hist_bucket(int64_t value);
// rl_hist_upper is the largest value of a bucket (what quantiles report).
int64_t rl_hist_upper(uint32_t bucket);

static inline void
rl_hist_add(rl_hist *h, int64_t value, uint64_t count)
{
	h->h_counts[rl_hist_bucket(value)] += count;
	h->h_total += count;
	if (value > h->h_max)
		h->h_max = value;
}

// rl_hist_quantile is the upper bound of the bucket holding quantile q
// (0 < q <= 1), capped by the largest value seen; 0 when empty.
int64_t rl_hist_quantile(const rl_hist *h, double q);

#endif
