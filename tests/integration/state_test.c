// SPDX-License-Identifier: Apache-2.0
// update_state_by_key on a real broker: every batch emits every key's state
// (batches and state partitions without input too), checked batch by batch
// against awk's running totals over the records read so far.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// A running word count over a one-partition topic, one word a line, so that
// a batch's "records=N" says exactly which lines it read: the next N.
static const char *
totals_job(const char *dir, const char *topic, long rate)
{
	return rt_write(dir, "totals.yaml",
	    "name: totals\n"
	    "batch: 100ms\n"
	    "shuffle_partitions: 4\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: %ld, backpressure: "
	    "false}\n"
	    "pipeline:\n"
	    "  - map_values: one\n"
	    "  - update_state_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s/out}\n",
	    rt_kafka(), topic, rate, dir);
}

typedef struct totals_check {
	long long read; // lines read by the batches checked so far
	int       batches, empty; // batches checked; those that read nothing
} totals_check;

// check_batches walks the "batch done" lines of a run's log, in order, and
// compares each batch's output with awk's totals over the lines read up to
// and including it. A batch before any state has no output.
static void
check_batches(const char *dir, const char *lines, const char *log, totals_check *tc)
{
	const char *want = rt_path(dir, "want.tsv"), *got = rt_path(dir, "got.tsv");
	const char *needle = "msg=\"batch done\" job=totals batch_ms=";
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		char     *end;
		long long batch_ms = strtoll(p + strlen(needle), &end, 10);
		cr_assert_eq(strncmp(end, " records=", 9), 0, "%.200s", p);
		long long n = strtoll(end + 9, NULL, 10);
		tc->read += n;
		tc->batches++;
		if (tc->read == 0) {
			cr_assert_neq(rt_sh("test -d %s/out/batch-%lld", dir, batch_ms), 0,
			    "batch %lld read nothing and there is no state yet", batch_ms);
			continue;
		}
		tc->empty += n == 0;
		cr_assert_eq(rt_sh("head -n %lld %s | LC_ALL=C sort | uniq -c |"
		                   " awk '{ print $2 \"\\t\" $1 }' | LC_ALL=C sort > %s",
		                 tc->read, lines, want),
		    0);
		cr_assert_eq(rt_sh("test -d %s/out/batch-%lld", dir, batch_ms), 0,
		    "batch %lld (records=%lld, %lld read so far) has no output", batch_ms, n,
		    tc->read);
		cr_assert_eq(
		    rt_sh("cat %s/out/batch-%lld/part-* | LC_ALL=C sort > %s", dir, batch_ms, got),
		    0);
		int rv = rt_sh("cmp -s %s %s", got, want);
		if (rv != 0)
			rt_sh("diff %s %s | head -20 >&2", got, want);
		cr_assert_eq(rv, 0,
		    "batch %lld (records=%lld) is not every key's total over the first %lld lines",
		    batch_ms, n, tc->read);
	}
}

Test(state, every_batch_emits_every_keys_total_also_without_input, .timeout = 240)
{
	const char *dir = rt_tmpdir("state-every");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 1; i <= 1500; i++) print \"w\" (i * 7 %% 37) }' > %s",
	        lines),
	    0);
	rt_topic("state-every", 1);
	rt_produce_lines("state-every", lines);
	// 250 records a batch: six batches read the lines, the rest nothing.
	const char *job = totals_job(dir, "state-every", 2500);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --for 3s", rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 0, "%s", e);
	totals_check tc = { 0 };
	check_batches(dir, lines, e, &tc);
	cr_assert_eq(tc.read, 1500, "the run read every line:\n%s", e);
	cr_assert_geq(tc.empty, 3, "batches after the lines ran out emit the totals too:\n%s", e);
	// Each state partition stays warm on its executor: after the first
	// batch (empty state), no task reads a snapshot back.
	int loads = rt_count(e, "msg=\"state loaded\"");
	cr_assert_leq(loads, 4, "%d snapshot loads in %d batches:\n%s", loads, tc.batches, e);
	// One more line, of one word: one state partition of 4 has input, the
	// others emit their totals all the same (and the run resumes the state).
	cr_assert_eq(rt_sh("echo w5 >> %s; tail -n 1 %s > %s/more.txt", lines, lines, dir), 0);
	rt_produce_lines("state-every", rt_path(dir, "more.txt"));
	rv = rt_sh_capture(dir, &o, &e,
	    "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	    job, ckp);
	cr_assert_eq(rv, 0, "%s", e);
	int before = tc.batches;
	check_batches(dir, lines, e, &tc);
	cr_assert_eq(tc.read, 1501, "%s", e);
	cr_assert_gt(tc.batches, before, "%s", e);
	// New executors: each of the 4 partitions is read from its snapshot once.
	cr_assert_eq(rt_count(e, "msg=\"state loaded\""), 4, "%s", e);
}

