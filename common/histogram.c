// SPDX-License-Identifier: Apache-2.0
// Bucket arithmetic of the millisecond histogram.
#include "common/histogram.h"

uint32_t
rl_hist_bucket(int64_t value)
{
	if (value < RL_HIST_EXACT)
		return value < 0 ? 0 : (uint32_t)value;
	uint64_t v = (uint64_t)value;
	unsigned top = 63 - (unsigned)__builtin_clzll(v); // >= 7
	unsigned sub = (unsigned)(v >> (top - 4)) & (RL_HIST_SUB - 1);
	return RL_HIST_EXACT + (top - 7) * RL_HIST_SUB + sub;
}

int64_t
rl_hist_upper(uint32_t bucket)
{
	if (bucket < RL_HIST_EXACT)
		return bucket;
	unsigned top = 7 + (bucket - RL_HIST_EXACT) / RL_HIST_SUB;
	unsigned sub = (bucket - RL_HIST_EXACT) % RL_HIST_SUB;
	uint64_t low = ((uint64_t)(RL_HIST_SUB + sub)) << (top - 4);
	return (int64_t)(low + (1ull << (top - 4)) - 1);
}

int64_t
rl_hist_quantile(const rl_hist *h, double q)
{
	if (h->h_total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->h_total + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (uint32_t b = 0; b < RL_HIST_BUCKETS; b++) {
		seen += h->h_counts[b];
		if (seen >= rank) {
			int64_t v = rl_hist_upper(b);
			return v < h->h_max ? v : h->h_max;
		}
	}
	return h->h_max;
}
