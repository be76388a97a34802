// SPDX-License-Identifier: Apache-2.0
// Batch times: T = k·interval, and where a restarted job picks up. Pure functions.
#ifndef RL_BATCH_CLOCK_H
#define RL_BATCH_CLOCK_H

#include <stdint.h>

#include "common/jobfile.h"

// rl_clock_next_tick is the first batch time strictly after now_ms.
int64_t rl_clock_next_tick(int64_t now_ms, int64_t interval_ms);

// rl_clock_resume is the first batch time a job runs after a restart whose
// last finished batch was last_ms. catch_up all: every interval missed while
// down becomes a batch (last + interval, last + 2·interval, …, run back to
// back). catch_up latest: the missed intervals are skipped; the next batch is
// the latest tick not after now (it reads everything missed, rate limits
// permitting), or last + interval if no tick was missed. Batch times stay on
// the grid of interval_ms even when the last batch was on another interval's.
int64_t rl_clock_resume(int64_t last_ms, int64_t interval_ms, int64_t now_ms, rl_catch_up policy);

#endif
