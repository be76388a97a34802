// SPDX-License-Identifier: Apache-2.0
// Event-time windows on a real broker: reduce_by_key_and_window over a JSON
// field's time, count_by_window and window over the Kafka records' own
// timestamps, each batch's output checked against a model in Python
// (tests/integration/event_windows.py: windows, watermarks and late data
// from docs/windows.md's rules, without panes) across restarts, a replayed
// batch and a lost executor; and the job-file errors.
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// event_job writes NAME.yaml: a 100 ms batch over one partition read at
// 1000 records/s (100 a batch), the given steps, a files sink in dir/out-NAME.
static const char *
event_job(const char *dir, const char *name, const char *topic, const char *steps)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.yaml", name);
	return rt_write(dir, file,
	    "name: %s\n"
	    "batch: 100ms\n"
	    "shuffle_partitions: 3\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: 1000, "
	    "backpressure: false}\n"
	    "pipeline:\n"
	    "%s"
	    "sink:\n"
	    "  files: {path: %s/out-%s}\n",
	    name, rt_kafka(), topic, steps, dir, name);
}

// make_events writes n events, a line each, whose times mostly grow (20 ms
// apart on average from an hour ago: older record timestamps would fall to
// the broker's 7-day retention at once) and now and then lag by up to 9 s,
// so that some are late for a 2 s allowed lateness: as JSON
// {"ts": T, "w": WORD} (json) or as "T<TAB>WORD".
static void
make_events(const char *path, int n, int seed, bool json)
{
	cr_assert_eq(rt_sh("python3 - %s %d %d %d <<'EOF'\n"
	                   "import json, random, sys, time\n"
	                   "path, n, seed, as_json = sys.argv[1], int(sys.argv[2]), "
	                   "int(sys.argv[3]), sys.argv[4] == '1'\n"
	                   "random.seed(seed)\n"
	                   "t, out = int(time.time() * 1000) - 3600000, []\n"
	                   "for i in range(n):\n"
	                   "    t += random.randint(0, 40)\n"
	                   "    ts = t - random.choice([0, 0, 0, 0, 500, 1500, 4000, 9000])\n"
	                   "    w = random.choice(['ant', 'bee', 'cat', 'dog', 'eel', 'fox'])\n"
	                   "    out.append(json.dumps({'ts': ts, 'w': w}) if as_json "
	                   "else '%%d\\t%%s' %% (ts, w))\n"
	                   "open(path, 'w').write('\\n'.join(out) + '\\n')\n"
	                   "EOF",
	                 path, n, seed, json ? 1 : 0),
	    0);
}

// produce_timed produces the "T<TAB>VALUE" lines of path to partition 0 of
// topic, each record with timestamp T (CreateTime) and no key.
static void
produce_timed(const char *topic, const char *path)
{
	char             err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", rt_kafka(), err, sizeof(err)),
	    RD_KAFKA_CONF_OK, "%s", err);
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char line[512];
	while (fgets(line, sizeof(line), f) != NULL) {
		char     *tab = strchr(line, '\t');
		long long ts = strtoll(line, NULL, 10);
		cr_assert_not_null(tab, "%s", line);
		char               *value = tab + 1;
		size_t              len = strcspn(value, "\n");
		rd_kafka_resp_err_t rv;
		while ((rv = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
		            RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		            RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END))
		    == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 100);
		cr_assert_eq(rv, RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_err2str(rv));
	}
	fclose(f);
	cr_assert_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
}

// check_model runs the Python model over the input and every run's log and
// asserts that each batch's output and late count (and, with late_out, the
// late records the window's late: sink wrote) are the model's.
static void
check_model(const char *dir, const char *name, const char *events, const char *log, long length_ms,
    long slide_ms, long lateness_ms, const char *mode, const char *late_out)
{
	const char *logfile = rt_write(dir, "run.log", "%s", log);
	char        out[128];
	snprintf(out, sizeof(out), "out-%s", name);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "python3 %s/tests/integration/event_windows.py %s %s %s %s %ld %ld %ld %s %s",
	      getenv("RILL_SOURCE_ROOT"), events, logfile, name, rt_path(dir, out), length_ms,
	      slide_ms, lateness_ms, mode, late_out != NULL ? late_out : "");
	cr_assert_eq(rv, 0, "the output is not the model's:\n%s%s", o, e);
}

