// SPDX-License-Identifier: Apache-2.0
// The PID rate estimator and the lag-proportional rate split (see rate.h).
#include "driver/rate.h"

void
rl_pid_init(rl_pid *pid, int64_t batch_ms)
{
	*pid = (rl_pid) {
		.p_batch_ms = batch_ms,
		.p_kp = 1.0,
		.p_ki = 0.2,
		.p_kd = 0.0,
		.p_min_rate = 100.0,
		.p_latest_rate = -1.0,
		.p_latest_error = -1.0,
		.p_latest_time_ms = -1,
		.p_first_run = true,
	};
}

bool
rl_pid_compute(rl_pid *pid, int64_t time_ms, int64_t elements, int64_t processing_ms,
    int64_t scheduling_delay_ms, double *ret_rate)
{
	if (time_ms <= pid->p_latest_time_ms || elements <= 0 || processing_ms <= 0)
		return false;
	double since_update_s = (double)(time_ms - pid->p_latest_time_ms) / 1000.0;
	double processing_rate = (double)elements / (double)processing_ms * 1000.0;
	// The error: the rate asked for last time against the rate achieved.
	double error = pid->p_latest_rate - processing_rate;
	// The integral: the backlog that a scheduling delay stands for, as a rate.
	double historical_error
	    = (double)scheduling_delay_ms * processing_rate / (double)pid->p_batch_ms;
	double d_error = (error - pid->p_latest_error) / since_update_s;
	double rate = pid->p_latest_rate - pid->p_kp * error - pid->p_ki * historical_error
	    - pid->p_kd * d_error;
	if (rate < pid->p_min_rate)
		rate = pid->p_min_rate;
	pid->p_latest_time_ms = time_ms;
	if (pid->p_first_run) {
		pid->p_latest_rate = processing_rate;
		pid->p_latest_error = 0.0;
		pid->p_first_run = false;
		return false;
	}
	pid->p_latest_rate = rate;
	pid->p_latest_error = error;
	*ret_rate = rate;
	return true;
}

void
rl_rate_split(double total_rate, int64_t max_rate_per_partition, const int64_t *lags, size_t n,
    double *ret_rates)
{
	double cap = max_rate_per_partition > 0 ? (double)max_rate_per_partition : 0.0;
	if (total_rate <= 0) {
		for (size_t i = 0; i < n; i++)
			ret_rates[i] = cap;
		return;
	}
	double total_lag = 0;
	for (size_t i = 0; i < n; i++)
		total_lag += lags[i] > 0 ? (double)lags[i] : 0.0;
	for (size_t i = 0; i < n; i++) {
		double lag = lags[i] > 0 ? (double)lags[i] : 0.0;
		// With no lag anywhere there is nothing to read; share evenly.
		double share
		    = total_lag > 0 ? lag / total_lag * total_rate : total_rate / (double)n;
		ret_rates[i] = cap > 0 && share > cap ? cap : share;
	}
}
