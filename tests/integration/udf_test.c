// SPDX-License-Identifier: Apache-2.0
// User functions end to end: `rill run --artifact` with examples/udf's
// library over a real Kafka broker, results checked against awk over the
// same input; artifacts and bindings the driver must refuse.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// The artifacts tests/meson.build builds.
static const char *
artifact(const char *rel)
{
	const char *root = getenv("RILL_BUILD_ROOT");
	cr_assert_not_null(root, "RILL_BUILD_ROOT is not set (run through meson test)");
	return rt_path(root, rel);
}

#define EXAMPLE "examples/udf/libwordcount_udf.so"
#define BAD_ABI "tests/libbad_abi_udf.so"

// awk's idea of examples/udf's tokens + not_short: lowercased runs of
// ASCII letters and digits of 3 bytes or more, counted.
static const char awk_tokens[]
    = "{ l = tolower($0); gsub(/[^a-z0-9]+/, \" \", l); n = split(l, w, \" \");"
      " for (i = 1; i <= n; i++) if (length(w[i]) >= 3) c[w[i]]++ }"
      " END { for (k in c) print k \"\\t\" c[k] }";

// make_text writes lines of mixed-case words, punctuation and short words.
static void
make_text(const char *path, int lines, int seed, const char *prefix)
{
	cr_assert_eq(rt_sh("awk 'BEGIN { srand(%d); split(\"The the, CAT! cat dog-house a an "
	                   "of Stream stream. x9 rill42 OK\", v, \" \");"
	                   " for (i = 0; i < %d; i++) { s = \"\"; n = 1 + int(rand() * 9);"
	                   " for (j = 0; j < n; j++) s = s v[1 + int(rand() * 13)] \" \" \"%s\" "
	                   "int(rand() * rand() * 40) \"; \";"
	                   " print s } }' > %s",
	                 seed, lines, prefix, path),
	    0);
}