// Restarts from the checkpoint, a driver that dies after a batch's state
// committed (the next run runs the batch again and must emit the same
// windows, once), and an executor killed mid-run (the other restores its
// partitions from the changelog): every batch equals the model's, late
// records were dropped and counted, and the runs read every event.
Test(event_windows, json_time_restarts_replays_and_late_data_match_the_model, .timeout = 300)
{
	const char *tag = "ev-json";
	const char *dir = rt_tmpdir(tag);
	const char *events = rt_path(dir, "events.txt"), *ckp = rt_path(dir, "checkpoint");
	make_events(events, 6000, 11, true);
	rt_topic(tag, 1);
	rt_produce_lines(tag, events);
	char steps[1024];
	snprintf(steps, sizeof(steps),
	    "  - key_by: {json: w}\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key_and_window: {fn: sum, length: 10s, slide: 5s, "
	    "time: {json: ts}, allowed_lateness: 2s, late: {files: {path: %s/late}}}\n",
	    dir);
	const char *job = event_job(dir, tag, tag, steps);
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
	check_model(dir, tag, events, log, 10000, 5000, 2000, "count", rt_path(dir, "late"));
	cr_assert_geq(rt_count(log, "msg=\"late records dropped\""), 3, "%s", log);
	cr_assert_eq(rt_count(log, "msg=\"re-running a batch that did not finish\""), 1, "%s", log);
	cr_assert_geq(rt_count(log, "msg=\"state already has the batch\""), 1,
	    "the re-run found the batch's state committed:\n%s", log);
	cr_assert_not_null(strstr(log, "msg=\"executor lost\" id=local-1"), "%s", log);
	cr_assert_geq(rt_count(log, "msg=\"state loaded\""), 3, "%s", log);
	free(log);
}

// The Kafka records' own timestamps: count_by_window (one count a window,
// its key the window's start) and window (every record of the window, again
// for each window that holds it), with a sliding window whose length is not
// a multiple of its slide (panes of gcd(2500, 1000) = 500 ms).
Test(event_windows, kafka_timestamps_count_and_window_records_match_the_model, .timeout = 300)
{
	const char *tag = "ev-kafka";
	const char *dir = rt_tmpdir(tag);
	const char *events = rt_path(dir, "events.txt");
	make_events(events, 3000, 5, false);
	rt_topic(tag, 1);
	produce_timed(tag, events);
	struct {
		const char *name, *steps, *mode;
	} jobs[] = {
		{ "ev-count",
		    "  - count_by_window: {length: 2500ms, slide: 1s, time: event, "
		    "allowed_lateness: 1s}\n",
		    "total" },
		{ "ev-records",
		    "  - window: {length: 2500ms, slide: 1s, time: event, allowed_lateness: 1s}\n",
		    "records" },
	};
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		const char *job = event_job(dir, jobs[i].name, tag, jobs[i].steps);
		char        ckp[64];
		snprintf(ckp, sizeof(ckp), "ckp-%s", jobs[i].name);
		char *log = NULL;
		cr_assert_eq(
		    rt_run_logged(dir, "", job, rt_path(dir, ckp), "--for 1500ms", "", &log), 0,
		    "%s", log);
		int rv
		    = rt_run_logged(dir, "", job, rt_path(dir, ckp), "--available-now", "", &log);
		cr_assert_eq(rv, 0, "%s exited %d:\n%s", jobs[i].name, rv, log);
		check_model(dir, jobs[i].name, events, log, 2500, 1000, 1000, jobs[i].mode, NULL);
		cr_assert_geq(rt_count(log, "msg=\"late records dropped\""), 1, "%s", log);
		free(log);
	}
}

// The job file's errors name the file, line and column.
Test(event_windows, bad_event_windows_are_refused_where_they_are_written, .timeout = 120)
{
	const char *dir = rt_tmpdir("ev-errors");
	rt_topic("ev-late", 1);
	char late_eos[512];
	snprintf(late_eos, sizeof(late_eos),
	    "  - count_by_window: {length: 1s, time: event, late: {kafka: {brokers: \"%s\", "
	    "topic: ev-late, exactly_once: true}}}\n",
	    rt_kafka());
	struct {
		const char *name, *steps, *where, *what;
	} bad[] = {
		{ "no-event",
		    "  - map_values: one\n"
		    "  - reduce_by_key_and_window: {fn: sum, length: 1s, allowed_lateness: 1s}\n",
		    "no-event.yaml:8:", "allowed_lateness is for event-time windows" },
		{ "bad-time", "  - count_by_window: {length: 1s, time: sometimes}\n",
		    "bad-time.yaml:7:", "expected batch, event or {json: PATH}" },
		{ "event-inverse",
		    "  - map_values: one\n"
		    "  - reduce_by_key_and_window: {fn: sum, length: 1s, inverse: true, time: "
		    "event}\n",
		    "event-inverse.yaml:8:", "inverse is for batch-time windows" },
		{ "late-batch",
		    "  - count_by_window: {length: 1s, late: {files: {path: /tmp/x}}}\n",
		    "late-batch.yaml:7:", "late is for event-time windows" },
		{ "late-eos", late_eos, "late-eos.yaml:7:", "commits in two phases" },
		{ "after-shuffle",
		    "  - map_values: one\n"
		    "  - reduce_by_key: sum\n"
		    "  - window: {length: 1s, time: event}\n",
		    "after-shuffle.yaml:9:", "in event time after a shuffle is not supported" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *job = event_job(dir, bad[i].name, "ev-errors", bad[i].steps);
		char       *o, *e;
		int         rv = rt_sh_capture(dir, &o, &e,
		            "%s run %s --checkpoint-dir %s/c%zu --available-now", rt_bin("rill"), job, dir,
		            i);
		cr_assert_neq(rv, 0, "%s ran:\n%s", bad[i].name, e);
		cr_assert_not_null(strstr(e, bad[i].where), "%s:\n%s", bad[i].name, e);
		cr_assert_not_null(strstr(e, bad[i].what), "%s:\n%s", bad[i].name, e);
	}
}
