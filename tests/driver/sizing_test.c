// SPDX-License-Identifier: Apache-2.0
// Sizing a batch's stages: the default shuffle width and which small ranges
// share a stage-0 task, exactly.
#include <criterion/criterion.h>

#include "common/jobfile.h"
#include "driver/sizing.h"

// expect_groups runs rl_group_ranges and checks every range's task against want[].
static void
expect_groups(const int64_t *records, const int *preferred, size_t n, int slots,
    const uint32_t *want, size_t want_count)
{
	uint32_t got[64];
	cr_assert_leq(n, 64);
	size_t count = rl_group_ranges(records, preferred, n, slots, got);
	cr_expect_eq(count, want_count, "%zu tasks, expected %zu", count, want_count);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(
		    got[i], want[i], "range %zu: task %u, expected %u", i, got[i], want[i]);
}

Test(sizing, default_width_is_the_splits_up_to_the_slots)
{
	cr_expect_eq(rl_shuffle_width_default(8, 16), 8, "fewer splits than slots");
	cr_expect_eq(rl_shuffle_width_default(8, 8), 8);
	cr_expect_eq(rl_shuffle_width_default(1024, 128), 128, "one reduce wave");
	cr_expect_eq(rl_shuffle_width_default(100000, 400), 400);
}

Test(sizing, default_width_without_executors_is_the_splits)
{
	cr_expect_eq(rl_shuffle_width_default(12, 0), 12);
	cr_expect_eq(rl_shuffle_width_default(12, -1), 12);
}

Test(sizing, default_width_is_at_least_one_and_at_most_the_limit)
{
	cr_expect_eq(rl_shuffle_width_default(0, 4), 1);
	cr_expect_eq(rl_shuffle_width_default(0, 0), 1);
	cr_expect_eq(rl_shuffle_width_default(1000000, 0), RL_PARTITIONS_MAX);
	cr_expect_eq(rl_shuffle_width_default(1000000, 100000), RL_PARTITIONS_MAX);
}

Test(sizing, a_small_batch_shrinks_the_default_width)
{
	cr_expect_eq(rl_shuffle_width_for(32, 20), 1); // a trickle
	cr_expect_eq(rl_shuffle_width_for(32, 0), 1);
	cr_expect_eq(rl_shuffle_width_for(32, RL_REDUCE_RECORDS), 1);
	cr_expect_eq(rl_shuffle_width_for(32, RL_REDUCE_RECORDS + 1), 2);
	cr_expect_eq(rl_shuffle_width_for(32, 10 * RL_REDUCE_RECORDS), 10);
	cr_expect_eq(rl_shuffle_width_for(32, 1000000), 32); // never past the default
	cr_expect_eq(rl_shuffle_width_for(8, 1000000), 8);
}

Test(sizing, empty_ranges_get_no_task)
{
	const int64_t  records[] = { 0, 5, 0, 7 };
	const int      preferred[] = { 0, 0, 1, 1 };
	const uint32_t want[] = { RL_NO_TASK, 0, RL_NO_TASK, 1 };
	expect_groups(records, preferred, 4, 4, want, 2);
	const int64_t  none[] = { 0, 0 };
	const uint32_t want_none[] = { RL_NO_TASK, RL_NO_TASK };
	expect_groups(none, preferred, 2, 4, want_none, 0);
}

