// SPDX-License-Identifier: Apache-2.0
// Word count and friends end to end: a real Kafka broker, `rill run` with a
// driver and executor processes, results checked against references computed
// by other tools (awk, sort, uniq) from the same input.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fixtures/fixture.h"

Test(wordcount, skewed_corpus_counts_exactly, .timeout = 180)
{
	rt_wc       w = rt_wc_input("wc", "wc-skewed", 4, 120000, 11, false);
	const char *dir = w.dir;

	const char *job = rt_wordcount_job(dir, "wc-skewed", "500ms", 0, "");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	// Nothing half-written is left beside the committed batches.
	cr_assert_eq(rt_sh("ls -A %s | grep -v '^batch-[0-9]*$' >/dev/null", w.out), 1,
	    "only batch-T directories in the sink");
	cr_assert_geq(rt_count(e, "msg=\"batch done\""), 1);
}

// Nearly all keys distinct: a map task's combiner passes its 16,384-key
// limit many times and writes its partials out as it goes; the reducers'
// totals are still exact (a word in two partials is summed).
Test(wordcount, keys_past_the_combiners_limit_count_exactly, .timeout = 180)
{
	rt_wc w;
	w.dir = rt_tmpdir("distinct");
	w.corpus = rt_path(w.dir, "corpus.txt");
	w.want = rt_path(w.dir, "want.tsv");
	w.out = rt_path(w.dir, "out");
	// 90,000 distinct words, every seventh one again later on.
	cr_assert_eq(rt_sh("awk 'BEGIN { for (i = 0; i < 30000; i++) print \"u\" 3*i, \"u\" 3*i+1, "
	                   "\"u\" 3*i+2; for (i = 0; i < 90000; i += 7) print \"u\" i }' > %s",
	                 w.corpus),
	    0);
	rt_reference_counts(w.corpus, w.want);
	rt_topic("wc-distinct", 2);
	rt_produce_lines("wc-distinct", w.corpus);
	// One batch, no backpressure: each partition's map task gets ~50,000
	// distinct words.
	const char *job
	    = rt_wordcount_job(w.dir, "wc-distinct", "500ms", 0, "    backpressure: false\n");
	char *o, *e;
	int   rv = rt_sh_capture(w.dir, &o, &e,
	      "RILL_LOG_LEVEL=debug %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	cr_assert_geq(
	    rt_count(e, "msg=\"combiner spilled\""), 1, "no map task spilled:\n%.4000s", e);
	cr_assert_eq(
	    rt_sh("test $(wc -l < %s) -eq 90000", w.want), 0, "the reference has every word");
}

Test(wordcount, rate_limit_cuts_the_backlog_into_batches, .timeout = 180)
{
	rt_wc       w = rt_wc_input("rate", "wc-rate", 2, 8000, 5, false);
	const char *dir = w.dir;

	// 10000 records/s per partition at 100 ms: at most 1000 per partition per batch.
	const char *job = rt_wordcount_job(dir, "wc-rate", "100ms", 10000, "");
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, "RILL_LOG_LEVEL=info %s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);

	// Every batch's input respects the cap; together they are the whole topic.
	long total = 0, batches = 0;
	for (const char *p = e; (p = strstr(p, "msg=\"batch done\"")) != NULL; p++) {
		const char *r = strstr(p, " records=");
		cr_assert_not_null(r);
		long n = strtol(r + 9, NULL, 10);
		cr_assert_leq(n, 2 * 1000, "a batch read %ld records, over the 2 x 1000 cap", n);
		total += n;
		batches += n > 0;
	}
	cr_assert_eq(total, 8000);
	cr_assert_geq(batches, 4, "8000 records at <= 2000 per batch need >= 4 batches");
}

