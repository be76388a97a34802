// SPDX-License-Identifier: Apache-2.0
// The executor's warm state: a partition's table is given back only for the
// batch it reflects; other versions and stale partitions are dropped.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "executor/state.h"

static rl_state_table *
table_at(int64_t batch_ms, const char *key, int64_t value)
{
	rl_state_table *t = rl_state_table_create();
	rl_combiner_put(&t->st_table, (const uint8_t *)key, strlen(key), value);
	t->st_batch_ms = batch_ms;
	return t;
}

static rl_state_key
key_of(const char *job, uint32_t partition)
{
	return (rl_state_key) {
		.sk_job = job, .sk_store = "/state", .sk_stage = 1, .sk_partition = partition
	};
}

Test(state_cache, gives_a_table_back_for_the_batch_it_reflects_once)
{
	rl_state_cache *c = rl_state_cache_create();
	rl_state_key    k = key_of("job", 3);
	rl_state_cache_put(c, &k, table_at(200, "a", 7));
	cr_assert_null(rl_state_cache_take(c, &k, 100), "an older batch is not what it holds");
	// ... and that take dropped it: a re-run starts from the durable store.
	cr_assert_null(rl_state_cache_take(c, &k, 200));
	rl_state_cache_put(c, &k, table_at(300, "a", 9));
	rl_state_table *t = rl_state_cache_take(c, &k, 300);
	cr_assert_not_null(t);
	int64_t v = 0;
	cr_assert(rl_combiner_get(&t->st_table, (const uint8_t *)"a", 1, &v));
	cr_assert_eq(v, 9);
	cr_assert_null(rl_state_cache_take(c, &k, 300), "taken: the task owns it now");
	rl_state_table_destroy(t);
	// A table another spec or artifact computed is not used, and dropped.
	rl_state_cache_put(c, &k, table_at(400, "a", 11));
	rl_state_key upgraded = k;
	upgraded.sk_code = 42;
	cr_assert_null(rl_state_cache_take(c, &upgraded, 400));
	cr_assert_null(rl_state_cache_take(c, &k, 400));
	rl_state_cache_destroy(c);
}

Test(state_cache, drops_the_jobs_older_partitions_keeps_other_jobs)
{
	rl_state_cache *c = rl_state_cache_create();
	rl_state_key    p0 = key_of("job", 0), p1 = key_of("job", 1), p2 = key_of("job", 2);
	rl_state_key    other = key_of("other", 1);
	rl_state_cache_put(c, &p0, table_at(200, "a", 1));
	rl_state_cache_put(c, &p1, table_at(100, "b", 2)); // its partition moved away
	rl_state_cache_put(c, &p2, table_at(300, "c", 3)); // already ran this batch
	rl_state_cache_put(c, &other, table_at(100, "d", 4));
	size_t tables, keys;
	rl_state_cache_stats(c, &tables, &keys);
	cr_assert_eq(tables, 4);
	cr_assert_eq(keys, 4);
	rl_state_table *t = rl_state_cache_take(c, &p0, 200);
	cr_assert_not_null(t);
	rl_state_table_destroy(t);
	rl_state_cache_stats(c, &tables, &keys);
	cr_assert_eq(tables, 2, "p1 at 100 < 200 is stale; p2 and the other job stay");
	cr_assert_null(rl_state_cache_take(c, &p1, 100));
	t = rl_state_cache_take(c, &other, 100);
	cr_assert_not_null(t);
	rl_state_table_destroy(t);
	// Another state store of the same job name is another job.
	rl_state_key moved = p2;
	moved.sk_store = "/elsewhere";
	cr_assert_null(rl_state_cache_take(c, &moved, 300));
	t = rl_state_cache_take(c, &p2, 300);
	cr_assert_not_null(t);
	rl_state_table_destroy(t);
	rl_state_cache_destroy(c);
}

Test(state_cache, put_replaces_the_partitions_table)
{
	rl_state_cache *c = rl_state_cache_create();
	rl_state_key    k = key_of("job", 0);
	rl_state_cache_put(c, &k, table_at(100, "a", 1));
	rl_state_cache_put(c, &k, table_at(200, "a", 2));
	size_t tables, keys;
	rl_state_cache_stats(c, &tables, &keys);
	cr_assert_eq(tables, 1);
	rl_state_table *t = rl_state_cache_take(c, &k, 200);
	cr_assert_not_null(t);
	rl_state_table_destroy(t);
	rl_state_cache_destroy(c);
}

// Tombstones in a restore take keys out of the table: every other key of
// many (long probe runs, wrapping at the end of the slots) goes, the rest
// stay findable with their values.
Test(state_cache, removing_keys_keeps_the_others_findable)
{
	rl_arena    keys;
	rl_combiner c;
	rl_arena_init(&keys, 4096);
	rl_combiner_init(&c, RL_FN_SUM, &keys);
	char key[32];
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		rl_combiner_put(&c, (const uint8_t *)key, (size_t)n, i);
	}
	for (int i = 0; i < 5000; i += 2) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		cr_assert(rl_combiner_remove(&c, (const uint8_t *)key, (size_t)n));
	}
	cr_assert_not(rl_combiner_remove(&c, (const uint8_t *)"key-0", 5), "gone already");
	cr_assert_eq(rl_combiner_count(&c), 2500);
	size_t live = 0;
	for (size_t i = 0; i < c.c_cap; i++)
		live += c.c_slots[i].e_key != NULL;
	cr_assert_eq(live, 2500);
	for (int i = 0; i < 5000; i++) {
		int     n = snprintf(key, sizeof(key), "key-%d", i);
		int64_t v = -1;
		bool    found = rl_combiner_get(&c, (const uint8_t *)key, (size_t)n, &v);
		cr_assert_eq(found, i % 2 == 1, "key-%d", i);
		if (found)
			cr_assert_eq(v, i);
	}
	rl_combiner_fini(&c);
	rl_arena_fini(&keys);
}

// Tables that running tasks fold into (out of the cache) count against the
// job's budget as they grow, so that tasks folding at once see each other.
Test(state_cache, tables_held_by_running_tasks_count_for_their_job)
{
	rl_state_cache *c = rl_state_cache_create();
	rl_state_key    k = key_of("job", 1);
	rl_state_table *warm = table_at(100, "a", 1);
	size_t          warm_bytes = rl_state_table_bytes(warm, &warm->st_table);
	rl_state_cache_put(c, &k, warm);
	cr_assert_eq(rl_state_cache_memory(c, "job"), warm_bytes);
	size_t one = 0, two = 0;
	rl_state_cache_hold(c, "job", &one, 1000);
	rl_state_cache_hold(c, "job", &two, 500);
	rl_state_cache_hold(c, "other", &(size_t) { 0 }, 7);
	cr_assert_eq(one, 1000);
	cr_assert_eq(rl_state_cache_memory(c, "job"), warm_bytes + 1500);
	rl_state_cache_hold(c, "job", &one, 4000); // it grew
	cr_assert_eq(rl_state_cache_memory(c, "job"), warm_bytes + 4500);
	rl_state_cache_hold(c, "job", &one, 0); // back, or gone
	rl_state_cache_hold(c, "job", &two, 0);
	cr_assert_eq(rl_state_cache_memory(c, "job"), warm_bytes);
	cr_assert_eq(rl_state_cache_memory(c, "other"), 7);
	rl_state_cache_destroy(c);
}
