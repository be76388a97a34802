// SPDX-License-Identifier: Apache-2.0
// The torture test: two word-count jobs over the same input — one writing the
// files sink, one the exactly-once Kafka sink — killed with SIGKILL again and
// again (the whole process group, the driver alone, one executor, and the
// driver itself at the moment its sink commits), restarted each time with the
// same checkpoint. At the end the files' totals and what a read_committed
// consumer sees of the Kafka output must both equal the reference exactly.
//
// Size: RILL_TORTURE_RECORDS input lines (default 40000; the full run
// is 1000000) and RILL_TORTURE_KILLS kill rounds (default 24); RILL_TORTURE_SEED
// makes a run repeatable (the seed is printed).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/fixtures/fixture.h"

static long
env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : def;
}

static const char *
job_file(const char *dir, const char *name, const char *sink, long rate)
{
	char file[64];
	snprintf(file, sizeof(file), "%s.yaml", name);
	return rt_write(dir, file,
	    "name: %s\n"
	    "batch: 100ms\n"
	    "source:\n"
	    "  kafka:\n"
	    "    brokers: %s\n"
	    "    topics: [torture-in]\n"
	    "    max_rate_per_partition: %ld\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  %s\n",
	    name, rt_kafka(), rate, sink);
}

enum { KILL_GROUP, KILL_DRIVER, KILL_EXECUTOR, KILL_AT_COMMIT, KILL_MODES };

