// SPDX-License-Identifier: Apache-2.0
// Offset ranges: watermarks, rate caps, available-now targets, empty and new partitions.
#include <criterion/criterion.h>

#include "driver/offset_range.h"

Test(offset_range, unlimited_reads_to_the_watermark)
{
	rl_range_in in = { .from = 100, .latest = 250, .target = -1 };
	cr_assert_eq(rl_range_until(&in, 1000), 250);
}

Test(offset_range, empty_partition_gives_empty_range)
{
	rl_range_in in = { .from = 0, .latest = 0, .target = -1 };
	cr_assert_eq(rl_range_until(&in, 1000), 0);
	rl_range_in caught_up = { .from = 42, .latest = 42, .target = -1, .rate = 10 };
	cr_assert_eq(rl_range_until(&caught_up, 1000), 42);
}

Test(offset_range, new_partition_starts_from_its_first_offset)
{
	// A partition found later starts at its log start, which may be > 0.
	rl_range_in in = { .from = 17, .latest = 20, .target = -1 };
	cr_assert_eq(rl_range_until(&in, 500), 20);
}

Test(offset_range, rate_caps_records_per_batch)
{
	// 1000 rec/s over 200 ms = 200 records.
	rl_range_in in = { .from = 0, .latest = 100000, .target = -1, .rate = 1000 };
	cr_assert_eq(rl_range_until(&in, 200), 200);
	// Below the cap, the watermark wins.
	rl_range_in small = { .from = 0, .latest = 50, .target = -1, .rate = 1000 };
	cr_assert_eq(rl_range_until(&small, 200), 50);
}

Test(offset_range, tiny_rate_still_moves_one_record)
{
	rl_range_in in = { .from = 5, .latest = 1000, .target = -1, .rate = 1 };
	cr_assert_eq(rl_range_until(&in, 10), 6); // 1 rec/s · 10 ms rounds to 0
}

Test(offset_range, fractional_allowance_rounds_down)
{
	rl_range_in in = { .from = 0, .latest = 1000, .target = -1, .rate = 150 };
	cr_assert_eq(rl_range_until(&in, 100), 15);
	in.rate = 155;
	cr_assert_eq(rl_range_until(&in, 100), 15);
}

Test(offset_range, target_stops_available_now)
{
	rl_range_in in = { .from = 10, .latest = 500, .target = 300 };
	cr_assert_eq(rl_range_until(&in, 1000), 300);
	in.from = 300;
	cr_assert_eq(rl_range_until(&in, 1000), 300);
}

Test(offset_range, truncated_partition_gives_empty_range)
{
	// The watermark fell below where we are (recreated topic): read nothing.
	rl_range_in in = { .from = 500, .latest = 100, .target = -1 };
	cr_assert_eq(rl_range_until(&in, 1000), 500);
}
