// SPDX-License-Identifier: Apache-2.0
// The PID estimator against Spark's PIDRateEstimator on fixed inputs (the
// expected numbers are worked by hand from Spark's formula), and the split of
// a rate across partitions by lag.
#include <criterion/criterion.h>
#include <string.h>

#include "driver/rate.h"

#define EPS 1e-9

Test(pid, first_batch_only_calibrates)
{
	rl_pid pid;
	rl_pid_init(&pid, 1000);
	double rate = -7;
	// 1000 records in 500 ms: 2000 rec/s, remembered but not returned.
	cr_assert_not(rl_pid_compute(&pid, 1000, 1000, 500, 0, &rate));
	cr_assert_float_eq(rate, -7, EPS, "no rate written");
	cr_assert_float_eq(pid.p_latest_rate, 2000, EPS);
	cr_assert_float_eq(pid.p_latest_error, 0, EPS);
	cr_assert_not(pid.p_first_run);
}

Test(pid, follows_spark_formula_on_fixed_inputs)
{
	rl_pid pid;
	rl_pid_init(&pid, 1000);
	double rate;
	cr_assert_not(rl_pid_compute(&pid, 1000, 1000, 500, 0, &rate));
	// Steady: processed 2000/s as asked, no delay -> 2000.
	cr_assert(rl_pid_compute(&pid, 2000, 2000, 1000, 0, &rate));
	cr_assert_float_eq(rate, 2000, EPS);
	// Slower: 2000 records in 2 s (1000/s) with 1 s scheduling delay.
	//   error = 2000 - 1000 = 1000; historical = 1000 * 1000 / 1000 = 1000
	//   rate = 2000 - 1.0 * 1000 - 0.2 * 1000 - 0 * dError = 800
	cr_assert(rl_pid_compute(&pid, 3000, 2000, 2000, 1000, &rate));
	cr_assert_float_eq(rate, 800, EPS);
	cr_assert_float_eq(pid.p_latest_error, 1000, EPS);
	// Overloaded: 100 records in 1 s, 5 s behind.
	//   error = 800 - 100 = 700; historical = 5000 * 100 / 1000 = 500
	//   rate = 800 - 700 - 100 = 0 -> the floor, 100
	cr_assert(rl_pid_compute(&pid, 4000, 100, 1000, 5000, &rate));
	cr_assert_float_eq(rate, 100, EPS);
	// Faster again: 3000 records in 600 ms (5000/s), no delay.
	//   error = 100 - 5000 = -4900; rate = 100 + 4900 = 5000
	cr_assert(rl_pid_compute(&pid, 5000, 3000, 600, 0, &rate));
	cr_assert_float_eq(rate, 5000, EPS);
}

Test(pid, derivative_term_uses_error_change_per_second)
{
	rl_pid pid;
	rl_pid_init(&pid, 500);
	pid.p_kd = 0.5;
	double rate;
	cr_assert_not(rl_pid_compute(&pid, 1000, 1000, 1000, 0, &rate)); // 1000/s
	// 500 records in 1 s at t = 3000: since = 2 s, error = 500, dError = 250.
	//   rate = 1000 - 500 - 0 - 0.5 * 250 = 375
	cr_assert(rl_pid_compute(&pid, 3000, 500, 1000, 0, &rate));
	cr_assert_float_eq(rate, 375, EPS);
}

Test(pid, ignores_empty_instant_and_stale_batches)
{
	rl_pid pid;
	rl_pid_init(&pid, 1000);
	double rate;
	cr_assert_not(rl_pid_compute(&pid, 1000, 1000, 500, 0, &rate));
	rl_pid before = pid;
	cr_assert_not(rl_pid_compute(&pid, 2000, 0, 500, 0, &rate), "no records");
	cr_assert_not(rl_pid_compute(&pid, 2000, 100, 0, 0, &rate), "no processing time");
	cr_assert_not(rl_pid_compute(&pid, 1000, 100, 50, 0, &rate), "not later");
	cr_assert_not(rl_pid_compute(&pid, 900, 100, 50, 0, &rate), "older");
	cr_assert_eq(memcmp(&before, &pid, sizeof(pid)), 0, "state unchanged");
}

Test(rate_split, shares_by_lag)
{
	const int64_t lags[] = { 300, 100, 0, 600 };
	double        rates[4];
	rl_rate_split(1000, 0, lags, 4, rates);
	cr_assert_float_eq(rates[0], 300, EPS);
	cr_assert_float_eq(rates[1], 100, EPS);
	cr_assert_float_eq(rates[2], 0, EPS);
	cr_assert_float_eq(rates[3], 600, EPS);
}

Test(rate_split, caps_each_share)
{
	const int64_t lags[] = { 900, 100 };
	double        rates[2];
	rl_rate_split(1000, 500, lags, 2, rates);
	cr_assert_float_eq(rates[0], 500, EPS);
	cr_assert_float_eq(rates[1], 100, EPS);
}

Test(rate_split, without_estimate_uses_the_fixed_cap)
{
	const int64_t lags[] = { 900, 100 };
	double        rates[2];
	rl_rate_split(0, 250, lags, 2, rates);
	cr_assert_float_eq(rates[0], 250, EPS);
	cr_assert_float_eq(rates[1], 250, EPS);
	rl_rate_split(-1, 0, lags, 2, rates);
	cr_assert_float_eq(rates[0], 0, EPS, "0: unlimited");
}

Test(rate_split, negative_lag_counts_as_none_and_no_lag_shares_evenly)
{
	const int64_t lags[] = { -50, 200 };
	double        rates[2];
	rl_rate_split(100, 0, lags, 2, rates);
	cr_assert_float_eq(rates[0], 0, EPS);
	cr_assert_float_eq(rates[1], 100, EPS);
	const int64_t none[] = { 0, 0 };
	rl_rate_split(100, 0, none, 2, rates);
	cr_assert_float_eq(rates[0], 50, EPS);
	cr_assert_float_eq(rates[1], 50, EPS);
}
