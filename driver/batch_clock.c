// SPDX-License-Identifier: Apache-2.0
// Batch-time arithmetic and the catch-up policies (see batch_clock.h).
#include "driver/batch_clock.h"

int64_t
rl_clock_next_tick(int64_t now_ms, int64_t interval_ms)
{
	return (now_ms / interval_ms + 1) * interval_ms;
}

int64_t
rl_clock_resume(int64_t last_ms, int64_t interval_ms, int64_t now_ms, rl_catch_up policy)
{
	// On the grid of this interval, even if the checkpoint's was another one.
	int64_t next = (last_ms / interval_ms + 1) * interval_ms;
	if (policy == RL_CATCH_UP_LATEST) {
		int64_t latest_tick = now_ms / interval_ms * interval_ms;
		if (latest_tick > next)
			return latest_tick;
	}
	return next;
}
