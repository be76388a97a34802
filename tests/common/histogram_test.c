// SPDX-License-Identifier: Apache-2.0
// The latency histogram: exact small values, bounded error above, quantiles.
#include <criterion/criterion.h>
#include <string.h>

#include "common/histogram.h"

Test(histogram, small_values_are_exact)
{
	for (int64_t v = 0; v < RL_HIST_EXACT; v++) {
		cr_assert_eq(rl_hist_bucket(v), (uint32_t)v);
		cr_assert_eq(rl_hist_upper(rl_hist_bucket(v)), v);
	}
	cr_assert_eq(rl_hist_bucket(-5), 0);
}

Test(histogram, buckets_are_ordered_and_tight)
{
	uint32_t prev = 0;
	for (int64_t v = 1; v < (int64_t)1 << 40; v = v * 17 / 16 + 1) {
		uint32_t b = rl_hist_bucket(v);
		cr_assert_lt(b, RL_HIST_BUCKETS);
		cr_assert_geq(b, prev, "monotone at %lld", (long long)v);
		int64_t up = rl_hist_upper(b);
		cr_assert_geq(up, v, "the bucket of %lld holds it", (long long)v);
		cr_assert_leq(
		    up - v, v / 16 + 1, "within 1/16: %lld -> %lld", (long long)v, (long long)up);
		cr_assert_eq(rl_hist_bucket(up), b, "the upper bound is in its own bucket");
		prev = b;
	}
	cr_assert_lt(rl_hist_bucket(INT64_MAX), RL_HIST_BUCKETS);
}

Test(histogram, quantiles_of_a_known_distribution)
{
	rl_hist h;
	memset(&h, 0, sizeof(h));
	for (int64_t v = 1; v <= 100; v++)
		rl_hist_add(&h, v, 10); // 1000 samples, uniform 1..100 ms
	cr_assert_eq(rl_hist_quantile(&h, 0.5), 50);
	cr_assert_eq(rl_hist_quantile(&h, 0.99), 99);
	cr_assert_eq(rl_hist_quantile(&h, 1.0), 100);
	rl_hist_add(&h, 5000, 1);
	cr_assert_eq(h.h_max, 5000);
	cr_assert_eq(rl_hist_quantile(&h, 1.0), 5000, "capped at the largest value");
	rl_hist empty;
	memset(&empty, 0, sizeof(empty));
	cr_assert_eq(rl_hist_quantile(&empty, 0.5), 0);
}