// source.kafka.pattern: the job reads every topic whose whole name matches
// (pat-a-1, pat-a-2) and no other (pat-b-1; xpat-a-1 matches only in part),
// and counts exactly what the two matching topics hold. Each topic has words
// of its own: "aN" only in pat-a-2, "bN" only in pat-b-1 and xpat-a-1, and
// "wN" in both pat-a topics.
Test(wordcount, pattern_reads_exactly_the_matching_topics, .timeout = 180)
{
	const char *dir = rt_tmpdir("pattern");
	const char *a1 = rt_path(dir, "a1.txt"), *a2 = rt_path(dir, "a2.txt");
	const char *b1 = rt_path(dir, "b1.txt"), *both = rt_path(dir, "a1a2.txt");
	rt_make_corpus(a1, 3000, 41);
	rt_make_corpus(a2, 2000, 42);
	rt_make_corpus(b1, 1000, 43);
	// pat-a-2 also has "aN" words; pat-b-1 has only "bN" words.
	cr_assert_eq(rt_sh("awk '{ print $0 \" a\" (NR %% 7) }' %s > %s.tmp && mv %s.tmp %s", a2,
	                 a2, a2, a2),
	    0);
	cr_assert_eq(rt_sh("sed 's/w/b/g' %s > %s.tmp && mv %s.tmp %s", b1, b1, b1, b1), 0);
	cr_assert_eq(rt_sh("cat %s %s > %s", a1, a2, both), 0);
	rt_wc w = { .dir = dir,
		.corpus = both,
		.want = rt_path(dir, "want.tsv"),
		.out = rt_path(dir, "out") };
	rt_reference_counts(both, w.want); // the two matching topics only
	cr_assert_eq(rt_sh("grep -q '^a[0-9]' %s && grep -q '^w[0-9]' %s && ! grep -q '^b' %s",
	                 w.want, w.want, w.want),
	    0, "the reference has pat-a-2's own words and none of pat-b-1's");
	rt_topic("pat-a-1", 2);
	rt_topic("pat-a-2", 3);
	rt_topic("pat-b-1", 2);
	rt_produce_lines("pat-a-1", a1);
	rt_produce_lines("pat-a-2", a2);
	rt_produce_lines("pat-b-1", b1);
	rt_topic("xpat-a-1", 1);
	rt_produce_lines("xpat-a-1", b1);

	const char *job = rt_write(dir, "job.yaml",
	    "name: pattern\n"
	    "batch: 500ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", pattern: \"pat-a-.*\"}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), w.out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	cr_assert_eq(rt_sh("! grep -q '^b' %s/got.tsv", dir), 0, "pat-b-1 or xpat-a-1 was read");
	// The batches read every record of pat-a-1 and pat-a-2, and nothing else.
	long total = 0;
	for (const char *p = e; (p = strstr(p, "msg=\"batch done\"")) != NULL; p++) {
		const char *r = strstr(p, " records=");
		cr_assert_not_null(r);
		total += strtol(r + 9, NULL, 10);
	}
	cr_assert_eq(total, 3000 + 2000, "the batches read %ld records", total);
}

Test(pipeline, csv_filter_key_and_sum_match_awk, .timeout = 180)
{
	const char *dir = rt_tmpdir("csv");
	const char *events = rt_path(dir, "events.csv"), *want = rt_path(dir, "want.tsv");
	const char *got = rt_path(dir, "got.tsv"), *out = rt_path(dir, "out");
	cr_assert_eq(rt_sh("awk 'BEGIN { srand(3); split(\"view buy refund\", a, \" \");"
	                   " for (i = 0; i < 30000; i++)"
	                   " printf \"%%d,user%%d,%%s,%%d\\n\", i, int(rand() * 300), a[1 + "
	                   "int(rand() * 3)], int(rand() * 1000) }'"
	                   " > %s",
	                 events),
	    0);
	cr_assert_eq(
	    rt_sh(
	        "awk -F, '$3 == \"buy\" { s[$2] += $4 } END { for (k in s) print k \"\\t\" s[k] }'"
	        " %s | LC_ALL=C sort > %s",
	        events, want),
	    0);
	rt_topic("events", 3);
	rt_produce_lines("events", events);
	const char *job = rt_write(dir, "job.yaml",
	    "name: spend\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [events]}\n"
	    "pipeline:\n"
	    "  - filter: {contains: \",buy,\"}\n"
	    "  - key_by: {field: 2, sep: \",\"}\n"
	    "  - map_values: {field: 4, sep: \",\"}\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), out);
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, "%s run %s --executors 3 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_sink_totals(out, got);
	rt_assert_same_file(got, want);
}

Test(pipeline, print_sink_shows_spark_style_batches, .timeout = 120)
{
	const char *dir = rt_tmpdir("print");
	const char *lines = rt_path(dir, "lines.txt");
	cr_assert_eq(rt_sh("for i in $(seq 1 50); do echo \"k$i k$i x\"; done > %s", lines), 0);
	rt_topic("printed", 2);
	rt_produce_lines("printed", lines);
	const char *job = rt_write(dir, "job.yaml",
	    "name: printed\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [printed]}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: count\n"
	    "sink:\n"
	    "  print: {num: 3}\n",
	    rt_kafka());
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	cr_assert_eq(rt_count(o, "\nTime: "), 1, "one batch printed:\n%s", o);
	// Header, three pairs, and "..." because 51 keys are more than 3.
	const char *body = strstr(o, " ms\n-------------------------------------------\n");
	cr_assert_not_null(body, "%s", o);
	body += strlen(" ms\n-------------------------------------------\n");
	int pairs = 0;
	for (const char *p = body; *p == '('; p = strchr(p, '\n') + 1) {
		cr_assert(strchr(p, ',') != NULL && strchr(p, ',') < strchr(p, '\n'));
		pairs++;
	}
	cr_assert_eq(pairs, 3, "%s", o);
	cr_assert_not_null(strstr(o, ")\n...\n"), "%s", o);
}

Test(errors, unknown_topic_is_named_and_exits_1, .timeout = 60)
{
	const char *dir = rt_tmpdir("notopic");
	const char *job = rt_write(dir, "job.yaml",
	    "name: lost\nbatch: 1s\n"
	    "source:\n  kafka: {brokers: \"%s\", topics: [no-such-topic]}\n"
	    "pipeline:\n  - map_values: one\n  - reduce_by_key: sum\n"
	    "sink:\n  print: {}\n",
	    rt_kafka());
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 1, "exit status %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "no-such-topic"), "%s", e);
	cr_assert_not_null(strstr(e, "no such topic"), "%s", e);
}

Test(errors, dead_broker_is_a_clear_runtime_error, .timeout = 60)
{
	const char *dir = rt_tmpdir("deadbroker");
	const char *job = rt_write(dir, "job.yaml",
	    "name: dead\nbatch: 1s\n"
	    "source:\n  kafka: {brokers: \"127.0.0.1:1\", topics: [t]}\n"
	    "pipeline:\n  - map_values: one\n  - reduce_by_key: sum\n"
	    "sink:\n  print: {}\n");
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 1, "exit status %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "rill: metadata for topic 't' from 127.0.0.1:1"), "%s", e);
}

// An executor dies as its first reduce task starts (RILL_FAULT), holding map
// outputs of that batch. No reduce task may wait out a 30 s fetch from it:
// the driver recomputes the lost outputs and the counts stay exact.
Test(faults, executor_lost_in_reduce_stage_has_its_map_outputs_recomputed, .timeout = 240)
{
	rt_wc       w = rt_wc_input("reduce-loss", "wc-reduce-loss", 4, 20000, 29, true);
	const char *dir = w.dir;
	const char *job = rt_wordcount_job(dir, "wc-reduce-loss", "100ms", 0, "");
	// Six reduce tasks a batch, spread over the three executors' six cores,
	// so local-1 is sure to run one: the width that follows the batch's size
	// (one task per 5000 lines) may give a batch one or two, none on local-1.
	FILE *f = fopen(job, "a");
	cr_assert_not_null(f);
	fputs("shuffle_partitions: 6\n", f);
	fclose(f);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "RILL_FAULT=reduce-task-local-1:1 RILL_LOG_LEVEL=info %s run %s --executors 3 "
	        "--available-now",
	      rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "point=reduce-task-local-1"), "local-1 did not die:\n%s", e);
	// Noticed by whichever comes first: a fetch cut off, a peer that does
	// not connect, or a retry whose inputs were on the lost executor.
	cr_assert_not_null(strstr(e, "recomputing lost map outputs"), "%s", e);
	cr_assert_null(strstr(e, "timed out"), "a fetch waited for the dead executor:\n%s", e);
	rt_wc_assert_exact(&w);
}

