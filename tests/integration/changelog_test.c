// SPDX-License-Identifier: Apache-2.0
// The state changelog's Kafka clients on the real broker: the topic is
// created compacted with a partition per state partition and checked when it
// exists; a writer fences the one before it; a restore sees committed
// transactions only, a key's newest state, tombstones and the marker.
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/kafka_state.h"
#include "executor/state.h"
#include "tests/fixtures/fixture.h"

static rl_err
put_state(rl_kafka_changelog *w, const char *key, const int64_t *value)
{
	char    k[64];
	uint8_t v[8];
	int     n = snprintf(k, sizeof(k), "%s%s", RL_STATE_LOG_KEY, key);
	if (value != NULL)
		rl_be64_put(v, (uint64_t)*value);
	char   why[512];
	rl_err rv = rl_kafka_changelog_put(
	    w, k, (size_t)n, value != NULL ? v : NULL, 8, why, sizeof(why));
	cr_assert_eq(rv, RL_OK, "%s", why);
	return rv;
}

static void
put_marker(rl_kafka_changelog *w, int64_t batch_ms)
{
	uint8_t v[8];
	char    why[512];
	rl_be64_put(v, (uint64_t)batch_ms);
	cr_assert_eq(rl_kafka_changelog_put(w, RL_STATE_LOG_MARKER, 1, v, 8, why, sizeof(why)),
	    RL_OK, "%s", why);
}

Test(changelog, topic_is_made_compacted_and_checked_when_it_exists, .timeout = 120)
{
	char why[1024];
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-made", 3, 30000, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-made", 3, 30000, why, sizeof(why)),
	    RL_OK, "an existing, fitting topic is fine: %s", why);
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-made", 4, 30000, why, sizeof(why)),
	    RL_ERR_INVAL);
	cr_assert_not_null(
	    strstr(why, "cl-made has 3 partitions, the job's state needs 4"), "%s", why);
	rt_topic("cl-plain", 2); // kafka.sh: the broker's default policy, delete
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-plain", 2, 30000, why, sizeof(why)),
	    RL_ERR_INVAL);
	cr_assert_not_null(strstr(why, "cl-plain has cleanup.policy=delete"), "%s", why);
}

