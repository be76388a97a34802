// SPDX-License-Identifier: Apache-2.0
// The binaries as a user meets them without a broker: usage, exit codes,
// job-file errors, the embedded demo and the mock cluster.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/fixtures/fixture.h"

Test(cli, help_and_version_exit_0)
{
	const char *dir = rt_tmpdir("help");
	char       *o, *e;
	const char *bins[] = { "rill", "rill-executor", "rill-driver" };
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(
		    rt_sh_capture(dir, &o, &e, "%s --help", rt_bin(bins[i])), 0, "%s", bins[i]);
		cr_assert_not_null(strstr(o, "usage:"), "%s --help:\n%s", bins[i], o);
	}
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run --help", rt_bin("rill")), 0);
	cr_assert_not_null(strstr(o, "--available-now"));
}

Test(cli, bad_usage_exits_2)
{
	const char *dir = rt_tmpdir("usage");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s frobnicate", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "unknown command 'frobnicate'"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "a job file is required"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run x.yaml --executors 0", rt_bin("rill")), 2);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s --listen tcp://127.0.0.1:0 --cores many",
	                 rt_bin("rill-executor")),
	    2);
	cr_assert_not_null(strstr(e, "--cores"), "%s", e);
}

Test(cli, help_lists_every_command_and_cluster_commands_need_zk)
{
	const char *dir = rt_tmpdir("commands");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s --help", rt_bin("rill")), 0);
	const char *names[]
	    = { "demo", "run", "kafka-mock", "submit", "list", "status", "kill", "supervise" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n  %s ", names[i]);
		cr_assert_not_null(strstr(o, line), "'%s' missing in:\n%s", names[i], o);
	}
	cr_assert_null(strstr(o, "not in this version"), "%s", o);
	// Each command's --help is its own usage.
	const char *own[][2]
	    = { { "demo", "--seconds N" }, { "kafka-mock", "--topic NAME:PARTITIONS" },
		      { "run", "--checkpoint-dir DIR" }, { "submit", "--artifact LIB.so" },
		      { "list", "--json" }, { "status", "--json" }, { "kill", "--graceful" } };
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s %s --help", rt_bin("rill"), own[i][0]),
		    0, "%s", e);
		cr_assert_not_null(strstr(o, own[i][1]), "rill %s --help:\n%s", own[i][0], o);
	}
	// The cluster commands need --zk (and submit a job file, status and kill
	// a job name): bad usage without.
	for (size_t i = 3; i < 7; i++) { // submit, list, status, kill
		cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s %s", rt_bin("rill"), names[i]), 2);
		char want[128];
		snprintf(want, sizeof(want), "rill %s: --zk is required", names[i]);
		cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	}
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s submit --zk 127.0.0.1:1", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill submit: a job file is required"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s status --zk 127.0.0.1:1", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill status: a job name is required"), "%s", e);
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, "%s kill --zk 127.0.0.1:1 ../etc", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill kill: '../etc' is not a job name"), "%s", e);
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, "%s list --zk 127.0.0.1:1 extra", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill list: unexpected argument 'extra'"), "%s", e);
}

Test(cli, options_not_in_this_version_and_stray_arguments_exit_2)
{
	const char *dir = rt_tmpdir("refused");
	char       *o, *e;
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, "%s run x.yaml --http 0.0.0.0:80", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill run: --http is not available in this version"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run a.yaml b.yaml", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill run: unexpected argument 'b.yaml'"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run x.yaml --for", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill run: option '--for' needs an argument"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s demo --seconds 1 extra", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "rill demo: unexpected argument 'extra'"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s kafka-mock --topic alpha", rt_bin("rill")), 2);
	cr_assert_not_null(strstr(e, "--topic 'alpha' is not NAME:PARTITIONS"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s --job j.yaml --listen tcp://127.0.0.1:0 --zk z",
	                 rt_bin("rill-driver")),
	    2);
	cr_assert_not_null(strstr(e, "rill-driver: --job and --zk exclude each other"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s --job j.yaml", rt_bin("rill-driver")), 2);
	cr_assert_not_null(strstr(e, "--job and --listen are required"), "%s", e);
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e,
	        "%s --listen tcp://127.0.0.1:0 --zk 127.0.0.1:1 --driver tcp://127.0.0.1:2",
	        rt_bin("rill-executor")),
	    2);
	cr_assert_not_null(
	    strstr(e, "rill-executor: --driver and --zk exclude each other"), "%s", e);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s", rt_bin("rill-executor")), 2);
	cr_assert_not_null(strstr(e, "--listen is required"), "%s", e);
}