Test(faults, executor_killed_mid_run_still_counts_exactly, .timeout = 240)
{
	rt_wc       w = rt_wc_input("kill", "wc-kill", 4, 40000, 23, true);
	const char *dir = w.dir;
	// Paced by the clock: 2500 rec/s per partition at 100 ms is 40 batches
	// of 10000 records over 4 s, so the kill lands mid-run; --for ends the run.
	const char *job = rt_wordcount_job(dir, "wc-kill", "100ms", 2500, "");
	char       *o, *e;
	// SIGKILL executor local-1 after 1.5 s ([r]: not this shell's own command line).
	int rv = rt_sh_capture(dir, &o, &e,
	    "RILL_LOG_LEVEL=info %s run %s --executors 3 --for 12s & run=$!;"
	    " sleep 1.5; pkill -KILL -f '[r]ill-executor.*--id local-1 ';"
	    " wait $run",
	    rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "executor lost"), "the kill happened during the run:\n%s", e);
	// ...and the run went on past it: batches were done after the loss.
	cr_assert_not_null(strstr(strstr(e, "executor lost"), "msg=\"batch done\""), "%s", e);
	rt_wc_assert_exact(&w);
}

Test(lifecycle, interrupt_finishes_the_batch_in_flight_and_exits_0, .timeout = 120)
{
	const char *dir = rt_tmpdir("stop");
	const char *corpus = rt_path(dir, "corpus.txt"), *out = rt_path(dir, "out");
	// One word per line: every record counts exactly 1 in the output.
	cr_assert_eq(
	    rt_sh("awk 'BEGIN { for (i = 0; i < 20000; i++) print \"k\" (i %% 97) }' > %s", corpus),
	    0);
	rt_topic("wc-stop", 2);
	rt_produce_spread("wc-stop", 2, corpus);
	// 2 x 200 records per 100 ms batch: 50 batches, about 5 s; interrupted after 1.5 s.
	const char *job = rt_wordcount_job(dir, "wc-stop", "100ms", 2000, "");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info setsid %s run %s & run=$!; sleep 1.5; /bin/kill -INT -- -$run; "
	                    "wait $run",
	            rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d after SIGINT:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "result=ok"), "%s", e);
	cr_assert_eq(
	    rt_count(e, "msg=\"executor stopped\""), 2, "both executors stopped cleanly:\n%s", e);

	// What was committed is exactly what the finished batches read.
	long reported = 0;
	for (const char *p = e; (p = strstr(p, "msg=\"batch done\"")) != NULL; p++)
		reported += strtol(strstr(p, " records=") + 9, NULL, 10);
	cr_assert_gt(reported, 0);
	cr_assert_lt(reported, 20000, "the run was stopped early");
	cr_assert_eq(rt_sh("test \"$(cat %s/batch-*/part-* | awk -F'\\t' '{ s += $2 } END { print "
	                   "s }')\" = %ld",
	                 out, reported),
	    0, "the sink holds exactly the %ld records the batches reported", reported);
	cr_assert_eq(rt_sh("ls -A %s | grep -v '^batch-[0-9]*$' >/dev/null", out), 1,
	    "no half-written batch is left");
}