Test(changelog, restore_sees_committed_changes_newest_first_and_tombstones, .timeout = 120)
{
	char why[1024];
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-log", 2, 30000, why, sizeof(why)),
	    RL_OK, "%s", why);
	rl_kafka_changelog *w;
	cr_assert_eq(rl_kafka_changelog_open(
	                 rt_kafka(), NULL, "cl-log-1", "cl-log", 1, 30000, &w, why, sizeof(why)),
	    RL_OK, "%s", why);
	int64_t one = 1, two = 2, three = 3;
	// Batch 100: a=1, b=2. Batch 200: a=3, b removed, c=2.
	cr_assert_eq(rl_kafka_changelog_begin(w, why, sizeof(why)), RL_OK, "%s", why);
	put_state(w, "a", &one);
	put_state(w, "b", &two);
	put_marker(w, 100);
	cr_assert_eq(rl_kafka_changelog_commit(w, 30000, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_kafka_changelog_begin(w, why, sizeof(why)), RL_OK, "%s", why);
	put_state(w, "a", &three);
	put_state(w, "b", NULL);
	put_state(w, "c", &two);
	put_marker(w, 200);
	cr_assert_eq(rl_kafka_changelog_commit(w, 30000, why, sizeof(why)), RL_OK, "%s", why);
	// Batch 300 is left open, then its writer is fenced by the next one:
	// its changes never become visible.
	cr_assert_eq(rl_kafka_changelog_begin(w, why, sizeof(why)), RL_OK, "%s", why);
	put_state(w, "a", &two);
	put_marker(w, 300);
	rl_kafka_changelog *w2;
	cr_assert_eq(rl_kafka_changelog_open(
	                 rt_kafka(), NULL, "cl-log-1", "cl-log", 1, 30000, &w2, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(rl_kafka_changelog_commit(w, 30000, why, sizeof(why)), RL_ERR_STALE_EPOCH,
	    "the fenced writer cannot commit");
	rl_kafka_changelog_close(w);

	rl_state_table *tbl = rl_state_table_create();
	int64_t         reflects = -1, v;
	cr_assert_eq(rl_state_restore(rt_kafka(), NULL, "cl-log", 1, tbl, &tbl->st_table, 0, NULL,
	                 &reflects, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(reflects, 200);
	cr_assert_eq(rl_combiner_count(&tbl->st_table), 2);
	cr_assert(rl_combiner_get(&tbl->st_table, (const uint8_t *)"a", 1, &v));
	cr_assert_eq(v, 3);
	cr_assert(rl_combiner_get(&tbl->st_table, (const uint8_t *)"c", 1, &v));
	cr_assert_eq(v, 2);
	cr_assert_not(
	    rl_combiner_get(&tbl->st_table, (const uint8_t *)"b", 1, &v), "b was removed");
	rl_state_table_destroy(tbl);
	// The other partition is empty: no state, no marker.
	tbl = rl_state_table_create();
	cr_assert_eq(rl_state_restore(rt_kafka(), NULL, "cl-log", 0, tbl, &tbl->st_table, 0, NULL,
	                 &reflects, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(reflects, 0);
	cr_assert_eq(rl_combiner_count(&tbl->st_table), 0);
	rl_state_table_destroy(tbl);
	rl_kafka_changelog_close(w2);
}

Test(changelog, a_record_that_is_not_rills_is_refused_with_its_place, .timeout = 120)
{
	char why[1024];
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-bad", 1, 30000, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(rt_sh("echo 'x:hello' | kcat -P -b %s -t cl-bad -p 0 -K:", rt_kafka()), 0);
	rl_state_table *tbl = rl_state_table_create();
	int64_t         reflects = -1;
	cr_assert_eq(rl_state_restore(rt_kafka(), NULL, "cl-bad", 0, tbl, &tbl->st_table, 0, NULL,
	                 &reflects, why, sizeof(why)),
	    RL_ERR_PARSE);
	cr_assert_not_null(strstr(why, "state changelog cl-bad/0: record 1"), "%s", why);
	rl_state_table_destroy(tbl);
}

// A restore past the memory budget moves the table to RocksDB and goes on
// there: every key's newest state is in the store, none in memory.
Test(changelog, a_restore_past_the_budget_goes_on_in_rocksdb, .timeout = 120)
{
	char why[1024];
	cr_assert_eq(
	    rl_kafka_changelog_ensure(rt_kafka(), NULL, "cl-big", 1, 30000, why, sizeof(why)),
	    RL_OK, "%s", why);
	rl_kafka_changelog *w;
	cr_assert_eq(rl_kafka_changelog_open(
	                 rt_kafka(), NULL, "cl-big-0", "cl-big", 0, 30000, &w, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(rl_kafka_changelog_begin(w, why, sizeof(why)), RL_OK, "%s", why);
	char key[32];
	for (int64_t i = 0; i < 30000; i++) {
		snprintf(key, sizeof(key), "key-%" PRId64, i);
		put_state(w, key, &i);
	}
	for (int64_t i = 0; i < 30000; i += 3) { // newer states for some, others removed
		int64_t twice = 2 * i;
		snprintf(key, sizeof(key), "key-%" PRId64, i);
		put_state(w, key, i % 2 == 0 ? &twice : NULL);
	}
	put_marker(w, 500);
	cr_assert_eq(rl_kafka_changelog_commit(w, 30000, why, sizeof(why)), RL_OK, "%s", why);
	rl_kafka_changelog_close(w);
	const char     *dir = rt_path(rt_tmpdir("cl-big"), "store");
	rl_state_table *tbl = rl_state_table_create();
	int64_t         reflects = -1, v;
	cr_assert_eq(rl_state_restore(rt_kafka(), NULL, "cl-big", 0, tbl, &tbl->st_table, 64 * 1024,
	                 dir, &reflects, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_eq(reflects, 500);
	cr_assert_not_null(tbl->st_db, "past 64 KB the table moved to RocksDB");
	cr_assert_lt(rl_combiner_count(&tbl->st_table), 2000, "what stayed in memory is small");
	for (int64_t i = 0; i < 30000; i++) {
		snprintf(key, sizeof(key), "key-%" PRId64, i);
		size_t n = strlen(key);
		bool   mem = rl_combiner_get(&tbl->st_table, (const uint8_t *)key, n, &v);
		bool   db = rl_state_db_get(tbl->st_db, (const uint8_t *)key, n, &v);
		cr_assert_not(mem && db, "key-%" PRId64 " in both", i);
		if (i % 3 == 0 && i % 2 == 1) {
			cr_assert_not(mem || db, "key-%" PRId64 " was removed", i);
			continue;
		}
		cr_assert(mem || db, "key-%" PRId64 " is missing", i);
		cr_assert_eq(v, i % 3 == 0 ? 2 * i : i, "key-%" PRId64, i);
	}
	rl_state_table_destroy(tbl);
	cr_assert_neq(rt_sh("test -e %s/CURRENT", dir), 0, "a dropped store leaves no files");
}