Test(state, an_executor_killed_mid_run_leaves_every_batch_exact, .timeout = 240)
{
	const char *dir = rt_tmpdir("state-kill");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 1; i <= 6000; i++) print \"k\" (i * 13 %% 101) }' > %s",
	        lines),
	    0);
	rt_topic("state-kill", 1);
	rt_produce_lines("state-kill", lines);
	// 250 records a batch, 24 batches back to back (--available-now: a slow
	// machine still reads them all); one of the two executors is killed
	// once 5 batches are done, and the other takes its state partitions over.
	const char *job = totals_job(dir, "state-kill", 2500);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now & run=$!;"
	                    " until [ $(ls %s/batches 2>/dev/null | grep -c 'done$') -ge 5 ]; do kill -0 $run "
	                    "2>/dev/null || break; sleep 0.02; done;"
	                    " pkill -KILL -P $run -f 'local-1 '; wait $run",
	            rt_bin("rill"), job, ckp, ckp);
	cr_assert_eq(rv, 0, "%s", e);
	totals_check tc = { 0 };
	check_batches(dir, lines, e, &tc);
	cr_assert_eq(tc.read, 6000, "the run read every line:\n%s", e);
	cr_assert_not_null(strstr(e, "msg=\"executor lost\" id=local-1"), "%s", e);
	cr_assert_geq(rt_count(e, "msg=\"state loaded\""), 1,
	    "the surviving executor restored the lost one's partitions:\n%s", e);
}

Test(state, a_batch_run_again_after_its_state_committed_counts_it_once, .timeout = 240)
{
	const char *dir = rt_tmpdir("state-again");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 1; i <= 4000; i++) print \"r\" (i * 17 %% 53) }' > %s",
	        lines),
	    0);
	rt_topic("state-again", 1);
	rt_produce_lines("state-again", lines);
	const char *job = totals_job(dir, "state-again", 2500);
	char       *log = NULL;
	// The driver dies after every task of its first batch ran (the state
	// partitions committed their changes), before the batch is done; the
	// next run runs the batch again. Once at the start, once mid-stream.
	cr_assert_eq(rt_run_logged(dir, "RILL_FAULT=batch-ran:1", job, ckp, "--for 20s", "", &log),
	    137, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--for 1500ms", "", &log), 0, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "RILL_FAULT=batch-ran:1", job, ckp, "--for 20s", "", &log),
	    137, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--available-now", "", &log), 0, "%s", log);
	totals_check tc = { 0 };
	check_batches(dir, lines, log, &tc);
	cr_assert_eq(tc.read, 4000, "%s", log);
	cr_assert_eq(rt_count(log, "msg=\"re-running a batch that did not finish\""), 2, "%s", log);
	// Each re-run found every state partition's changes of the batch already
	// committed, and did not fold them in twice (the totals above say so).
	cr_assert_eq(rt_count(log, "msg=\"state already has the batch\""), 8, "%s", log);
	// No snapshot files: the state lives in the changelog topic.
	cr_assert_neq(rt_sh("test -e %s/state", ckp), 0);
	free(log);
}

// Past the job's state_memory, state partitions live in RocksDB on their
// executor: with a 64 KB budget and 12,000 keys, every batch is still every
// key's exact total, also after an executor is killed and the other one
// restores its partitions from the changelog (into RocksDB again).
Test(state, state_past_the_memory_budget_lives_in_rocksdb_exactly, .timeout = 240)
{
	const char *dir = rt_tmpdir("state-disk");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 1; i <= 20000; i++) print \"u\" (i * 7919 %% 12000) "
	          "}' > %s",
	        lines),
	    0);
	rt_topic("state-disk", 1);
	rt_produce_lines("state-disk", lines);
	const char *job = totals_job(dir, "state-disk", 5000);
	cr_assert_eq(
	    rt_sh("sed -i 's/^shuffle_partitions: 4$/shuffle_partitions: 4\\nstate_memory: "
	          "64KB/' %s",
	        job),
	    0);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now & run=$!;"
	        " until [ $(ls %s/batches 2>/dev/null | grep -c 'done$') -ge 4 ]; do kill -0 $run "
	        "2>/dev/null || break;"
	        " sleep 0.02; done; pkill -KILL -P $run -f 'local-1 '; wait $run",
	      rt_bin("rill"), job, ckp, ckp);
	cr_assert_eq(rv, 0, "%s", e);
	totals_check tc = { 0 };
	check_batches(dir, lines, e, &tc);
	cr_assert_eq(tc.read, 20000, "the run read every line:\n%s", e);
	cr_assert_not_null(strstr(e, "msg=\"executor lost\" id=local-1"), "%s", e);
	cr_assert_geq(rt_count(e, "msg=\"state spilled\""), 2, "%s", e);
	cr_assert_geq(rt_count(e, "reason=\"past the job's state_memory while folding a batch\""),
	    1, "a table that outgrew the budget within a batch moved then:\n%s", e);
	cr_assert_geq(rt_count(e, "reason=\"restored past the job's state_memory\""), 1,
	    "the survivor restored a lost partition straight into RocksDB:\n%s", e);
}