static const char *
udf_job(
    const char *dir, const char *name, const char *topic, const char *last_step, const char *out)
{
	return rt_write(dir, "job.yaml",
	    "name: %s\n"
	    "batch: 500ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], backpressure: false}\n"
	    "pipeline:\n"
	    "  - flat_map: {udf: tokens}\n"
	    "  - filter: {udf: not_short}\n"
	    "  - map_values: {udf: one}\n"
	    "  - %s\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    name, rt_kafka(), topic, last_step, out);
}

Test(udf, word_count_with_user_functions_matches_awk, .timeout = 180)
{
	const char *dir = rt_tmpdir("udf-wc");
	const char *text = rt_path(dir, "text.txt"), *want = rt_path(dir, "want.tsv");
	const char *got = rt_path(dir, "got.tsv"), *out = rt_path(dir, "out");
	make_text(text, 40000, 5, "w");
	cr_assert_eq(rt_sh("awk '%s' %s | LC_ALL=C sort > %s", awk_tokens, text, want), 0);
	cr_assert_eq(rt_sh("grep -q '^cat\t' %s && grep -q '^rill42\t' %s"
	                   " && ! grep -q '^of\t' %s && ! grep -q '^x9\t' %s",
	                 want, want, want, want),
	    0, "the reference has lowercased words and no short ones");
	rt_topic("udf-words", 4);
	rt_produce_spread("udf-words", 4, text);
	const char *job = udf_job(dir, "udf-wc", "udf-words", "reduce_by_key: {udf: add}", out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now --artifact %s",
	            rt_bin("rill"), job, artifact(EXAMPLE));
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_sink_totals(out, got);
	rt_assert_same_file(got, want);
	// Each executor fetched the artifact once and loaded it once.
	cr_assert_geq(rt_count(e, "msg=\"artifact loaded\""), 1, "%s", e);
	cr_assert_leq(rt_count(e, "msg=\"artifact loaded\""), 2, "%s", e);
}

// update_state_by_key with the example's `streak` (update kind): a key's
// total over consecutive batches it appears in; a batch without it forgets
// it. Three runs on one checkpoint directory, one batch each (everything
// produced before a run is read by its first batch: no rate limit), with
// words the runs share in part: run 3's output must hold exactly the words
// of run 3, with run 2's state added where run 2 had them, and never run
// 1's when run 2 did not.
Test(udf, update_function_keeps_and_forgets_state_across_batches, .timeout = 240)
{
	const char *dir = rt_tmpdir("udf-streak");
	const char *ckpt = rt_path(dir, "ckpt"), *out = rt_path(dir, "out");
	const char *text[3]
	    = { rt_path(dir, "a.txt"), rt_path(dir, "b.txt"), rt_path(dir, "c.txt") };
	// a: words xw*, yw*; b: yw*, zw*; c: xw*, zw*. So xw-words skip run 2.
	cr_assert_eq(rt_sh("for p in xw yw; do awk -v p=$p 'BEGIN { srand(1); for (i = 0; i < 500; "
	                   "i++) print p int(rand() * 30), p int(rand() * 30) }'; done > %s",
	                 text[0]),
	    0);
	cr_assert_eq(rt_sh("for p in yw zw; do awk -v p=$p 'BEGIN { srand(2); for (i = 0; i < 700; "
	                   "i++) print p int(rand() * 30) }'; done > %s",
	                 text[1]),
	    0);
	cr_assert_eq(rt_sh("for p in xw zw; do awk -v p=$p 'BEGIN { srand(3); for (i = 0; i < 300; "
	                   "i++) print p int(rand() * 30) }'; done > %s",
	                 text[2]),
	    0);
	rt_topic("udf-streak", 2);
	const char *job
	    = udf_job(dir, "udf-streak", "udf-streak", "update_state_by_key: {udf: streak}", out);
	for (int run = 0; run < 3; run++) {
		rt_produce_spread("udf-streak", 2, text[run]);
		char *o, *e;
		int   rv = rt_sh_capture(dir, &o, &e,
		      "%s run %s --available-now --checkpoint-dir %s --artifact %s", rt_bin("rill"),
		      job, ckpt, artifact(EXAMPLE));
		cr_assert_eq(rv, 0, "run %d: rill run exited %d:\n%s", run + 1, rv, e);
		cr_assert_eq(rt_sh("test $(ls %s | grep -c '^batch-') -eq %d", out, run + 1), 0,
		    "run %d made one batch", run + 1);
	}
	// The reference, by awk: S1 = a; S2 = b + S1 on b's words; S3 = c + S2 on c's words.
	const char *want = rt_path(dir, "want.tsv"), *got = rt_path(dir, "got.tsv");
	cr_assert_eq(
	    rt_sh("awk 'FNR == 1 { f++ } { for (i = 1; i <= NF; i++) { c[f, $i]++; w[$i] = 1 "
	          "} } END { for (k in w) { s1 = c[1, k]; s2 = ((2, k) in c) ? c[2, k] + s1 "
	          ": 0; if ((3, k) in c) print k \"\\t\" c[3, k] + s2 } }'"
	          " %s %s %s | LC_ALL=C sort > %s",
	        text[0], text[1], text[2], want),
	    0);
	cr_assert_eq(
	    rt_sh("grep -q '^x' %s && grep -q '^z' %s && ! grep -q '^y' %s", want, want, want), 0);
	cr_assert_eq(
	    rt_sh("cat $(ls -d %s/batch-* | sort | tail -1)/part-* | LC_ALL=C sort > %s", out, got),
	    0);
	rt_assert_same_file(got, want);
}

// What the driver refuses before anything starts: exit 2 and the reason,
// at the job file's line and column where a step is to blame.
Test(udf, bad_artifacts_and_bindings_exit_2, .timeout = 60)
{
	const char *dir = rt_tmpdir("udf-bad");
	char       *o, *e, want[4200];
	struct {
		const char *step, *lib, *where, *phrase;
	} cases[] = {
		{ "map: {udf: nope}", EXAMPLE, ":9:5: map: {udf: nope}", "has no function nope" },
		{ "filter: {udf: shout}", EXAMPLE, ":9:5: filter: {udf: shout} is a map function",
		    "filter needs a filter function" },
		{ "reduce_by_key: {udf: tokens}", EXAMPLE, ":9:5: reduce_by_key: {udf: tokens}",
		    "needs a reduce function" },
		{ "map: {udf: shout}", NULL, ":6:5: flat_map: {udf: tokens} needs the library",
		    "--artifact" },
		{ "filter: {udf: keep}", BAD_ABI, "", "built for rill ABI version 999" },
		{ "map: {udf: shout}", "no/such/lib.so", "", "No such file" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *job = rt_write(dir, "job.yaml",
		    "name: bad\nbatch: 1s\n"
		    "source:\n  kafka: {brokers: \"127.0.0.1:1\", topics: [t]}\n"
		    "pipeline:\n"
		    "  - flat_map: {udf: tokens}\n"
		    "  - map_values: one\n"
		    "  - map_values: one\n"
		    "  - %s\n"
		    "sink:\n  print: {}\n",
		    cases[i].step);
		char        args[4200] = "";
		if (cases[i].lib != NULL)
			snprintf(args, sizeof(args), "--artifact %s",
			    cases[i].lib[0] == 'n' ? cases[i].lib : artifact(cases[i].lib));
		int rv = rt_sh_capture(dir, &o, &e, "%s run %s %s", rt_bin("rill"), job, args);
		cr_assert_eq(rv, 2, "case %zu (%s): exit %d:\n%s", i, cases[i].step, rv, e);
		snprintf(want, sizeof(want), "%s%s", job, cases[i].where);
		if (cases[i].where[0] != '\0')
			cr_assert_not_null(
			    strstr(e, want), "case %zu: wanted '%s' in:\n%s", i, want, e);
		cr_assert_not_null(strstr(e, cases[i].phrase), "case %zu: wanted '%s' in:\n%s", i,
		    cases[i].phrase, e);
	}
}
