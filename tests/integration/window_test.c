// SPDX-License-Identifier: Apache-2.0
// Batch-time windows on a real broker: reduce_by_key_and_window (with and
// without inverse), count_by_window and window, each batch's output checked
// against Python's windows over the lines each batch read (a one-partition
// topic, one word a line: a batch's "records=N" says it read the next N
// lines), across restarts, replays and a lost executor; and the job-file and
// checkpoint errors.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// window_job writes NAME.yaml: a 100 ms batch over one partition read at
// `rate` records/s (rate/10 a batch), the given steps, a files sink in
// dir/out-NAME.
static const char *
window_job(const char *dir, const char *name, const char *topic, long rate, const char *steps)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.yaml", name);
	return rt_write(dir, file,
	    "name: %s\n"
	    "batch: 100ms\n"
	    "shuffle_partitions: 3\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: %ld, backpressure: "
	    "false}\n"
	    "pipeline:\n"
	    "%s"
	    "sink:\n"
	    "  files: {path: %s/out-%s}\n",
	    name, rt_kafka(), topic, rate, steps, dir, name);
}

// The reference, in Python: for each batch of the log (time, records read),
// in order, the lines it read; at each batch on the slide, the window over
// the batches of the last `length` ms: per word its count ("words"), or the
// number of records once any was seen ("count"). Writes want-T.tsv for
// every batch (empty off the slide) and batches.txt.
static void
reference(const char *dir, const char *name, const char *lines, const char *log, const char *mode,
    long length_ms, long slide_ms)
{
	char path[256];
	snprintf(path, sizeof(path), "batches-%s.txt", name);
	const char *batches = rt_path(dir, path);
	FILE       *f = fopen(batches, "w");
	cr_assert_not_null(f);
	char needle[200];
	snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s batch_ms=", name);
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		char     *end;
		long long t = strtoll(p + strlen(needle), &end, 10);
		cr_assert_eq(strncmp(end, " records=", 9), 0, "%.200s", p);
		fprintf(f, "%lld %lld\n", t, strtoll(end + 9, NULL, 10));
	}
	fclose(f);
	cr_assert_eq(
	    rt_sh("python3 - %s %s %s/want-%s %s %ld %ld <<'EOF'\n"
	          "import sys, collections\n"
	          "words = open(sys.argv[1]).read().split()\n"
	          "out, mode, length, slide = sys.argv[3], sys.argv[4], int(sys.argv[5]), "
	          "int(sys.argv[6])\n"
	          "read, at, seen = [], 0, False\n"
	          "for row in open(sys.argv[2]):\n"
	          "    t, n = map(int, row.split())\n"
	          "    read.append((t, words[at:at + n]))\n"
	          "    at += n\n"
	          "    seen = seen or n > 0\n"
	          "    rows = []\n"
	          "    if t %% slide == 0:\n"
	          "        inside = [w for (u, ws) in read if t - length < u <= t for w in "
	          "ws]\n"
	          "        if mode == 'words':\n"
	          "            c = collections.Counter(inside)\n"
	          "            rows = ['%%s\\t%%d' %% (w, c[w]) for w in c]\n"
	          "        elif seen:\n"
	          "            rows = ['%%d' %% len(inside)]\n"
	          "    with open('%%s-%%d.tsv' %% (out, t), 'w') as f:\n"
	          "        for r in sorted(rows):\n"
	          "            f.write(r + '\\n')\n"
	          "EOF",
	        lines, batches, dir, name, mode, length_ms, slide_ms),
	    0);
}

typedef struct checked {
	int batches, emitting, nonempty;
	int zero_counts; // count mode: windows whose count was 0
} checked;

