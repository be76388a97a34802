// SPDX-License-Identifier: Apache-2.0
// Checkpoints and progress on a real broker: a run stopped or killed and run
// again with the same --checkpoint-dir counts every record exactly once;
// progress reaches the consumer group; retention-deleted records are refused
// or skipped as configured; bad checkpoint directories are named.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// A paced word count over `lines` lines spread on 4 partitions: 250 records
// per partition per 100 ms batch.
typedef struct paced {
	rt_wc       w;
	const char *dir, *ckp, *job;
} paced;

static paced
paced_job(const char *tag, const char *topic, int lines, int seed)
{
	paced p;
	p.w = rt_wc_input(tag, topic, 4, lines, seed, true);
	p.dir = p.w.dir;
	p.ckp = rt_path(p.dir, "checkpoint");
	p.job = rt_wordcount_job(p.dir, topic, "100ms", 2500, "");
	return p;
}

// finish runs the job to the end of the topic from the checkpoint and
// compares the totals with the reference.
static char *
finish(const paced *p)
{
	char *o, *e;
	int   rv = rt_sh_capture(p->dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	      p->job, p->ckp);
	cr_assert_eq(rv, 0, "the resumed run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&p->w);
	return e;
}

Test(recovery, graceful_stop_then_rerun_counts_exactly, .timeout = 180)
{
	paced p = paced_job("ckp-stop", "ckp-stop", 40000, 31);
	char *o, *e;
	int   rv = rt_sh_capture(p.dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --for 1500ms", rt_bin("rill"), p.job,
	      p.ckp);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_gt(rt_count(e, "msg=\"batch done\" job=wordcount batch_ms="), 3, "%s", e);
	e = finish(&p);
	cr_assert_not_null(strstr(e, "msg=\"resuming from checkpoint\""), "%s", e);
}

Test(recovery, sigkill_of_the_whole_run_then_rerun_counts_exactly, .timeout = 240)
{
	paced p = paced_job("ckp-kill", "ckp-kill", 40000, 37);
	// Three runs killed with SIGKILL (driver and executors) at odd moments.
	const char *delays[] = { "0.7", "1.3", "0.9" };
	for (int i = 0; i < 3; i++) {
		char *o, *e;
		int   rv = rt_sh_capture(p.dir, &o, &e,
		      "setsid %s run %s --checkpoint-dir %s & run=$!; sleep %s;"
		        " /bin/kill -KILL -- -$run; wait $run",
		      rt_bin("rill"), p.job, p.ckp, delays[i]);
		cr_assert_eq(rv, 128 + 9, "run %d was killed: status %d\n%s", i, rv, e);
	}
	finish(&p);
}

Test(recovery, corrupt_newest_record_falls_back_with_a_warning, .timeout = 180)
{
	paced p = paced_job("ckp-corrupt", "ckp-corrupt", 20000, 41);
	char *o, *e;
	int   rv = rt_sh_capture(
	      p.dir, &o, &e, "%s run %s --checkpoint-dir %s --for 1s", rt_bin("rill"), p.job, p.ckp);
	cr_assert_eq(rv, 0, "%s", e);
	// Flip a byte in the middle of the newest record.
	cr_assert_eq(rt_sh("f=$(ls %s/batches/*.done | sort -t/ -k2 | tail -1);"
	                   " size=$(stat -c %%s $f); printf '\\377' |"
	                   " dd of=$f bs=1 seek=$((size / 2)) conv=notrunc status=none",
	                 p.ckp),
	    0);
	e = finish(&p);
	cr_assert_not_null(strstr(e, "msg=\"skipping a checkpoint record\""), "%s", e);
	cr_assert_not_null(strstr(e, "CRC32C mismatch"), "%s", e);
}

Test(recovery, checkpoint_of_another_job_is_refused, .timeout = 120)
{
	paced p = paced_job("ckp-other", "ckp-other", 2000, 43);
	char *o, *e;
	cr_assert_eq(rt_sh_capture(p.dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	                 rt_bin("rill"), p.job, p.ckp),
	    0, "%s", e);
	cr_assert_eq(rt_sh("sed -i 's/^name: wordcount/name: other-job/' %s", p.job), 0);
	int rv = rt_sh_capture(p.dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	    rt_bin("rill"), p.job, p.ckp);
	cr_assert_eq(rv, 1, "%s", e);
	cr_assert_not_null(strstr(e, "belongs to job 'wordcount', not 'other-job'"), "%s", e);
}

Test(recovery, unusable_checkpoint_dir_is_named, .timeout = 60)
{
	const char *dir = rt_tmpdir("ckp-file");
	const char *file = rt_write(dir, "not-a-dir", "x\n");
	const char *job = rt_wordcount_job(dir, "anything", "1s", 0, "");
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s/sub --available-now",
	    rt_bin("rill"), job, file);
	cr_assert_eq(rv, 1, "%s", e);
	cr_assert_not_null(strstr(e, file), "the message names the path:\n%s", e);
}

