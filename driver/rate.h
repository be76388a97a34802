// SPDX-License-Identifier: Apache-2.0
// Rate control: Spark Streaming's PID rate estimator (backpressure) and the
// split of a total rate across partitions by their lag. Pure functions.
#ifndef RL_RATE_H
#define RL_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The estimator's state; plain data so that a checkpoint can carry it.
typedef struct rl_pid {
	int64_t p_batch_ms;
	double  p_kp, p_ki, p_kd; // Spark's defaults: 1.0, 0.2, 0.0
	double  p_min_rate; // records/s, > 0 (Spark: 100)
	double  p_latest_rate; // records/s; < 0 until the second batch
	double  p_latest_error;
	int64_t p_latest_time_ms;
	bool    p_first_run;
} rl_pid;

// rl_pid_init sets Spark's defaults (Kp 1.0, Ki 0.2, Kd 0, min rate 100/s).
void rl_pid_init(rl_pid *pid, int64_t batch_ms);

// rl_pid_compute feeds one completed batch: its completion time, input
// records, processing time and scheduling delay. Exactly Spark's
// PIDRateEstimator.compute: the first usable batch only calibrates; later
// ones return true with the new rate in *ret_rate. Batches without records,
// with no processing time or not later than the last one change nothing.
bool rl_pid_compute(rl_pid *pid, int64_t time_ms, int64_t elements, int64_t processing_ms,
    int64_t scheduling_delay_ms, double *ret_rate);

// rl_rate_split gives each of n partitions its records/s for the next batch,
// like Spark's DirectKafkaInputDStream.maxMessagesPerPartition: the total
// rate shared in proportion to each partition's lag, each share capped by
// max_rate_per_partition (0 = no cap). Without a total rate (<= 0) every
// partition gets max_rate_per_partition (0 = unlimited).
void rl_rate_split(double total_rate, int64_t max_rate_per_partition, const int64_t *lags, size_t n,
    double *ret_rates);

#endif