// mws_reference writes, for each batch of the log (in order), the output
// map_with_state: {fn: sum, timeout: TIMEOUT} must give: every key seen in
// the batch's lines with its running total, and every key idle for the
// timeout, once, with its last total (then forgotten). Python over the same
// lines and the batch times and record counts the log gives.
static void
mws_reference(const char *dir, const char *lines, const char *log, long timeout_ms)
{
	const char *batches = rt_path(dir, "batches.txt");
	FILE       *f = fopen(batches, "w");
	cr_assert_not_null(f);
	const char *needle = "msg=\"batch done\" job=totals batch_ms=";
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		char     *end;
		long long t = strtoll(p + strlen(needle), &end, 10);
		fprintf(f, "%lld %lld\n", t, strtoll(end + 9, NULL, 10));
	}
	fclose(f);
	cr_assert_eq(rt_sh("python3 - %s %s %s %ld <<'EOF'\n"
	                   "import sys\n"
	                   "lines = open(sys.argv[1]).read().split()\n"
	                   "state, last, at = {}, {}, 0\n"
	                   "for row in open(sys.argv[2]):\n"
	                   "    t, n = map(int, row.split())\n"
	                   "    out = {}\n"
	                   "    for w in lines[at:at + n]:\n"
	                   "        state[w] = state.get(w, 0) + 1\n"
	                   "        last[w] = t\n"
	                   "        out[w] = state[w]\n"
	                   "    at += n\n"
	                   "    for w in [w for w in state if w not in out and t - last[w] >= "
	                   "int(sys.argv[4])]:\n"
	                   "        out[w] = state.pop(w)\n"
	                   "        del last[w]\n"
	                   "        open('%s/expired.txt', 'a').write('%%d %%s\\n' %% (t, w))\n"
	                   "    with open('%s/want-%%d.tsv' %% t, 'w') as f:\n"
	                   "        for w in sorted(out):\n"
	                   "            f.write('%%s\\t%%d\\n' %% (w, out[w]))\n"
	                   "EOF",
	                 lines, batches, dir, timeout_ms, dir, dir),
	    0);
}

Test(state, map_with_state_emits_keys_seen_and_expires_idle_keys_once, .timeout = 240)
{
	const char *dir = rt_tmpdir("state-mws");
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	// Keys a0..a29 for the first 1500 lines, then b0..b29 only: the a keys
	// go idle and expire, each once.
	cr_assert_eq(rt_sh("awk 'BEGIN { for (i = 1; i <= 3000; i++)"
	                   " print (i <= 1500 ? \"a\" : \"b\") (i * 7 %% 30) }' > %s",
	                 lines),
	    0);
	rt_topic("state-mws", 1);
	rt_produce_lines("state-mws", lines);
	const char *job = totals_job(dir, "state-mws", 2500);
	cr_assert_eq(rt_sh("sed -i 's/update_state_by_key: sum/map_with_state: {fn: sum, timeout: "
	                   "300ms}/' %s",
	                 job),
	    0);
	char *log = NULL;
	// A run, one that dies after its first batch's state committed (the next
	// run runs that batch again: it must emit the same), and a last run.
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--for 1500ms", "", &log), 0, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "RILL_FAULT=batch-ran:1", job, ckp, "--for 20s", "", &log),
	    137, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--for 3s", "", &log), 0, "%s", log);
	cr_assert_eq(rt_count(log, "msg=\"state already has the batch\""), 4, "%s", log);
	mws_reference(dir, lines, log, 300);
	const char *needle = "msg=\"batch done\" job=totals batch_ms=";
	int         checked = 0;
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		long long t = strtoll(p + strlen(needle), NULL, 10);
		char      want[4200];
		snprintf(want, sizeof(want), "%s/want-%lld.tsv", dir, t);
		const char *got = rt_path(dir, "got.tsv");
		cr_assert_eq(rt_sh("cat %s/out/batch-%lld/part-* 2>/dev/null | LC_ALL=C sort > %s",
		                 dir, t, got),
		    0);
		int rv = rt_sh("cmp -s %s %s", got, want);
		if (rv != 0)
			rt_sh("diff %s %s | head -20 >&2", got, want);
		cr_assert_eq(rv, 0, "batch %lld differs from the reference %s", t, want);
		checked++;
	}
	cr_assert_geq(checked, 12, "%s", log);
	// The reference expired every a key once (and rill's batches matched it).
	cr_assert_eq(rt_sh("test $(grep -c ' a' %s/expired.txt) -eq 30", dir), 0,
	    "the a keys did not all expire in the runs:\n%s", log);
	free(log);
}