Test(progress, committed_offsets_reach_the_group_and_start_the_next_run, .timeout = 180)
{
	const char *dir = rt_tmpdir("group");
	const char *first = rt_path(dir, "first.txt"), *second = rt_path(dir, "second.txt");
	const char *want = rt_path(dir, "want.tsv"), *got = rt_path(dir, "got.tsv");
	rt_make_corpus(first, 5000, 51);
	rt_make_corpus(second, 3000, 52);
	rt_topic("grouped", 2);
	rt_produce_lines("grouped", first);
	const char *job = rt_wordcount_job(dir, "grouped", "200ms", 0,
	    "    group: rill-test-group\n    starting_offsets: committed\n");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job),
	    0, "%s", e);
	// Kafka's own tool sees the group at the end of both partitions.
	int rv = rt_sh_capture(dir, &o, &e,
	    "%s/deploy/kafka.sh run org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
	    " --bootstrap-server %s --describe --group rill-test-group",
	    getenv("RILL_SOURCE_ROOT"), rt_kafka());
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_eq(rt_sh("awk '$2 == \"grouped\" { n++; if ($6 != 0) bad++ } END { exit !(n == 2 "
	                   "&& !bad) }' %s/stdout",
	                 dir),
	    0, "both partitions committed with lag 0:\n%s", o);

	// No checkpoint: the next run starts where the group is, so it counts
	// only the new records.
	cr_assert_eq(rt_sh("rm -rf %s/out", dir), 0);
	rt_produce_lines("grouped", second);
	rt_reference_counts(second, want);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job),
	    0, "%s", e);
	rt_sink_totals(rt_path(dir, "out"), got);
	rt_assert_same_file(got, want);
}

Test(progress, starting_offsets_none_without_commits_is_an_error, .timeout = 60)
{
	const char *dir = rt_tmpdir("none");
	rt_topic("never-read", 1);
	const char *job = rt_wordcount_job(dir, "never-read", "1s", 0,
	    "    group: rill-test-fresh-group\n    starting_offsets: none\n");
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 1, "%s", e);
	cr_assert_not_null(strstr(e, "has no committed offset for never-read[0]"), "%s", e);
}

