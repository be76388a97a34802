// SPDX-License-Identifier: Apache-2.0
// The executor's range reader (common/kafka.c) against librdkafka's
// in-process mock cluster: many partitions share a bounded pool of clients,
// every range is read exactly, and the prefetch budget is split evenly.
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "common/kafka.h"

#define PARTS 40
#define PER_PART 50

static int
threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

typedef struct seen {
	int     partition;
	int64_t next; // the offset expected next
	int     count;
} seen;

static rl_err
check_record(void *arg, const rl_kafka_record *rec)
{
	seen *s = arg;
	char  want[64];
	int len = snprintf(want, sizeof(want), "p%d-%lld", s->partition, (long long)rec->r_offset);
	cr_assert_eq(rec->r_offset, s->next, "partition %d: offset %lld, expected %lld",
	    s->partition, (long long)rec->r_offset, (long long)s->next);
	cr_assert_eq(rec->r_value_len, (size_t)len);
	cr_assert_eq(memcmp(rec->r_value, want, (size_t)len), 0, "partition %d offset %lld",
	    s->partition, (long long)rec->r_offset);
	s->next++;
	s->count++;
	return RL_OK;
}

// many_partitions starts a mock cluster with topic "many": PARTS
// partitions of PER_PART records, "p<partition>-<offset>".
static rl_kafka_mock *
many_partitions(void)
{
	char           err[512] = "";
	rl_kafka_mock *mock;
	cr_assert_eq(rl_kafka_mock_create(1, &mock, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(
	    rl_kafka_mock_create_topic(mock, "many", PARTS, err, sizeof(err)), RL_OK, "%s", err);
	rl_kafka_producer *prod;
	cr_assert_eq(
	    rl_kafka_producer_create(rl_kafka_mock_bootstraps(mock), NULL, &prod, err, sizeof(err)),
	    RL_OK, "%s", err);
	for (int p = 0; p < PARTS; p++)
		for (int i = 0; i < PER_PART; i++) {
			char v[64];
			int  len = snprintf(v, sizeof(v), "p%d-%d", p, i);
			cr_assert_eq(rl_kafka_produce(prod, "many", p, NULL, 0, v, (size_t)len, err,
			                 sizeof(err)),
			    RL_OK, "%s", err);
		}
	cr_assert_eq(rl_kafka_flush(prod, 10000, err, sizeof(err)), RL_OK, "%s", err);
	rl_kafka_producer_destroy(prod);
	return mock;
}

Test(kafka_reader, forty_partitions_share_four_clients_and_read_exactly, .timeout = 60)
{
	char           err[512] = "";
	rl_kafka_mock *mock = many_partitions();

	int              before = threads_now();
	rl_kafka_reader *r;
	cr_assert_eq(
	    rl_kafka_reader_create(rl_kafka_mock_bootstraps(mock), NULL, &r, err, sizeof(err)),
	    RL_OK, "%s", err);
	rl_kafka_reader_expect(r, PARTS);
	for (int p = 0; p < PARTS; p++)
		cr_assert_eq(rl_kafka_warm(r, "many", p, 0, PER_PART, false, err, sizeof(err)),
		    RL_OK, "%s", err);
	// Two ranges each, the second from where the first ended (warm).
	for (int p = 0; p < PARTS; p++) {
		seen s = { .partition = p };
		err[0] = '\0';
		cr_assert_eq(rl_kafka_read_range(r, "many", p, 0, 20, -1, 10000, check_record, &s,
		                 err, sizeof(err)),
		    RL_OK, "%s", err);
		cr_assert_eq(s.count, 20);
		cr_assert_eq(rl_kafka_read_range(r, "many", p, 20, PER_PART, -1, 10000,
		                 check_record, &s, err, sizeof(err)),
		    RL_OK, "%s", err);
		cr_assert_eq(s.count, PER_PART, "partition %d: %d records", p, s.count);
	}
	// A range again from the start (a re-run batch): the consumer seeks back.
	seen again = { .partition = 7, .next = 10 };
	cr_assert_eq(rl_kafka_read_range(
	                 r, "many", 7, 10, 30, -1, 10000, check_record, &again, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(again.count, 20);
	// Four clients, each a handful of threads (main, the broker's, the
	// bootstrap's, internal): a client a partition would be 40 of them.
	int grown = threads_now() - before;
	cr_assert_leq(
	    grown, 4 * 6, "the reader started %d threads for %d partitions", grown, PARTS);
	rl_kafka_reader_destroy(r);
	rl_kafka_mock_destroy(mock);
}

// read_all reads [0, 20) of every partition of "many" with r, saying that
// backlog records wait past each range, and returns how many partitions
// are still started afterwards.
static int
read_all(rl_kafka_reader *r, int64_t backlog)
{
	char err[512] = "";
	for (int p = 0; p < PARTS; p++) {
		seen s = { .partition = p };
		cr_assert_eq(rl_kafka_read_range(r, "many", p, 0, 20, backlog, 10000, check_record,
		                 &s, err, sizeof(err)),
		    RL_OK, "%s", err);
		cr_assert_eq(s.count, 20);
	}
	return rl_kafka_reader_started(r);
}

Test(kafka_reader, partitions_with_a_long_backlog_are_not_all_kept_prefetching, .timeout = 60)
{
	char           err[512] = "";
	rl_kafka_mock *mock = many_partitions();

	// Caught up (30 records wait past each range): all stay warm.
	rl_kafka_reader *r;
	cr_assert_eq(
	    rl_kafka_reader_create(rl_kafka_mock_bootstraps(mock), NULL, &r, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(read_all(r, PER_PART - 20), PARTS);
	rl_kafka_reader_destroy(r);
	// A million records wait past each small range (a rate limit cut it):
	// only the few that fit the budget stay started, however many are read.
	cr_assert_eq(
	    rl_kafka_reader_create(rl_kafka_mock_bootstraps(mock), NULL, &r, err, sizeof(err)),
	    RL_OK, "%s", err);
	int started = read_all(r, 1000000);
	cr_assert_gt(started, 0);
	cr_assert_leq(started, 8, "%d of %d partitions kept prefetching", started, PARTS);
	// Past the budget a warm-up waits for the read, unless the read is next
	// (a task's read-ahead): of the partitions read last (stopped, at 20)
	// two plain warm-ups start one at most (the budget's always-warm few).
	int before = started;
	for (int p = PARTS - 1; p >= PARTS - 2; p--)
		cr_assert_eq(rl_kafka_warm(r, "many", p, 20, 1000000, false, err, sizeof(err)),
		    RL_OK, "%s", err);
	started = rl_kafka_reader_started(r);
	cr_assert_leq(started, before + 1, "%d started, %d before two warm-ups", started, before);
	cr_assert_leq(started, 8);
	// A read-ahead of a partition with a long backlog waits too (its fetch
	// would hold a record batch of up to a MB); one with a short one starts.
	cr_assert_eq(rl_kafka_warm(r, "many", PARTS - 4, 20, 1000000, true, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(rl_kafka_reader_started(r), started);
	cr_assert_eq(rl_kafka_warm(r, "many", PARTS - 3, 20, PER_PART - 20, true, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(rl_kafka_reader_started(r), started + 1);
	seen rest = { .partition = PARTS - 3, .next = 20 };
	cr_assert_eq(rl_kafka_read_range(r, "many", PARTS - 3, 20, PER_PART, 1000000, 10000,
	                 check_record, &rest, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(rest.count, PER_PART - 20);
	rl_kafka_reader_destroy(r);
	rl_kafka_mock_destroy(mock);
}

Test(kafka_reader, the_prefetch_budget_is_shared_by_the_partitions)
{
	// 16 MB for all, 1 MB at most and 16 KB at least each.
	cr_assert_eq(rl_kafka_prefetch_kb(0), 1024);
	cr_assert_eq(rl_kafka_prefetch_kb(1), 1024);
	cr_assert_eq(rl_kafka_prefetch_kb(16), 1024);
	cr_assert_eq(rl_kafka_prefetch_kb(64), 256);
	cr_assert_eq(rl_kafka_prefetch_kb(512), 32);
	cr_assert_eq(rl_kafka_prefetch_kb(1024), 16);
	cr_assert_eq(rl_kafka_prefetch_kb(100000), 16);
}

Test(kafka_offsets, the_latest_offsets_of_many_partitions_each_in_its_place, .timeout = 60)
{
	// Past 128 partitions the lookup goes in chunks, several at a time:
	// every answer must land at its own partition's index.
	enum { N = 300 };
	char           err[512] = "";
	rl_kafka_mock *mock;
	cr_assert_eq(rl_kafka_mock_create(1, &mock, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(
	    rl_kafka_mock_create_topic(mock, "wide", N, err, sizeof(err)), RL_OK, "%s", err);
	rl_kafka_producer *prod;
	cr_assert_eq(
	    rl_kafka_producer_create(rl_kafka_mock_bootstraps(mock), NULL, &prod, err, sizeof(err)),
	    RL_OK, "%s", err);
	// Partition p gets p % 7 records.
	for (int p = 0; p < N; p++)
		for (int i = 0; i < p % 7; i++)
			cr_assert_eq(
			    rl_kafka_produce(prod, "wide", p, NULL, 0, "x", 1, err, sizeof(err)),
			    RL_OK, "%s", err);
	cr_assert_eq(rl_kafka_flush(prod, 10000, err, sizeof(err)), RL_OK, "%s", err);
	rl_kafka_producer_destroy(prod);
	rl_kafka_meta *meta;
	cr_assert_eq(rl_kafka_meta_create(
	                 rl_kafka_mock_bootstraps(mock), NULL, NULL, &meta, err, sizeof(err)),
	    RL_OK, "%s", err);
	rl_tp   tps[N];
	int64_t latest[N];
	// Asked in an order of their own (backwards), answered in that order.
	for (int i = 0; i < N; i++)
		tps[i] = (rl_tp) { .tp_topic = "wide", .tp_partition = N - 1 - i };
	cr_assert_eq(
	    rl_kafka_list_offsets(meta, tps, N, RL_KAFKA_LATEST, 10000, latest, err, sizeof(err)),
	    RL_OK, "%s", err);
	for (int i = 0; i < N; i++)
		cr_assert_eq(latest[i], (N - 1 - i) % 7, "partition %d: latest %lld", N - 1 - i,
		    (long long)latest[i]);
	rl_kafka_meta_destroy(meta);
	rl_kafka_mock_destroy(mock);
}