Test(torture, sigkills_at_random_moments_lose_and_duplicate_nothing, .timeout = 1800)
{
	long     records = env_long("RILL_TORTURE_RECORDS", 40000);
	long     rounds = env_long("RILL_TORTURE_KILLS", 24);
	unsigned seed = (unsigned)env_long("RILL_TORTURE_SEED", (long)time(NULL));
	fprintf(stderr, "torture: %ld records, %ld kill rounds, seed %u\n", records, rounds, seed);

	rt_wc w = rt_wc_input("torture", "torture-in", 4, (int)records, (int)(seed % 100000), true);
	const char *dir = w.dir, *want = w.want, *kafka_got = rt_path(dir, "kafka.tsv");
	rt_topic("torture-out", 4);

	// Paced so the input lasts about 25 s of running: the kills land mid-stream.
	long rate = records / 4 / 25 + 1;
	char files_sink[4200], kafka_sink[512];
	snprintf(files_sink, sizeof(files_sink), "files: {path: %s/out}", dir);
	snprintf(kafka_sink, sizeof(kafka_sink),
	    "kafka: {brokers: \"%s\", topic: torture-out, exactly_once: true}", rt_kafka());
	const char *fjob = job_file(dir, "torture-files", files_sink, rate);
	const char *kjob = job_file(dir, "torture-kafka", kafka_sink, rate);
	const char *rill = rt_bin("rill");

	int    kills[KILL_MODES] = { 0 };
	long   total_kills = 0;
	time_t started = time(NULL);
	for (long round = 0; round < rounds; round++) {
		int         mode = (int)(round % KILL_MODES); // every kind, in turn
		double      wait = 0.4 + (double)(rand_r(&seed) % 1600) / 1000.0;
		double      wait2 = 0.2 + (double)(rand_r(&seed) % 800) / 1000.0;
		const char *fault = mode == KILL_AT_COMMIT
		    ? "RILL_FAULT=sink-committed:0.2,sink-prepared:0.2"
		    : "";
		char        action[512];
		switch (mode) {
		case KILL_GROUP:
			snprintf(action, sizeof(action), "/bin/kill -KILL -- -$f -$k");
			break;
		case KILL_DRIVER: // the executors die with it (PDEATHSIG)
			snprintf(action, sizeof(action), "/bin/kill -KILL $f $k");
			break;
		case KILL_EXECUTOR: // the runs go on without it, then end
			snprintf(action, sizeof(action),
			    "pkill -KILL -P $f -f 'local-1 '; pkill -KILL -P $k -f 'local-0 ';"
			    " sleep %.3f; /bin/kill -KILL -- -$f -$k",
			    wait2);
			break;
		default: // the drivers kill themselves at a sink commit: wait for it (8 s at most)
			snprintf(action, sizeof(action),
			    "for i in $(seq 80); do kill -0 $f 2>/dev/null || kill -0 $k "
			    "2>/dev/null || break;"
			    " sleep 0.1; done; /bin/kill -KILL -- -$f -$k 2>/dev/null");
			break;
		}
		int rv = rt_sh(
		    "cd %s && export RILL_LOG_LEVEL=info && { %s setsid %s run %s --checkpoint-dir "
		    "%s/ckp-files >> files.log 2>&1 & f=$!;"
		    " %s setsid %s run %s --checkpoint-dir %s/ckp-kafka >> kafka.log 2>&1 & k=$!;"
		    " sleep %.3f; %s; wait; } 2>/dev/null",
		    dir, fault, rill, fjob, dir, fault, rill, kjob, dir, wait, action);
		cr_assert_neq(rv, -1);
		kills[mode]++;
		total_kills += 2 + (mode == KILL_EXECUTOR ? 2 : 0);
	}
	long killed_secs = (long)(time(NULL) - started);

	// Run both to the end of the input, undisturbed.
	time_t final_start = time(NULL);
	char  *o, *e;
	int    rv = rt_sh_capture(dir, &o, &e,
	       "export RILL_LOG_LEVEL=info; cd %s && %s run %s --checkpoint-dir ckp-files "
	          "--available-now >> files.log 2>&1 & f=$!;"
	          " cd %s && %s run %s --checkpoint-dir ckp-kafka --available-now >> kafka.log 2>&1 & "
	          "k=$!;"
	          " wait $f; a=$?; wait $k; b=$?; echo $a $b",
	       dir, rill, fjob, dir, rill, kjob);
	cr_assert_eq(rv, 0);
	cr_assert_str_eq(
	    o, "0 0\n", "final runs' exit statuses (files kafka): %s(see %s/*.log)", o, dir);
	fprintf(stderr,
	    "torture: %ld kills (%d rounds each: group, driver, executor, at commit), %ld s with "
	    "kills,"
	    " %ld s to finish\n",
	    total_kills, kills[0], killed_secs, (long)(time(NULL) - final_start));

	// Sanitized builds: no process of any run reported a memory error, a
	// leak or a data race.
	cr_assert_eq(rt_sh("grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: "
	                   "ThreadSanitizer|runtime error:' %s/files.log "
	                   "%s/kafka.log",
	                 dir, dir),
	    1, "a sanitizer report in %s/*.log", dir);
	rt_wc_assert_exact(&w);
	// What a read_committed consumer sees of the Kafka sink.
	cr_assert_eq(
	    rt_sh(
	        "kcat -C -b %s -t torture-out -o beginning -e -q -X isolation.level=read_committed"
	        " -f '%%k\\t%%s\\n' | awk -F'\\t' '{ c[$1] += $2 } END { for (k in c) print k "
	        "\"\\t\" c[k] }'"
	        " | LC_ALL=C sort > %s",
	        rt_kafka(), kafka_got),
	    0);
	rt_assert_same_file(kafka_got, want);
	if (rounds == 0)
		return; // a baseline run, for timing
	// The kills really cut runs short, and recovery really re-ran batches.
	cr_assert_eq(
	    rt_sh("grep -q 'msg=\"re-running a batch that did not finish\"' %s/files.log", dir), 0,
	    "no files batch was ever re-run: the kills missed");
	cr_assert_eq(
	    rt_sh("grep -q 'msg=\"re-running a batch that did not finish\"' %s/kafka.log", dir), 0,
	    "no Kafka batch was ever re-run: the kills missed");
	cr_assert_eq(rt_sh("grep -q 'killing this process (RILL_FAULT)' %s/kafka.log", dir), 0,
	    "no kill landed at a sink commit");
}
