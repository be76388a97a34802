// SPDX-License-Identifier: Apache-2.0
// Split discovery of the kafka source against librdkafka's in-process mock
// cluster: a source.kafka.pattern picks exactly the topics whose whole name
// matches, each partition a split named TOPIC/PARTITION. And, on a source
// of the test's own, what the input asks of a source: lookups by id, and
// commits of only the splits that moved.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/kafka.h"
#include "driver/input.h"

static rl_kafka_mock *
mock_with_topics(const char *const *topics, const int *partitions, size_t n)
{
	rl_kafka_mock *m;
	char           why[256];
	cr_assert_eq(rl_kafka_mock_create(1, &m, why, sizeof(why)), RL_OK, "%s", why);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(
		    rl_kafka_mock_create_topic(m, topics[i], partitions[i], why, sizeof(why)),
		    RL_OK, "%s", why);
	return m;
}

Test(input, pattern_finds_exactly_the_topics_it_matches_whole)
{
	// pat-a-1 and pat-a-2 match pat-a-.*; the others match only a part of
	// their name (a prefix, a suffix) or not at all.
	const char *const topics[] = { "pat-a-1", "pat-a-2", "pat-b-1", "xpat-a-1", "pat-a" };
	const int         partitions[] = { 2, 3, 1, 1, 1 };
	rl_kafka_mock    *m = mock_with_topics(topics, partitions, 5);
	rl_kafka_source   src = {
		  .k_brokers = (char *)(uintptr_t)rl_kafka_mock_bootstraps(m),
		  .k_pattern = "pat-a-.*",
	};
	rl_job job
	    = { .j_filename = "pattern.yaml", .j_source = { .c_kind = "kafka", .c_conf = &src } };
	rl_input *in;
	char      why[256];
	cr_assert_eq(rl_input_create(&job, &in, why, sizeof(why)), RL_OK, "%s", why);
	size_t         n;
	rl_input_part *parts = rl_input_parts(in, &n);
	// Sorted by topic, then partition: pat-a-1[0..1], pat-a-2[0..2].
	const char *want[] = { "pat-a-1/0", "pat-a-1/1", "pat-a-2/0", "pat-a-2/1", "pat-a-2/2" };
	cr_assert_eq(n, 5, "found %zu partitions", n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(parts[i].ip_id, want[i], "partition %zu", i);
	cr_expect_str_eq(rl_input_connector(in), "kafka");
	rl_input_destroy(in);
	rl_kafka_mock_destroy(m);
}

Test(input, pattern_matching_nothing_is_named)
{
	const char *const topics[] = { "pat-b-1" };
	const int         partitions[] = { 1 };
	rl_kafka_mock    *m = mock_with_topics(topics, partitions, 1);
	rl_kafka_source   src = {
		  .k_brokers = (char *)(uintptr_t)rl_kafka_mock_bootstraps(m),
		  .k_pattern = "pat-b",
	};
	rl_job job
	    = { .j_filename = "pattern.yaml", .j_source = { .c_kind = "kafka", .c_conf = &src } };
	rl_input *in = NULL;
	char      why[256];
	cr_assert_eq(rl_input_create(&job, &in, why, sizeof(why)), RL_ERR_NOENT, "%s", why);
	cr_assert_null(in);
	cr_assert(strstr(why, "no topic matches pattern 'pat-b'") != NULL, "%s", why);
	rl_kafka_mock_destroy(m);
}

// ---- a source of the test's own: "counted", splits c/0 .. c/N-1 ----

#define MANY 1000

static struct {
	size_t  nsplits;
	int     commits; // sd_commit calls
	char    last[8][16]; // the ids of the last commit (up to 8)
	int64_t last_next[8];
	size_t  last_n;
	bool    refuse; // the next commit fails
} counted;

static rl_err
counted_open(void *state, const rl_job *job, rl_source_limits *limits, char *errbuf, size_t errlen)
{
	(void)state, (void)job, (void)errbuf, (void)errlen;
	*limits = (rl_source_limits) { .l_fail_on_data_loss = true };
	return RL_OK;
}

static void
counted_close(void *state)
{
	(void)state;
}

static rl_err
counted_discover(void *state, rl_split_desc **ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	(void)state, (void)errbuf, (void)errlen;
	rl_split_desc *d = rl_calloc(counted.nsplits + 1, sizeof(*d));
	for (size_t i = 0; i < counted.nsplits; i++) {
		char id[32];
		snprintf(id, sizeof(id), "c/%zu", i);
		d[i].sd_id = rl_strdup(id);
	}
	*ret = d;
	*ret_count = counted.nsplits;
	return RL_OK;
}

static rl_err
counted_positions(void *state, const char *const *ids, size_t n, rl_source_position which,
    int64_t *ret, char *errbuf, size_t errlen)
{
	(void)state, (void)ids, (void)which, (void)errbuf, (void)errlen;
	for (size_t i = 0; i < n; i++)
		ret[i] = 0;
	return RL_OK;
}

static rl_err
counted_start(void *state, const char *const *ids, size_t n, const int64_t *earliest, int64_t *ret,
    char *errbuf, size_t errlen)
{
	(void)state, (void)ids, (void)errbuf, (void)errlen;
	memcpy(ret, earliest, n * sizeof(int64_t));
	return RL_OK;
}

static rl_err
counted_commit(
    void *state, const char *const *ids, const int64_t *next, size_t n, char *errbuf, size_t errlen)
{
	(void)state;
	counted.commits++;
	counted.last_n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(counted.last[i], sizeof(counted.last[i]), "%s", ids[i]);
		counted.last_next[i] = next[i];
	}
	if (counted.refuse) {
		counted.refuse = false;
		snprintf(errbuf, errlen, "refused");
		return RL_ERR_IO;
	}
	return RL_OK;
}