// check_all compares every batch of the log with the reference: the same
// lines (sorted), exactly; a batch appears once in the log.
static checked
check_all(const char *dir, const char *name, const char *log, long slide_ms)
{
	checked c = { 0 };
	char    needle[200];
	snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s batch_ms=", name);
	const char *got = rt_path(dir, "got.tsv");
	long long   last = 0;
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		long long t = strtoll(p + strlen(needle), NULL, 10);
		cr_assert_gt(
		    t, last, "batch %lld done after batch %lld: a batch ran twice", t, last);
		last = t;
		cr_assert_eq(
		    rt_sh("cat %s/out-%s/batch-%lld/part-* 2>/dev/null | LC_ALL=C sort > %s", dir,
		        name, t, got),
		    0);
		char want[4200];
		snprintf(want, sizeof(want), "%s/want-%s-%lld.tsv", dir, name, t);
		int rv = rt_sh("LC_ALL=C sort -o %s %s && cmp -s %s %s", want, want, got, want);
		if (rv != 0)
			rt_sh("diff %s %s | head -20 >&2", got, want);
		cr_assert_eq(rv, 0, "%s: batch %lld differs from the reference %s", name, t, want);
		c.batches++;
		c.emitting += t % slide_ms == 0;
		c.nonempty += rt_sh("test -s %s", want) == 0;
		c.zero_counts += rt_sh("test \"$(cat %s)\" = 0", want) == 0;
	}
	return c;
}

static void
make_lines(const char *lines, int n, int mod)
{
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 1; i <= %d; i++) print \"w\" (i * 7 %% %d) }' > %s", n,
	        mod, lines),
	    0);
}

// The same windowed word counts with a running sum (inverse) and by folding
// the window's batches: both equal Python's windows at every batch on the
// slide (length 500 ms, slide 200 ms), nothing off the slide, and once the
// input ran out the windows empty and keys leave (no key stays at 0).
Test(windows, reduce_by_key_and_window_with_and_without_inverse_match_python, .timeout = 300)
{
	const char *dir = rt_tmpdir("win-reduce");
	const char *lines = rt_path(dir, "lines.txt");
	make_lines(lines, 3000, 37);
	rt_topic("win-reduce", 1);
	rt_produce_lines("win-reduce", lines);
	const char *names[] = { "rw-inverse", "rw-fold" };
	const char *steps[] = {
		"  - map_values: one\n"
		"  - reduce_by_key_and_window: {fn: sum, length: 500ms, slide: 200ms, inverse: "
		"true}\n",
		"  - map_values: one\n"
		"  - reduce_by_key_and_window: {fn: sum, length: 500ms, slide: 200ms}\n",
	};
	for (int i = 0; i < 2; i++) {
		const char *job = window_job(dir, names[i], "win-reduce", 2500, steps[i]);
		char        ckp[64];
		snprintf(ckp, sizeof(ckp), "ckp-%s", names[i]);
		char *log = NULL;
		cr_assert_eq(rt_run_logged(dir, "", job, rt_path(dir, ckp), "--for 6s", "", &log),
		    0, "%s", log);
		reference(dir, names[i], lines, log, "words", 500, 200);
		checked c = check_all(dir, names[i], log, 200);
		cr_assert_geq(c.emitting, 8, "%s", log);
		cr_assert_geq(c.nonempty, 5, "%s", log);
		// The input ran out (3000 lines at 250 a batch) well before the
		// run ended: the last windows on the slide are empty, and matched.
		cr_assert_geq(c.emitting - c.nonempty, 2, "%s: no empty window at the end:\n%s",
		    names[i], log);
		free(log);
	}
}