// ---- the cluster secret (docs/operations.md) ----

// secret_file writes text to dir/name with mode 0600 and returns its path.
static const char *
secret_file(const char *dir, const char *name, const char *text)
{
	const char *path = rt_write(dir, name, "%s\n", text);
	cr_assert_eq(rt_sh("chmod 600 %s", path), 0);
	return path;
}

Test(secret, run_with_a_secret_file_counts_exactly, .timeout = 180)
{
	rt_wc       w = rt_wc_input("secret", "wc-secret", 4, 20000, 31, false);
	const char *dir = w.dir;
	const char *secret = secret_file(dir, "secret", "a cluster secret of enough bytes");
	const char *job = rt_wordcount_job(dir, "wc-secret", "200ms", 0, "");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now --secret-file %s",
	            rt_bin("rill"), job, secret);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	cr_assert_eq(rt_count(e, "msg=\"registered with driver\""), 2, "%s", e);
	cr_assert_eq(rt_count(e, "unauthenticated"), 0, "%s", e);
}

// An executor started with another secret asks the running driver to take
// it: the driver refuses it (logging its address) and the job goes on with
// its own executors; the counts stay exact.
Test(secret, executor_with_another_secret_cannot_register, .timeout = 180)
{
	rt_wc       w = rt_wc_input("secret-other", "wc-secret-other", 2, 8000, 37, true);
	const char *dir = w.dir;
	const char *secret = secret_file(dir, "secret", "the secret of this cluster");
	const char *other = secret_file(dir, "other", "the secret of another cluster");
	// 2 x 1000 records/s at 100 ms: 4 s of batches; --for stops after 10 s.
	const char *job = rt_wordcount_job(dir, "wc-secret-other", "100ms", 1000, "");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --for 10s --secret-file %s "
	                    "2>%s/run.err & run=$!;"
	                    " for i in $(seq 50); do grep -q 'driver=tcp://' %s/run.err && break; sleep 0.1; "
	                    "done;"
	                    " url=$(grep -o 'driver=tcp://[0-9.:]*' %s/run.err | head -1 | cut -d= -f2);"
	                    " RILL_LOG_LEVEL=info timeout 3 %s --driver $url --listen tcp://127.0.0.1:0"
	                    " --id intruder --secret-file %s 2>%s/intruder.err;"
	                    " wait $run; s=$?; cat %s/run.err >&2; exit $s",
	            rt_bin("rill"), job, secret, dir, dir, dir, rt_bin("rill-executor"), other, dir, dir);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	cr_assert_not_null(
	    strstr(e, "msg=\"refused an unauthenticated request\""), "no refusal logged:\n%s", e);
	cr_assert_not_null(
	    strstr(strstr(e, "msg=\"refused an unauthenticated request\""), "peer=127.0.0.1:"),
	    "the refusal names the peer:\n%s", e);
	cr_assert_null(strstr(e, "id=intruder"), "the intruder registered:\n%s", e);
	char *intruder = rt_read(rt_path(dir, "intruder.err"), NULL);
	cr_assert_not_null(
	    strstr(intruder, "msg=\"driver refused this executor\""), "%s", intruder);
	cr_assert_not_null(strstr(intruder, "authentication failed"), "%s", intruder);
	free(intruder);
}

