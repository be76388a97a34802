// SPDX-License-Identifier: Apache-2.0
// Split discovery of the kafka source against librdkafka's in-process mock
// cluster: a source.kafka.pattern picks exactly the topics whose whole name
// matches, each partition a split named TOPIC/PARTITION.
#include <criterion/criterion.h>
#include <string.h>

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