static const rl_source_driver_ops counted_ops = {
	.sd_version = RL_SOURCE_DRIVER_VERSION,
	.sd_name = "counted",
	.sd_open = counted_open,
	.sd_close = counted_close,
	.sd_discover = counted_discover,
	.sd_positions = counted_positions,
	.sd_start = counted_start,
	.sd_commit = counted_commit,
};

static rl_input *
counted_input(size_t nsplits)
{
	memset(&counted, 0, sizeof(counted));
	counted.nsplits = nsplits;
	rl_source_driver_add(&counted_ops);
	static rl_job job = { .j_filename = "counted.yaml", .j_source = { .c_kind = "counted" } };
	rl_input     *in;
	char          why[256];
	cr_assert_eq(rl_input_create(&job, &in, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_input_start(in, NULL, why, sizeof(why)), RL_OK, "%s", why);
	return in;
}

Test(input, find_gives_every_split_s_index_by_its_id)
{
	rl_input *in = counted_input(MANY);
	size_t    n;
	rl_input_parts(in, &n);
	cr_assert_eq(n, MANY);
	for (size_t i = 0; i < MANY; i++) {
		char id[32];
		snprintf(id, sizeof(id), "c/%zu", i);
		cr_expect_eq(rl_input_find(in, "counted", id), (int)i, "%s", id);
	}
	cr_expect_eq(rl_input_find(in, "counted", "c/1000"), -1);
	cr_expect_eq(rl_input_find(in, "counted", "c/"), -1);
	cr_expect_eq(rl_input_find(in, "kafka", "c/1"), -1, "another source's split");
	cr_expect_eq(rl_input_find(in, "counted", NULL), -1);
	rl_input_destroy(in);
}

Test(input, commit_records_only_the_splits_that_moved)
{
	rl_input *in = counted_input(5);
	size_t    n;
	char      why[256];
	cr_assert_eq(rl_input_commit(in, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(counted.commits, 1);
	cr_expect_eq(counted.last_n, 5, "every split the first time");
	rl_input_part *parts = rl_input_parts(in, &n);
	parts[1].ip_next = 10;
	parts[3].ip_next = 7;
	cr_assert_eq(rl_input_commit(in, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(counted.commits, 2);
	cr_assert_eq(counted.last_n, 2);
	cr_expect_str_eq(counted.last[0], "c/1");
	cr_expect_eq(counted.last_next[0], 10);
	cr_expect_str_eq(counted.last[1], "c/3");
	cr_expect_eq(counted.last_next[1], 7);
	cr_assert_eq(rl_input_commit(in, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(counted.commits, 2, "nothing moved: no commit at all");
	// A commit that fails is made again, with what moved since too.
	parts[1].ip_next = 11;
	counted.refuse = true;
	cr_expect_eq(rl_input_commit(in, why, sizeof(why)), RL_ERR_IO);
	cr_expect_str_eq(why, "refused");
	parts[4].ip_next = 3;
	cr_assert_eq(rl_input_commit(in, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(counted.commits, 4);
	cr_assert_eq(counted.last_n, 2);
	cr_expect_str_eq(counted.last[0], "c/1");
	cr_expect_eq(counted.last_next[0], 11);
	cr_expect_str_eq(counted.last[1], "c/4");
	cr_expect_eq(counted.last_next[1], 3);
	rl_input_destroy(in);
}