Test(data_loss, deleted_records_fail_the_batch_or_are_skipped, .timeout = 240)
{
	const char *dir = rt_tmpdir("loss");
	const char *ckp = rt_path(dir, "checkpoint"), *all = rt_path(dir, "all.txt");
	const char *kept = rt_path(dir, "kept.txt"), *want = rt_path(dir, "want.tsv");
	const char *got = rt_path(dir, "got.tsv");
	cr_assert_eq(
	    rt_sh("for i in $(seq 0 1999); do echo \"w$((i %% 50)) line$i\"; done > %s", all), 0);
	rt_topic("lossy", 1);
	cr_assert_eq(rt_sh("head -1000 %s > %s/a.txt", all, dir), 0);
	rt_produce_lines("lossy", rt_path(dir, "a.txt"));
	const char *job = rt_wordcount_job(dir, "lossy", "200ms", 0, "");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	                 rt_bin("rill"), job, ckp),
	    0, "%s", e);
	// While the job is down, 1000 more arrive and retention deletes up to 1500.
	cr_assert_eq(rt_sh("tail -1000 %s > %s/b.txt", all, dir), 0);
	rt_produce_lines("lossy", rt_path(dir, "b.txt"));
	rt_write(dir, "delete.json",
	    "{\"partitions\": [{\"topic\": \"lossy\", \"partition\": 0, \"offset\": 1500}], "
	    "\"version\": 1}\n");
	cr_assert_eq(
	    rt_sh("%s/deploy/kafka.sh run org.apache.kafka.tools.DeleteRecordsCommand"
	          " --bootstrap-server %s --offset-json-file %s/delete.json >/dev/null 2>&1",
	        getenv("RILL_SOURCE_ROOT"), rt_kafka(), dir),
	    0);

	// fail_on_data_loss: true (the default) refuses, naming where and what to do.
	int rv = rt_sh_capture(
	    dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now", rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 1, "%s", e);
	cr_assert_not_null(strstr(e, "lossy[0]"), "%s", e);
	cr_assert_not_null(strstr(e, "fail_on_data_loss: false"), "%s", e);

	// fail_on_data_loss: false skips the 500 lost records and says so.
	job = rt_wordcount_job(dir, "lossy", "200ms", 0, "    fail_on_data_loss: false\n");
	rv = rt_sh_capture(dir, &o, &e,
	    "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	    job, ckp);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_not_null(
	    strstr(e, "msg=\"records lost\" topic=lossy partition=0 from=1000 until=1500 lost=500"),
	    "%s", e);
	cr_assert_eq(rt_sh("{ head -1000 %s; tail -500 %s; } > %s", all, all, kept), 0);
	rt_reference_counts(kept, want);
	rt_sink_totals(rt_path(dir, "out"), got);
	rt_assert_same_file(got, want);
}

Test(progress, positions_reach_zookeeper, .timeout = 120)
{
	const char *dir = rt_tmpdir("zk-progress");
	const char *zkdir = rt_path(dir, "zookeeper"), *lines = rt_path(dir, "lines.txt");
	const char *src = getenv("RILL_SOURCE_ROOT");
	char       *o, *e;
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, "%s/deploy/zookeeper.sh start --dir %s", src, zkdir), 0,
	    "ZooKeeper did not start:\n%s", e);
	char zk[128];
	snprintf(zk, sizeof(zk), "%.*s", (int)strcspn(o, "\n"), o);
	cr_assert_eq(rt_sh("for i in $(seq 1 300); do echo \"w$i\"; done > %s", lines), 0);
	rt_topic("zk-tracked", 2);
	rt_produce_spread("zk-tracked", 2, lines);
	const char *job = rt_wordcount_job(dir, "zk-tracked", "200ms", 0, "");
	int         rv = rt_sh_capture(
	            dir, &o, &e, "%s run %s --zk %s/rill-test --available-now", rt_bin("rill"), job, zk);
	cr_assert_eq(rv, 0, "%s", e);
	// Read back with ZooKeeper's own client: 150 lines went to each partition.
	for (int p = 0; p < 2; p++) {
		rv = rt_sh_capture(dir, &o, &e,
		    "/usr/share/zookeeper/bin/zkCli.sh -server %s get "
		    "/rill-test/rill/jobs/wordcount/offsets/zk-tracked/%d 2>/dev/null",
		    zk, p);
		cr_assert_eq(rv, 0);
		// zkCli's watcher thread prints its connection event on the
		// same stdout, before or after the value: find the value's line.
		cr_assert(strncmp(o, "150\n", 4) == 0 || strstr(o, "\n150\n") != NULL,
		    "partition %d's position in ZooKeeper is not 150; zkCli printed:\n%s", p, o);
	}
	// The run claimed the job's epoch (the version of its epoch node) to
	// fence its writes; a second run claims the next one.
	for (int run = 1; run <= 2; run++) {
		if (run == 2)
			cr_assert_eq(rt_sh_capture(dir, &o, &e,
			                 "%s run %s --zk %s/rill-test --available-now",
			                 rt_bin("rill"), job, zk),
			    0, "%s", e);
		rv = rt_sh_capture(dir, &o, &e,
		    "/usr/share/zookeeper/bin/zkCli.sh -server %s stat "
		    "/rill-test/rill/jobs/wordcount/epoch 2>/dev/null | grep '^dataVersion'",
		    zk);
		cr_assert_eq(rv, 0, "%s", e);
		char want[64];
		snprintf(want, sizeof(want), "dataVersion = %d\n", run);
		cr_assert_str_eq(o, want, "after run %d", run);
	}
	rt_sh("%s/deploy/zookeeper.sh stop --dir %s >/dev/null 2>&1", src, zkdir);
}