// count_by_window: one keyless record a slide, the window's count, and 0
// once the records left the window (as Spark's countByWindow).
Test(windows, count_by_window_counts_the_window_and_then_zero, .timeout = 300)
{
	const char *dir = rt_tmpdir("win-count");
	const char *lines = rt_path(dir, "lines.txt");
	make_lines(lines, 2000, 11);
	rt_topic("win-count", 1);
	rt_produce_lines("win-count", lines);
	const char *job = window_job(
	    dir, "cw", "win-count", 3000, "  - count_by_window: {length: 300ms, slide: 300ms}\n");
	char *log = NULL;
	cr_assert_eq(
	    rt_run_logged(dir, "", job, rt_path(dir, "ckp"), "--for 5s", "", &log), 0, "%s", log);
	reference(dir, "cw", lines, log, "count", 300, 300);
	checked c = check_all(dir, "cw", log, 300);
	cr_assert_geq(c.emitting, 6, "%s", log);
	cr_assert_geq(c.zero_counts, 1, "no window emptied to 0:\n%s", log);
	// Tumbling (slide = length): the windows' counts add up to the lines.
	cr_assert_eq(rt_sh("test $(cat %s/out-cw/batch-*/part-* | awk '{ s += $1 } END { print s "
	                   "}') -eq 2000",
	                 dir),
	    0, "tumbling windows do not add up to every line");
	free(log);
}

// window re-emits every record of the window at each slide: a word count
// after it counts the whole window.
Test(windows, window_then_reduce_by_key_counts_the_whole_window, .timeout = 300)
{
	const char *dir = rt_tmpdir("win-records");
	const char *lines = rt_path(dir, "lines.txt");
	make_lines(lines, 3000, 23);
	rt_topic("win-records", 1);
	rt_produce_lines("win-records", lines);
	const char *job = window_job(dir, "wr", "win-records", 2500,
	    "  - window: {length: 400ms, slide: 200ms}\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n");
	char       *log = NULL;
	cr_assert_eq(
	    rt_run_logged(dir, "", job, rt_path(dir, "ckp"), "--for 5s", "", &log), 0, "%s", log);
	reference(dir, "wr", lines, log, "words", 400, 200);
	checked c = check_all(dir, "wr", log, 200);
	cr_assert_geq(c.nonempty, 5, "%s", log);
	free(log);
}

// Restarts from the checkpoint mid-stream, a driver that dies after a
// batch's state committed (the next run runs the batch again and must emit
// the same windows, from the state), and an executor killed mid-run (the
// other restores its partitions from the changelog): every batch of every
// run equals the reference, and no batch ran twice.
static void
restart_case(const char *tag, const char *steps, long length_ms, long slide_ms)
{
	const char *dir = rt_tmpdir(tag);
	const char *lines = rt_path(dir, "lines.txt"), *ckp = rt_path(dir, "checkpoint");
	make_lines(lines, 6000, 53);
	rt_topic(tag, 1);
	rt_produce_lines(tag, lines);
	// 100 lines a batch: the input lasts 60 batches, past the restarts and
	// the lost executor, whose windows are full when they happen.
	const char *job = window_job(dir, tag, tag, 1000, steps);
	char       *log = NULL;
	char        kill_executor[512];
	snprintf(kill_executor, sizeof(kill_executor),
	    "n0=$(ls %s/batches | grep -c 'done$'); until [ $(ls %s/batches 2>/dev/null | grep "
	    "-c 'done$') -ge $((n0 + 5)) ]; do kill -0 $run 2>/dev/null || break; sleep 0.02; "
	    "done; pkill -KILL -P $run -f 'local-1 ';",
	    ckp, ckp);
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--for 1200ms", "", &log), 0, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "RILL_FAULT=batch-ran:1", job, ckp, "--for 20s", "", &log),
	    137, "%s", log);
	cr_assert_eq(rt_run_logged(dir, "", job, ckp, "--for 1500ms", "", &log), 0, "%s", log);
	int rv = rt_run_logged(dir, "", job, ckp, "--available-now", kill_executor, &log);
	cr_assert_eq(rv, 0, "the last run exited %d:\n%s", rv, log);
	reference(dir, tag, lines, log, "words", length_ms, slide_ms);
	checked c = check_all(dir, tag, log, slide_ms);
	cr_assert_geq(c.nonempty, 10, "%s", log);
	cr_assert_eq(rt_count(log, "msg=\"re-running a batch that did not finish\""), 1, "%s", log);
	cr_assert_geq(rt_count(log, "msg=\"state already has the batch\""), 1,
	    "the re-run found the batch's state committed:\n%s", log);
	cr_assert_not_null(strstr(log, "msg=\"executor lost\" id=local-1"), "%s", log);
	cr_assert_geq(rt_count(log, "msg=\"state loaded\""), 3, "%s", log);
	// The last run went on until it had read every line.
	cr_assert_eq(
	    rt_sh("test $(awk '{ s += $2 } END { print s }' %s/batches-%s.txt) -eq 6000", dir, tag),
	    0, "%s", log);
	free(log);
}