Test(secret, bad_secret_file_is_refused_before_anything_runs, .timeout = 60)
{
	const char *dir = rt_tmpdir("secret-bad");
	const char *job = rt_wordcount_job(dir, "wc-secret-bad", "1s", 0, "");
	const char *readable = rt_write(dir, "readable", "a secret that others may read\n");
	const char *shorty = secret_file(dir, "short", "too short");
	char       *o, *e;
	cr_assert_eq(rt_sh("chmod 644 %s", readable), 0);
	int rv = rt_sh_capture(
	    dir, &o, &e, "%s run %s --secret-file %s", rt_bin("rill"), job, readable);
	cr_assert_eq(rv, 2, "exit %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "rill run: secret file"), "%s", e);
	cr_assert_not_null(strstr(e, "others may read"), "%s", e);
	rv = rt_sh_capture(dir, &o, &e, "%s run %s --secret-file %s", rt_bin("rill"), job, shorty);
	cr_assert_eq(rv, 2, "exit %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "16 to 4096 bytes"), "%s", e);
	rv = rt_sh_capture(dir, &o, &e, "%s --listen tcp://127.0.0.1:0 --secret-file %s",
	    rt_bin("rill-executor"), shorty);
	cr_assert_eq(rv, 2, "exit %d:\n%s", rv, e);
	cr_assert_not_null(strstr(e, "rill-executor: secret file"), "%s", e);
}