// A stateful word count: update_state_by_key keeps every word's total.
static const char *
totals_job(const char *dir, const char *topic, const char *fn)
{
	return rt_write(dir, "totals.yaml",
	    "name: totals\n"
	    "batch: 100ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: 2500}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - update_state_by_key: %s\n"
	    "sink:\n"
	    "  files: {path: %s/out}\n",
	    rt_kafka(), topic, fn, dir);
}

// last_batch_totals writes the newest batch's output, sorted: with state,
// every word's total so far.
static void
last_batch_totals(const char *dir, const char *out)
{
	cr_assert_eq(
	    rt_sh("cat $(ls -d %s/out/batch-* | sort | tail -1)/part-* | LC_ALL=C sort > %s", dir,
	        out),
	    0);
}

Test(state, running_totals_carry_over_restarts_and_kills, .timeout = 240)
{
	const char *dir = rt_tmpdir("state");
	const char *first = rt_path(dir, "first.txt"), *second = rt_path(dir, "second.txt");
	const char *all = rt_path(dir, "all.txt"), *want = rt_path(dir, "want.tsv");
	const char *got = rt_path(dir, "got.tsv"), *ckp = rt_path(dir, "checkpoint");
	rt_make_corpus(first, 30000, 61);
	rt_make_corpus(second, 10000, 62);
	rt_topic("state-in", 4);
	rt_produce_spread("state-in", 4, first);
	const char *job = totals_job(dir, "state-in", "sum");
	// Two runs killed mid-stream, then one to the end of what is there.
	for (int i = 0; i < 2; i++) {
		char *o, *e;
		int   rv = rt_sh_capture(dir, &o, &e,
		      "setsid %s run %s --checkpoint-dir %s & run=$!; sleep 1.%d; /bin/kill -KILL -- "
		        "-$run; wait $run",
		      rt_bin("rill"), job, ckp, 2 + 3 * i);
		cr_assert_eq(rv, 137, "%s", e);
	}
	char *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	                 rt_bin("rill"), job, ckp),
	    0, "%s", e);
	// More words arrive; a later run adds them to the totals.
	rt_produce_spread("state-in", 4, second);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	                 rt_bin("rill"), job, ckp),
	    0, "%s", e);
	cr_assert_eq(rt_sh("cat %s %s > %s", first, second, all), 0);
	rt_reference_counts(all, want);
	last_batch_totals(dir, got);
	rt_assert_same_file(got, want);
	// The state lives in the job's Kafka changelog, not in snapshot files.
	cr_assert_neq(rt_sh("test -e %s/state", ckp), 0);
}

