// SPDX-License-Identifier: Apache-2.0
// Batch times and the catch-up policies after a restart.
#include <criterion/criterion.h>

#include "driver/batch_clock.h"

Test(batch_clock, next_tick_is_strictly_after_now)
{
	cr_assert_eq(rl_clock_next_tick(12345, 1000), 13000);
	cr_assert_eq(rl_clock_next_tick(13000, 1000), 14000);
	cr_assert_eq(rl_clock_next_tick(0, 10), 10);
}

Test(batch_clock, catch_up_all_replays_every_missed_interval)
{
	// Down from 10 s to 15.5 s at 1 s batches: 11, 12, … run back to back.
	cr_assert_eq(rl_clock_resume(10000, 1000, 15500, RL_CATCH_UP_ALL), 11000);
}

Test(batch_clock, catch_up_latest_skips_missed_intervals)
{
	cr_assert_eq(rl_clock_resume(10000, 1000, 15500, RL_CATCH_UP_LATEST), 15000);
}

Test(batch_clock, quick_restart_continues_with_the_next_batch)
{
	// Nothing missed: both policies go on with last + interval.
	cr_assert_eq(rl_clock_resume(10000, 1000, 10400, RL_CATCH_UP_ALL), 11000);
	cr_assert_eq(rl_clock_resume(10000, 1000, 10400, RL_CATCH_UP_LATEST), 11000);
	cr_assert_eq(rl_clock_resume(10000, 1000, 11000, RL_CATCH_UP_LATEST), 11000);
	// A clock that went backwards never reuses a batch time.
	cr_assert_eq(rl_clock_resume(10000, 1000, 5000, RL_CATCH_UP_LATEST), 11000);
}

Test(batch_clock, a_changed_interval_goes_back_on_its_grid)
{
	// Last batch at 10.5 s with 500 ms batches; now 1 s batches.
	cr_assert_eq(rl_clock_resume(10500, 1000, 10600, RL_CATCH_UP_ALL), 11000);
}