Test(windows, reduce_window_restarts_and_replays_emit_each_window_exactly, .timeout = 300)
{
	restart_case("win-restart-reduce",
	    "  - map_values: one\n"
	    "  - reduce_by_key_and_window: {fn: sum, length: 700ms, slide: 300ms, inverse: "
	    "true}\n",
	    700, 300);
}

Test(windows, records_window_restarts_and_replays_emit_each_window_exactly, .timeout = 300)
{
	restart_case("win-restart-records",
	    "  - window: {length: 500ms, slide: 200ms}\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n",
	    500, 200);
}

// The job file's errors name the file, line and column; a window changed
// between runs is refused with the reason.
Test(windows, bad_windows_and_a_changed_window_are_refused, .timeout = 180)
{
	const char *dir = rt_tmpdir("win-errors");
	rt_topic("win-errors", 1);
	char *o, *e;
	// 250ms is not a multiple of the 100ms batch.
	const char *job = window_job(dir, "bad-length", "win-errors", 100,
	    "  - map_values: one\n"
	    "  - reduce_by_key_and_window: {fn: sum, length: 250ms}\n");
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s/c1 --available-now",
	    rt_bin("rill"), job, dir);
	cr_assert_eq(rv, 2, "%s", e);
	cr_assert_not_null(strstr(e, "bad-length.yaml:8:"), "%s", e);
	cr_assert_not_null(strstr(e, "is not a multiple of the batch interval (100ms)"), "%s", e);
	job = window_job(dir, "bad-inverse", "win-errors", 100,
	    "  - map_values: one\n"
	    "  - reduce_by_key_and_window: {fn: max, length: 500ms, inverse: true}\n");
	rv = rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s/c2 --available-now",
	    rt_bin("rill"), job, dir);
	cr_assert_eq(rv, 2, "%s", e);
	cr_assert_not_null(strstr(e, "bad-inverse.yaml:8:"), "%s", e);
	cr_assert_not_null(strstr(e, "'max' has no inverse"), "%s", e);
	// A window that ran, then a longer one on the same checkpoint.
	cr_assert_eq(rt_sh("printf 'a\\nb\\n' > %s/two.txt", dir), 0);
	rt_produce_lines("win-errors", rt_path(dir, "two.txt"));
	job = window_job(dir, "changed", "win-errors", 100,
	    "  - map_values: one\n"
	    "  - reduce_by_key_and_window: {fn: sum, length: 500ms, slide: 100ms}\n");
	rv = rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s/c3 --available-now",
	    rt_bin("rill"), job, dir);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_eq(
	    rt_sh("sed -i 's/length: 500ms, slide: 100ms/length: 600ms, slide: 100ms/' %s", job),
	    0);
	rv = rt_sh_capture(dir, &o, &e, "%s run %s --checkpoint-dir %s/c3 --available-now",
	    rt_bin("rill"), job, dir);
	cr_assert_neq(rv, 0, "a changed window ran on the old window's state:\n%s", e);
	cr_assert_not_null(strstr(e,
	                       "changed.yaml:8:5: reduce_by_key_and_window: its length, "
	                       "slide, inverse or time differ"),
	    "%s", e);
	cr_assert_not_null(strstr(e, "start the job with a new --checkpoint-dir"), "%s", e);
}