Test(cli, malformed_job_names_file_line_and_column)
{
	const char *dir = rt_tmpdir("badjob");
	const char *job = rt_write(dir, "job.yaml",
	    "name: wc\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"127.0.0.1:9092\", topics: [t]}\n"
	    "pipeline:\n"
	    "  - flatmap: words\n"
	    "sink:\n"
	    "  print: {}\n");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s", rt_bin("rill"), job), 2, "%s", e);
	char want[4200];
	snprintf(want, sizeof(want), "%s:6:5: ", job);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_not_null(strstr(e, "flatmap"), "%s", e);
	// A missing file is bad usage too, and says which file.
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s/nope.yaml", rt_bin("rill"), dir), 2);
	cr_assert_not_null(strstr(e, "nope.yaml"), "%s", e);
}

Test(cli, unsupported_step_is_refused_before_running)
{
	const char *dir = rt_tmpdir("notsup");
	const char *job = rt_write(dir, "job.yaml",
	    "name: win\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"127.0.0.1:1\", topics: [t]}\n"
	    "pipeline:\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "  - union: {kafka: {brokers: \"127.0.0.1:1\", topics: [u]}}\n"
	    "sink:\n"
	    "  print: {}\n");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s", rt_bin("rill"), job), 2, "%s", e);
	char want[4200];
	snprintf(want, sizeof(want), "%s:8:5: union after a shuffle", job);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_not_null(strstr(e, "not supported"), "%s", e);
}

Test(cli, demo_prints_word_counts_per_batch, .timeout = 60)
{
	const char *dir = rt_tmpdir("demo");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e, "%s demo --seconds 3", rt_bin("rill"));
	cr_assert_eq(rv, 0, "rill demo exited %d:\n%s", rv, e);
	cr_assert_geq(rt_count(o, "\nTime: "), 2, "%s", o);
	// Each batch shows 10 pairs "(word,count)" and "..." (the demo has 20 words).
	cr_assert_geq(rt_count(o, ")\n...\n"), 2, "%s", o);
	cr_assert_eq(rt_sh("grep '^(' %s/stdout | grep -vqE '^\\([a-z]+,[1-9][0-9]*\\)$'", dir), 1,
	    "every pair is (word,count):\n%s", o);
	cr_assert_eq(rt_count(o, "\n("), 10 * rt_count(o, "\nTime: "), "%s", o);
}

Test(cli, kafka_mock_serves_its_topics, .timeout = 60)
{
	const char *dir = rt_tmpdir("mock");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "%s kafka-mock --topic alpha:3 > %s/boot & pid=$!;"
	                    " for i in $(seq 50); do [ -s %s/boot ] && break; sleep 0.1; done;"
	                    " kcat -L -b $(head -1 %s/boot) -t alpha -m 5; status=$?; kill $pid; wait $pid; exit "
	                    "$status",
	            rt_bin("rill"), dir, dir, dir);
	cr_assert_eq(rv, 0, "%s\n%s", o, e);
	cr_assert_not_null(strstr(o, "topic \"alpha\" with 3 partitions"), "%s", o);
}

Test(cli, stateful_job_without_checkpoint_is_bad_usage)
{
	const char *dir = rt_tmpdir("state-usage");
	const char *job = rt_write(dir, "job.yaml",
	    "name: totals\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"127.0.0.1:1\", topics: [t]}\n"
	    "pipeline:\n"
	    "  - map_values: one\n"
	    "  - update_state_by_key: sum\n"
	    "sink:\n"
	    "  print: {}\n");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s run %s", rt_bin("rill"), job), 2, "%s", e);
	char want[4300];
	snprintf(want, sizeof(want),
	    "%s:7:5: update_state_by_key keeps state across batches: run the job with "
	    "--checkpoint-dir",
	    job);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
}

// Nothing listens on port 1: the executor gives up after its connect timeout
// (10 s) and says which ZooKeeper it could not reach.
Test(cli, executor_with_unreachable_zookeeper_fails_naming_it, .timeout = 60)
{
	const char *dir = rt_tmpdir("zk-unreachable");
	char       *o, *e;
	time_t      start = time(NULL);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s --listen tcp://127.0.0.1:0 --zk 127.0.0.1:1",
	                 rt_bin("rill-executor")),
	    1, "%s", e);
	cr_expect_lt(
	    time(NULL) - start, 30, "gave up only after %lld s", (long long)(time(NULL) - start));
	cr_expect_not_null(strstr(e, "cannot start"), "%s", e);
	cr_expect_not_null(strstr(e, "127.0.0.1:1"), "%s", e);
	cr_expect_null(strstr(e, "executor listening"), "%s", e);
}