Test(state, a_changed_stateful_step_is_refused_a_stateless_change_is_not, .timeout = 120)
{
	const char *dir = rt_tmpdir("state-change");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(
	    rt_sh("for i in $(seq 1 500); do echo \"Word$((i %% 7)) word$((i %% 3))\"; done > %s",
	        lines),
	    0);
	rt_topic("state-change", 2);
	rt_produce_lines("state-change", lines);
	const char *job = totals_job(dir, "state-change", "sum");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
	                 rt_bin("rill"), job, ckp),
	    0, "%s", e);
	// Another reduction in the stateful step: refused, naming it and the way out.
	job = totals_job(dir, "state-change", "count");
	int rv = rt_sh_capture(
	    dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now", rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 1, "%s", e);
	char want[4300];
	snprintf(want, sizeof(want),
	    "%s:8:5: update_state_by_key: count differs from the update_state_by_key: sum", job);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_not_null(strstr(e, "new --checkpoint-dir"), "%s", e);
	// A new stateless step before it is fine.
	job = totals_job(dir, "state-change", "sum");
	cr_assert_eq(
	    rt_sh("sed -i 's/^  - flat_map: words/  - map: lower\\n  - flat_map: words/' %s", job),
	    0);
	rv = rt_sh_capture(
	    dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now", rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 0, "%s", e);
}

// batch_times lists the batch times a files sink committed, in order.
static int
batch_times(const char *out, long long *ret, int max)
{
	char       *o, *e;
	const char *dir = rt_tmpdir("ls");
	rt_sh_capture(dir, &o, &e, "ls %s | sed 's/^batch-//' | sort -n", out);
	int n = 0;
	for (char *p = o; *p != '\0' && n < max; p = strchr(p, '\n') + 1)
		ret[n++] = strtoll(p, NULL, 10);
	return n;
}

Test(rate, a_backlog_starts_at_the_initial_rate_and_speeds_up, .timeout = 120)
{
	const char *dir = rt_tmpdir("backlog");
	const char *lines = rt_path(dir, "lines.txt");
	cr_assert_eq(
	    rt_sh("for i in $(seq 1 30000); do echo \"w$((i %% 100))\"; done > %s", lines), 0);
	rt_topic("backlog", 2);
	rt_produce_spread("backlog", 2, lines);
	// No fixed cap: only backpressure, starting at 2000 records/s.
	const char *job = rt_wordcount_job(dir, "backlog", "500ms", 0, "    initial_rate: 2000\n");
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, "RILL_LOG_LEVEL=info %s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "%s", e);
	long first = -1, later_max = 0, total = 0;
	for (const char *p = e; (p = strstr(p, "msg=\"batch done\"")) != NULL; p++) {
		long n = strtol(strstr(p, " records=") + 9, NULL, 10);
		if (first < 0)
			first = n;
		else if (n > later_max)
			later_max = n;
		total += n;
	}
	cr_assert_eq(total, 30000);
	cr_assert_leq(
	    first, 1000, "2000 records/s x 500 ms: the first batch is small, not the backlog");
	cr_assert_gt(later_max, 4 * first, "the estimator raised the rate after measuring");
}

Test(recovery, catch_up_all_replays_missed_intervals_latest_skips_them, .timeout = 180)
{
	const char *policies[] = { "all", "latest" };
	for (int i = 0; i < 2; i++) {
		char tag[32], topic[32];
		snprintf(tag, sizeof(tag), "catchup-%s", policies[i]);
		snprintf(topic, sizeof(topic), "catchup-%s", policies[i]);
		const char *dir = rt_tmpdir(tag);
		const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
		cr_assert_eq(
		    rt_sh("for i in $(seq 1 2000); do echo \"w$((i %% 10))\"; done > %s", lines),
		    0);
		rt_topic(topic, 1);
		rt_produce_lines(topic, lines);
		// 500 records/s: 100 per batch, so most of the input is left for the second run.
		const char *job = rt_wordcount_job(dir, topic, "200ms", 500, "");
		cr_assert_eq(rt_sh("sed -i 's/^batch: 200ms/batch: 200ms\\ncatch_up: %s/' %s",
		                 policies[i], job),
		    0);
		char *o, *e;
		cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --for 700ms",
		                 rt_bin("rill"), job, ckp),
		    0, "%s", e);
		long long before[64];
		int       nbefore = batch_times(rt_path(dir, "out"), before, 64);
		cr_assert_gt(nbefore, 0);
		// Down for 2 s (10 intervals), then back.
		cr_assert_eq(rt_sh("sleep 2"), 0);
		cr_assert_eq(
		    rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s --available-now",
		        rt_bin("rill"), job, ckp),
		    0, "%s", e);
		long long after[256];
		int       nafter = batch_times(rt_path(dir, "out"), after, 256);
		cr_assert_gt(nafter, nbefore);
		long long gap = after[nbefore] - before[nbefore - 1];
		if (i == 0)
			cr_assert_eq(gap, 200, "catch_up all: the next batch is the next interval");
		else
			cr_assert_geq(gap, 2000,
			    "catch_up latest: the missed intervals are skipped (gap %lld)", gap);
	}
}