Test(sizing, ranges_no_more_than_slots_are_a_task_each)
{
	// A trickle over 8 splits on 8 slots: the share of a slot is one
	// range's cost, so nothing is put together (the 8-partition benchmark).
	const int64_t  trickle[] = { 10, 10, 10, 10, 10, 10, 10, 10 };
	const int      preferred[] = { 0, 1, 0, 1, 0, 1, 0, 1 };
	const uint32_t want[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	expect_groups(trickle, preferred, 8, 8, want, 8);
	// A large read over the same splits: each range is over the share.
	const int64_t big[]
	    = { 1250000, 1250000, 1250000, 1250000, 1250000, 1250000, 1250000, 1250000 };
	expect_groups(big, preferred, 8, 8, want, 8);
}

Test(sizing, small_ranges_share_tasks_up_to_a_slot_s_share)
{
	// Ten ranges of 10 on one executor, 2 slots: each costs 1010, a slot's
	// share is 5050, so five go together.
	const int64_t  records[] = { 10, 10, 10, 10, 10, 10, 10, 10, 10, 10 };
	const int      preferred[] = { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 };
	const uint32_t want[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
	expect_groups(records, preferred, 10, 2, want, 2);
}

Test(sizing, a_task_reads_the_ranges_of_one_executor)
{
	// Alternating executors, 2 slots: a share is 4 ranges, and a task takes
	// only ranges its executor read last; tasks are numbered by first range.
	const int64_t  records[] = { 10, 10, 10, 10, 10, 10, 10, 10 };
	const int      preferred[] = { 0, 1, 0, 1, 0, 1, 0, 1 };
	const uint32_t want[] = { 0, 1, 0, 1, 0, 1, 0, 1 };
	expect_groups(records, preferred, 8, 2, want, 2);
	// Ranges no executor read yet go together, apart from executor 0's.
	const int      unknown[] = { -1, 0, -1, 0, -1, 0, -1, 0 };
	const uint32_t want_unknown[] = { 0, 1, 0, 1, 0, 1, 0, 1 };
	expect_groups(records, unknown, 8, 2, want_unknown, 2);
}

Test(sizing, a_big_range_is_a_task_of_its_own)
{
	// Costs 1010, 6000, 1010, 1010 on 2 slots: the share is 4515; the small
	// ones share a task around the big one.
	const int64_t  records[] = { 10, 5000, 10, 10 };
	const int      preferred[] = { 0, 0, 0, 0 };
	const uint32_t want[] = { 0, 1, 0, 0 };
	expect_groups(records, preferred, 4, 2, want, 2);
	// On one slot they all fit its share (9030).
	const uint32_t one[] = { 0, 0, 0, 0 };
	expect_groups(records, preferred, 4, 1, one, 1);
}

Test(sizing, a_task_may_pass_the_share_by_half_a_range_to_fill_the_slots_once)
{
	// Ten ranges of 10 per executor of 4 slots, 100 executors' worth of
	// slots: the share is 2525, three ranges (3030) go together, so each
	// executor's ten make 4 tasks (3, 3, 3, 1) for its 4 slots, not 5.
	int64_t  records[10];
	int      preferred[10];
	uint32_t got[10];
	for (size_t i = 0; i < 10; i++) {
		records[i] = 10;
		preferred[i] = 7;
	}
	// 4 slots for these 10 ranges' cost (10100) gives the same share.
	cr_assert_eq(rl_group_ranges(records, preferred, 10, 4, got), 4);
	const uint32_t want[] = { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3 };
	for (size_t i = 0; i < 10; i++)
		cr_expect_eq(got[i], want[i], "range %zu: task %u", i, got[i]);
}

Test(sizing, grouping_stops_at_the_largest_task)
{
	// One slot's share would be 1.8M records; no task grows past 1M.
	const int64_t  records[] = { 600000, 600000, 600000 };
	const int      preferred[] = { 0, 0, 0 };
	const uint32_t want[] = { 0, 1, 2 };
	expect_groups(records, preferred, 3, 1, want, 3);
	const int64_t  smaller[] = { 400000, 400000, 400000 };
	const uint32_t want_smaller[] = { 0, 0, 1 };
	expect_groups(smaller, preferred, 3, 1, want_smaller, 2);
}

Test(sizing, without_slots_every_range_is_a_task)
{
	const int64_t  records[] = { 1, 2, 0, 3 };
	const int      preferred[] = { 0, 0, 0, 0 };
	const uint32_t want[] = { 0, 1, RL_NO_TASK, 2 };
	expect_groups(records, preferred, 4, 0, want, 3);
}

Test(sizing, the_target_is_never_below_one_range_s_open_cost)
{
	// 3 ranges of 1 on 100 slots: the share (31) is below a range's open
	// cost; the target is that cost, so each range stays alone.
	const int64_t  records[] = { 1, 1, 1 };
	const int      preferred[] = { 0, 0, 0 };
	const uint32_t want[] = { 0, 1, 2 };
	expect_groups(records, preferred, 3, 100, want, 3);
}