// tests/fixtures/checkpoint-v1 holds records of checkpoint format 1 (Kafka
// ranges), written by the writer of that format: batch 1764633600000 done
// with ckpv1-words[0] [0, 3) and [1] [0, 2); batch 1764633601000 planned with
// [0] [3, 5) and [1] [2, 6). A job recovers from them: the planned batch runs
// again with those ranges, then the rest; nothing the done batch covered is
// read again.
Test(recovery, a_format_1_checkpoint_is_recovered_exactly, .timeout = 120)
{
	const char *dir = rt_tmpdir("ckpv1");
	const char *src = getenv("RILL_SOURCE_ROOT");
	cr_assert_not_null(src);
	const char *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(rt_sh("mkdir -p %s && cp -r %s/tests/fixtures/checkpoint-v1/batches %s/", ckp,
	                 src, ckp),
	    0);
	// One word per record, each word once: partition P's record N is pP-N.
	rt_topic("ckpv1-words", 2);
	for (int p = 0; p < 2; p++) {
		cr_assert_eq(rt_sh("seq 0 9 | sed 's/^/p%d-/' > %s/p%d.txt", p, dir, p), 0);
		cr_assert_eq(rt_sh("kcat -P -b %s -t ckpv1-words -p %d -l %s/p%d.txt", rt_kafka(),
		                 p, dir, p),
		    0);
	}
	const char *out = rt_path(dir, "out");
	const char *job = rt_write(dir, "job.yaml",
	    "name: ckpv1\n"
	    "batch: 1s\n"
	    "catch_up: latest\n"
	    "source:\n"
	    "  kafka:\n"
	    "    brokers: %s\n"
	    "    topics: [ckpv1-words]\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	            job, ckp);
	cr_assert_eq(rv, 0, "the run exited %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e,
	                       "msg=\"re-running a batch that did not finish\" job=ckpv1 "
	                       "batch_ms=1764633601000 phase=planned"),
	    "%s", e);
	// The batch run again holds exactly its planned ranges.
	const char *want_replay = rt_write(
	    dir, "want-replay.tsv", "p0-3\t1\np0-4\t1\np1-2\t1\np1-3\t1\np1-4\t1\np1-5\t1\n");
	const char *got_replay = rt_path(dir, "got-replay.tsv");
	cr_assert_eq(
	    rt_sh("cat %s/batch-1764633601000/part-* | LC_ALL=C sort > %s", out, got_replay), 0);
	rt_assert_same_file(got_replay, want_replay);
	// Every batch together: every record after the done batch, once.
	const char *want = rt_path(dir, "want.tsv");
	cr_assert_eq(rt_sh("(seq 3 9 | sed 's/^/p0-/'; seq 2 9 | sed 's/^/p1-/') |"
	                   " sed 's/$/\t1/' | LC_ALL=C sort > %s",
	                 want),
	    0);
	const char *got = rt_path(dir, "got.tsv");
	rt_sink_totals(out, got);
	rt_assert_same_file(got, want);
}
