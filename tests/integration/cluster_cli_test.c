// SPDX-License-Identifier: Apache-2.0
// `rill submit`, `list`, `status` and `kill` as a user runs them, against a
// real ZooKeeper server (deploy/zookeeper.sh) started once for this binary
// (fixtures/zk_hooks.c);
// the test reads and writes the nodes itself to check what the commands did.
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/jobfile.h"
#include "common/time.h"
#include "common/zk.h"
#include "driver/checkpoint.h"
#include "driver/election.h"
#include "driver/jobstore.h"
#include "driver/stateful.h"
#include "tests/fixtures/fixture.h"

#define CONNECT_MS 10000
// A batch time the test writes log records for: 2023-11-14T22:13:20.000Z.
#define T_DONE 1700000000000LL
#define T_PLANNED 1700000001000LL
// A batch done by a rill that did not record its splits' ends (no lag).
#define T_OLD 1699999999000LL

static rl_zk *
session(void)
{
	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(rt_zk(), 10000, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", rt_zk(), rl_errname(rv), err);
	return zk;
}

// ---- helpers ----

// job_file writes dir/file: a job named name whose pipeline is steps (YAML
// list lines, 2-space indented) and whose top level ends with extra.
static const char *
job_file(const char *dir, const char *file, const char *name, const char *steps, const char *extra)
{
	return rt_write(dir, file,
	    "name: %s\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"127.0.0.1:1\", topics: [t]}\n"
	    "pipeline:\n"
	    "%s"
	    "sink:\n"
	    "  print: {}\n"
	    "%s",
	    name, steps, extra);
}

// rill runs `rill ARGS` with the test server as --zk after the command name.
static int
rill(const char *dir, char **out, char **err, const char *command, const char *args)
{
	return rt_sh_capture(
	    dir, out, err, "%s %s --zk %s %s", rt_bin("rill"), command, rt_zk(), args);
}

static char *
node(rl_zk *zk, const char *path, size_t *ret_len, rl_zk_stat *ret_stat)
{
	char   err[512] = "", *data = NULL;
	rl_err rv = rl_zk_get_stat(zk, path, NULL, 0, &data, ret_len, ret_stat, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "get %s: %s: %s", path, rl_errname(rv), err);
	return data;
}

static bool
exists(rl_zk *zk, const char *path)
{
	char   err[512] = "";
	rl_err rv = rl_zk_exists(zk, path, NULL, 0, NULL, err, sizeof(err));
	cr_assert(rv == RL_OK || rv == RL_ERR_NOENT, "exists %s: %s", path, err);
	return rv == RL_OK;
}

// The splits a hand-written record names (and whether it knows their ends).
typedef struct record_splits {
	Rill__SplitRange **s_splits;
	size_t             s_count;
	bool               s_ends_seen;
} record_splits;

// write_record writes a log record of job file path by hand, as the runner
// would: its stateful steps, the shuffle width, the records, its splits.
static void
write_record_splits(rl_zk *zk, const char *path, int64_t t, Rill__BatchRecord__Phase phase,
    uint32_t width, uint64_t records, record_splits splits)
{
	char    err[1024] = "";
	rl_job *job;
	rl_err  rv = rl_job_load(path, &job, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	Rill__StatefulStep  steps[RL_STATEFUL_MAX];
	Rill__StatefulStep *ptrs[RL_STATEFUL_MAX];
	Rill__BatchRecord   rec = RILL__BATCH_RECORD__INIT;
	rec.phase = phase;
	rec.job = job->j_name;
	rec.spec_hash = job->j_spec_hash;
	rec.batch_time_ms = t;
	rec.batch_interval_ms = job->j_batch_ms;
	rec.shuffle_partitions = width;
	rec.records = records;
	rec.n_stateful_steps = rl_stateful_steps(job, steps, RL_STATEFUL_MAX);
	for (size_t i = 0; i < rec.n_stateful_steps; i++)
		ptrs[i] = &steps[i];
	rec.stateful_steps = ptrs;
	rec.splits = splits.s_splits;
	rec.n_splits = splits.s_count;
	rec.ends_seen = splits.s_ends_seen;
	unsigned char *bytes;
	size_t         len;
	rv = rl_checkpoint_encode(&rec, "test", &bytes, &len, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	char node_path[256];
	snprintf(node_path, sizeof(node_path), "/rill/jobs/%s/log/%lld.%s", job->j_name,
	    (long long)t, rl_checkpoint_phase_name(phase));
	rv = rl_zk_create(zk, node_path, bytes, len, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "create %s: %s", node_path, err);
	rl_free(bytes);
	rl_job_destroy(job);
}

static void
write_record(rl_zk *zk, const char *path, int64_t t, Rill__BatchRecord__Phase phase, uint32_t width,
    uint64_t records)
{
	write_record_splits(zk, path, t, phase, width, records, (record_splits) { 0 });
}

// kafka_split makes a split of topic t as the runner records it.
static Rill__SplitRange
kafka_split(const char *id, int64_t from, int64_t until, int64_t end_seen)
{
	Rill__SplitRange sr = RILL__SPLIT_RANGE__INIT;
	sr.kind = "kafka";
	sr.id = (char *)(uintptr_t)id;
	sr.from = from;
	sr.until = until;
	sr.end_seen = end_seen;
	return sr;
}

static json_t *
parse_json(const char *text)
{
	json_error_t error;
	json_t      *j = json_loads(text, 0, &error);
	cr_assert_not_null(j, "not JSON (%s, line %d):\n%s", error.text, error.line, text);
	return j;
}

// ---- tests ----

Test(cluster_cli, submitted_job_shows_in_list_and_status, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-show");
	rl_zk      *zk = session();
	char        err[512];
	rl_zk_delete(zk, "/rill/jobs/shown", true, err, sizeof(err));
	const char *job
	    = job_file(dir, "job.yaml", "shown", "  - flat_map: words\n  - map_values: one\n", "");
	char *o, *e;
	int   rv = rill(dir, &o, &e, "submit", job);
	cr_assert_eq(rv, 0, "submit exited %d:\n%s", rv, e);
	cr_assert_str_eq(o, "shown\n");

	// Nothing ran yet: no leader, no batch.
	cr_assert_eq(rill(dir, &o, &e, "list", ""), 0, "%s", e);
	cr_assert_not_null(strstr(o, "NAME "), "%s", o);
	cr_assert_eq(rt_sh("grep -qE '^shown +run +- +0 +- +-$' %s/stdout", dir), 0, "%s", o);

	// A driver leads it and a batch was done, another planned.
	rl_election_config c
	    = { .job = "shown", .url = "tcp://10.1.2.3:7000", .http = "10.1.2.3:8080" };
	rl_election *el;
	cr_assert_eq(rl_election_join(zk, &c, &el, err, sizeof(err)), RL_OK, "%s", err);
	rl_election_event ev = { 0 };
	for (int i = 0; i < 50 && ev.type != RL_ELECTION_ELECTED; i++)
		rl_election_poll(el, 100, &ev);
	cr_assert_eq(ev.type, RL_ELECTION_ELECTED);
	// A batch done by an older rill: its lag is not known.
	Rill__SplitRange  old0 = kafka_split("t/0", 0, 20, 0);
	Rill__SplitRange *old_splits[] = { &old0 };
	write_record_splits(zk, job, T_OLD, RILL__BATCH_RECORD__PHASE__DONE, 0, 20,
	    (record_splits) { old_splits, 1, false });
	cr_assert_eq(rill(dir, &o, &e, "list", ""), 0, "%s", e);
	cr_assert_eq(
	    rt_sh("grep -qE '^shown +run +tcp://10.1.2.3:7000 +%lld +2023-11-14T22:13:19.000Z +-$' "
	          "%s/stdout",
	        (long long)ev.epoch, dir),
	    0, "%s", o);
	cr_assert_eq(rill(dir, &o, &e, "status", "shown"), 0, "%s", e);
	cr_assert_not_null(
	    strstr(o, "2023-11-14T22:13:19.000Z  done      20          -\n"), "%s", o);
	cr_assert_not_null(strstr(o,
	                       "lag:        - (batch 2023-11-14T22:13:19.000Z was recorded without "
	                       "its splits' ends)\n"),
	    "%s", o);

	// Then a batch done, 60 records behind on t/0 (until 40, its end 100
	// when planned), none on t/1; another batch planned since.
	Rill__SplitRange  t0 = kafka_split("t/0", 20, 40, 100), t1 = kafka_split("t/1", 5, 7, 7);
	Rill__SplitRange *done_splits[] = { &t0, &t1 };
	write_record_splits(zk, job, T_DONE, RILL__BATCH_RECORD__PHASE__DONE, 0, 42,
	    (record_splits) { done_splits, 2, true });
	Rill__SplitRange  p0 = kafka_split("t/0", 40, 90, 130), p1 = kafka_split("t/1", 7, 7, 7);
	Rill__SplitRange *planned_splits[] = { &p0, &p1 };
	write_record_splits(zk, job, T_PLANNED, RILL__BATCH_RECORD__PHASE__PLANNED, 0, 7,
	    (record_splits) { planned_splits, 2, true });

	cr_assert_eq(rill(dir, &o, &e, "list", ""), 0, "%s", e);
	cr_assert_not_null(strstr(o, " LAST BATCH                LAG\n"), "%s", o);
	cr_assert_eq(
	    rt_sh(
	        "grep -qE '^shown +run +tcp://10.1.2.3:7000 +%lld +2023-11-14T22:13:20.000Z +60$' "
	        "%s/stdout",
	        (long long)ev.epoch, dir),
	    0, "%s", o);
	cr_assert_eq(rill(dir, &o, &e, "list", "--json"), 0, "%s", e);
	json_t *list = parse_json(o);
	cr_assert(json_is_array(list), "%s", o);
	json_t *row = NULL;
	for (size_t i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "name")),
		        "shown")
		    == 0)
			row = json_array_get(list, i);
	cr_assert_not_null(row, "%s", o);
	cr_assert_str_eq(json_string_value(json_object_get(row, "desired")), "run");
	cr_assert_str_eq(json_string_value(json_object_get(row, "leader")), "tcp://10.1.2.3:7000");
	cr_assert_eq(json_integer_value(json_object_get(row, "epoch")), ev.epoch);
	cr_assert_eq(json_integer_value(json_object_get(row, "last_batch_ms")), T_DONE);
	cr_assert_eq(json_integer_value(json_object_get(row, "lag")), 60);
	json_decref(list);

	cr_assert_eq(rill(dir, &o, &e, "status", "shown"), 0, "%s", e);
	cr_assert_not_null(
	    strstr(o, "leader:     tcp://10.1.2.3:7000 (http 10.1.2.3:8080"), "%s", o);
	cr_assert_not_null(
	    strstr(o, "2023-11-14T22:13:21.000Z  planned   7           40\n"), "%s", o);
	cr_assert_not_null(
	    strstr(o, "2023-11-14T22:13:20.000Z  done      42          60\n"), "%s", o);
	cr_assert_not_null(
	    strstr(o, "2023-11-14T22:13:19.000Z  done      20          -\n"), "%s", o);
	// Per split, after the newest done batch.
	cr_assert_not_null(
	    strstr(o, "lag:        60 after batch 2023-11-14T22:13:20.000Z, as planned\n"), "%s",
	    o);
	cr_assert_eq(rt_sh("grep -qE '^  t/0 +40 +100 +60$' %s/stdout", dir), 0, "%s", o);
	cr_assert_eq(rt_sh("grep -qE '^  t/1 +7 +7 +0$' %s/stdout", dir), 0, "%s", o);
	cr_assert_eq(rill(dir, &o, &e, "status", "shown --json"), 0, "%s", e);
	json_t *st = parse_json(o);
	cr_assert_str_eq(json_string_value(json_object_get(st, "desired")), "run");
	json_t *leader = json_object_get(st, "leader");
	cr_assert_str_eq(json_string_value(json_object_get(leader, "url")), "tcp://10.1.2.3:7000");
	cr_assert_eq(json_integer_value(json_object_get(st, "epoch")), ev.epoch);
	cr_assert_eq(json_array_size(json_object_get(st, "standbys")), 0);
	// The spec's hash is the job file's (XXH3-64 of its bytes).
	rl_job *loaded;
	cr_assert_eq(rl_job_load(job, &loaded, err, sizeof(err)), RL_OK, "%s", err);
	char hash[32];
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)loaded->j_spec_hash);
	rl_job_destroy(loaded);
	cr_assert_str_eq(json_string_value(json_object_get(st, "spec_hash")), hash);
	int64_t submitted = json_integer_value(json_object_get(st, "submitted_ms"));
	cr_assert(submitted > rl_now_ms() - 60000 && submitted <= rl_now_ms(), "%lld",
	    (long long)submitted);
	json_t *batches = json_object_get(st, "batches");
	cr_assert_eq(json_array_size(batches), 3, "%s", o);
	json_t *b0 = json_array_get(batches, 0), *b1 = json_array_get(batches, 1);
	json_t *b2 = json_array_get(batches, 2);
	cr_assert_eq(json_integer_value(json_object_get(b0, "time_ms")), T_PLANNED);
	cr_assert_str_eq(json_string_value(json_object_get(b0, "phase")), "planned");
	cr_assert_eq(json_integer_value(json_object_get(b0, "lag")), 40);
	cr_assert_eq(json_integer_value(json_object_get(b1, "time_ms")), T_DONE);
	cr_assert_str_eq(json_string_value(json_object_get(b1, "phase")), "done");
	cr_assert_eq(json_integer_value(json_object_get(b1, "records")), 42);
	cr_assert_eq(json_integer_value(json_object_get(b1, "lag")), 60);
	cr_assert(json_is_null(json_object_get(b2, "lag")), "%s", o);
	json_t *lag = json_object_get(st, "lag");
	cr_assert(json_is_object(lag), "%s", o);
	cr_assert_eq(json_integer_value(json_object_get(lag, "batch_ms")), T_DONE);
	cr_assert_eq(json_integer_value(json_object_get(lag, "total")), 60);
	json_t *splits = json_object_get(lag, "splits");
	cr_assert_eq(json_array_size(splits), 2, "%s", o);
	json_t *s0 = json_array_get(splits, 0), *s1 = json_array_get(splits, 1);
	cr_assert_str_eq(json_string_value(json_object_get(s0, "id")), "t/0");
	cr_assert_str_eq(json_string_value(json_object_get(s0, "kind")), "kafka");
	cr_assert_eq(json_integer_value(json_object_get(s0, "from")), 20);
	cr_assert_eq(json_integer_value(json_object_get(s0, "until")), 40);
	cr_assert_eq(json_integer_value(json_object_get(s0, "end_seen")), 100);
	cr_assert_eq(json_integer_value(json_object_get(s0, "lag")), 60);
	cr_assert_str_eq(json_string_value(json_object_get(s1, "id")), "t/1");
	cr_assert_eq(json_integer_value(json_object_get(s1, "lag")), 0);
	json_decref(st);
	rl_election_destroy(el);
	rl_zk_close(zk);
}

// ---- lag, end to end: daemons, an executor and a Kafka cluster ----

// Records produced to each partition before the job starts, and what the
// rate cap lets one batch read of a partition: 100/s for 200 ms.
#define LAG_PRODUCED 1000
#define LAG_PER_BATCH 20

// status_json runs `rill status NAME --json` against connect.
static json_t *
status_json(const char *dir, const char *connect, const char *name)
{
	char *o, *e;
	int   rv = rt_sh_capture(
	      dir, &o, &e, "%s status --zk %s %s --json", rt_bin("rill"), connect, name);
	cr_assert_eq(rv, 0, "status exited %d:\n%s", rv, e);
	return parse_json(o);
}

// list_row runs `rill list --json` against connect and returns name's row
// (the caller decrefs *ret_list).
static json_t *
list_row(const char *dir, const char *connect, const char *name, json_t **ret_list)
{
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e, "%s list --zk %s --json", rt_bin("rill"), connect);
	cr_assert_eq(rv, 0, "list exited %d:\n%s", rv, e);
	json_t *list = parse_json(o), *row = NULL;
	for (size_t i = 0; i < json_array_size(list); i++)
		if (strcmp(
		        json_string_value(json_object_get(json_array_get(list, i), "name")), name)
		    == 0)
			row = json_array_get(list, i);
	cr_assert_not_null(row, "%s", o);
	*ret_list = list;
	return row;
}

// A job reads two partitions of 1000 records each at 20 a partition a batch,
// and is stopped gracefully after its first batches: `rill status` and
// `rill list` must show exactly the records it left unread, as counted by
// what the producer wrote and what the sink holds, and the progress nodes
// the runner's splits' untils.
Test(cluster_cli, lag_is_what_the_newest_done_batch_left_unread, .timeout = 120)
{
	const char *dir = rt_tmpdir("cc-lag");
	char        connect[512];
	snprintf(connect, sizeof(connect), "%s/cc-lag-%ld", rt_zk(), (long)getpid());
	// Every process dies within 100 s whatever happens to the test.
	cr_assert_eq(rt_sh("cd %s && (timeout -s KILL 100 %s kafka-mock --topic lagged:2 > boot "
	                   "2> mock.log & echo $! > mock.pid)",
	                 dir, rt_bin("rill")),
	    0);
	cr_assert_eq(rt_sh("cd %s && for i in $(seq 100); do [ -s boot ] && exit 0; sleep 0.1; "
	                   "done; exit 1",
	                 dir),
	    0, "the mock cluster printed no bootstrap list");
	char *boot = rt_read(rt_path(dir, "boot"), NULL);
	boot[strcspn(boot, "\n")] = '\0';
	for (int p = 0; p < 2; p++)
		cr_assert_eq(
		    rt_sh("seq 1 %d | kcat -P -b %s -t lagged -p %d", LAG_PRODUCED, boot, p), 0,
		    "kcat could not produce to lagged[%d]", p);
	const char *job = rt_write(dir, "job.yaml",
	    "name: lagged\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [lagged], max_rate_per_partition: 100,\n"
	    "          backpressure: false}\n"
	    "pipeline:\n"
	    "  - map_values: one\n"
	    "sink:\n"
	    "  files: {path: %s/out}\n",
	    boot, dir);
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s submit --zk %s %s", rt_bin("rill"), connect, job);
	cr_assert_eq(rv, 0, "submit exited %d:\n%s", rv, e);
	cr_assert_eq(rt_sh("cd %s && (timeout -s KILL 100 %s --zk %s --listen tcp://127.0.0.1:0 "
	                   "--cores 2 > executor.log 2>&1 & echo $! > executor.pid)",
	                 dir, rt_bin("rill-executor"), connect),
	    0);
	cr_assert_eq(rt_sh("cd %s && (timeout -s KILL 100 %s --zk %s --listen tcp://127.0.0.1:0 "
	                   "> driver.log 2>&1 & echo $! > driver.pid)",
	                 dir, rt_bin("rill-driver"), connect),
	    0);

	// The first batch done, the job is stopped gracefully; then no one leads it.
	json_t *st = NULL;
	for (int i = 0; i < 300; i++) {
		st = status_json(dir, connect, "lagged");
		if (json_is_object(json_object_get(st, "lag")))
			break;
		json_decref(st);
		st = NULL;
		rl_sleep_ms(100);
	}
	cr_assert_not_null(st, "no batch was done in 30 s; driver log:\n%s",
	    rt_read(rt_path(dir, "driver.log"), NULL));
	json_decref(st);
	rv = rt_sh_capture(
	    dir, &o, &e, "%s kill --zk %s lagged --graceful", rt_bin("rill"), connect);
	cr_assert_eq(rv, 0, "kill exited %d:\n%s", rv, e);
	json_t *list = NULL, *row = NULL;
	for (int i = 0; i < 300; i++) {
		row = list_row(dir, connect, "lagged", &list);
		if (json_is_null(json_object_get(row, "leader")))
			break;
		json_decref(list);
		list = NULL;
		rl_sleep_ms(100);
	}
	cr_assert_not_null(list, "the job still has a leader 30 s after kill --graceful");
	rt_sh("kill $(cat %s/driver.pid) $(cat %s/executor.pid) $(cat %s/mock.pid) 2>/dev/null",
	    dir, dir, dir);

	// What the sink holds is what the done batches read (one line a record).
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, "cat %s/out/batch-*/part-* | wc -l", dir), 0, "%s", e);
	long long consumed = atoll(o);
	cr_assert_gt(consumed, 0);
	cr_assert_lt(consumed, 2 * LAG_PRODUCED, "the job caught up before it was stopped");
	st = status_json(dir, connect, "lagged");
	json_t *lag = json_object_get(st, "lag");
	cr_assert(json_is_object(lag));
	json_t   *splits = json_object_get(lag, "splits");
	long long until_sum = 0;
	cr_assert_eq(json_array_size(splits), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t     *sp = json_array_get(splits, i);
		const char *id = json_string_value(json_object_get(sp, "id"));
		long long   until = json_integer_value(json_object_get(sp, "until"));
		char        want_id[32];
		snprintf(want_id, sizeof(want_id), "lagged/%zu", i);
		cr_assert_str_eq(id, want_id);
		// The end seen is what was produced; every batch read its cap.
		cr_expect_eq(
		    json_integer_value(json_object_get(sp, "end_seen")), LAG_PRODUCED, "%s", id);
		cr_expect_eq(until % LAG_PER_BATCH, 0, "%s: until %lld", id, until);
		cr_expect_eq(
		    json_integer_value(json_object_get(sp, "lag")), LAG_PRODUCED - until, "%s", id);
		until_sum += until;
		// The progress node holds the split's until (written after the batch).
		rl_zk *zk;
		char   err[512] = "", path[128], *data;
		size_t len;
		cr_assert_eq(rl_zk_connect(connect, 10000, CONNECT_MS, &zk, err, sizeof(err)),
		    RL_OK, "%s", err);
		snprintf(path, sizeof(path), "/rill/jobs/lagged/offsets/%s", id);
		cr_assert_eq(rl_zk_get(zk, path, &data, &len, err, sizeof(err)), RL_OK, "%s", err);
		cr_expect_eq(atoll(data), until, "%s holds %s", path, data);
		rl_free(data);
		rl_zk_close(zk);
	}
	cr_expect_eq(until_sum, consumed, "the splits' untils are not what the sink holds");
	long long want = 2 * LAG_PRODUCED - consumed;
	cr_expect_eq(json_integer_value(json_object_get(lag, "total")), want);
	cr_expect_eq(json_integer_value(json_object_get(row, "lag")), want);
	cr_expect_eq(json_integer_value(json_object_get(row, "last_batch_ms")),
	    json_integer_value(json_object_get(lag, "batch_ms")));
	// The table says the same.
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s list --zk %s", rt_bin("rill"), connect), 0);
	cr_expect_eq(rt_sh("grep -qE '^lagged +stop-graceful +- +[0-9]+ +[-0-9T:.Z]+ +%lld$' "
	                   "%s/stdout",
	                 want, dir),
	    0, "%s", o);
	json_decref(st);
	json_decref(list);
	free(boot);
}

Test(cluster_cli, invalid_job_is_refused_with_its_position_and_nothing_is_written, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-invalid");
	rl_zk      *zk = session();
	char       *o, *e, want[4200];
	const char *typo = job_file(dir, "typo.yaml", "typo", "  - flatmap: words\n", "");
	cr_assert_eq(rill(dir, &o, &e, "submit", typo), 2, "%s", e);
	snprintf(want, sizeof(want), "%s:6:5: ", typo);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_not_null(strstr(e, "flatmap"), "%s", e);
	cr_assert_str_eq(o, "");
	cr_assert_not(exists(zk, "/rill/jobs/typo"));
	// A step the plan refuses (as `rill run` does) is refused too.
	const char *win = job_file(dir, "win.yaml", "win",
	    "  - map_values: one\n  - reduce_by_key: sum\n"
	    "  - union: {kafka: {brokers: \"127.0.0.1:1\", topics: [u]}}\n",
	    "");
	cr_assert_eq(rill(dir, &o, &e, "submit", win), 2, "%s", e);
	snprintf(want, sizeof(want), "%s:8:5: union after a shuffle", win);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_not(exists(zk, "/rill/jobs/win"));
	// A missing artifact is refused before ZooKeeper, too.
	const char *ok = job_file(dir, "ok.yaml", "noartifact", "  - map_values: one\n", "");
	char        args[4200];
	snprintf(args, sizeof(args), "%s --artifact %s/missing.so", ok, dir);
	cr_assert_eq(rill(dir, &o, &e, "submit", args), 2, "%s", e);
	cr_assert_not_null(strstr(e, "missing.so"), "%s", e);
	cr_assert_not(exists(zk, "/rill/jobs/noartifact"));
	rl_zk_close(zk);
}

Test(cluster_cli, artifact_round_trips_through_chunks_and_is_stored_once, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-artifact");
	rl_zk      *zk = session();
	char       *o, *e, args[8192], err[512];
	// 1.3 MB: three chunks, the last one short.
	cr_assert_eq(rt_sh("head -c 1300000 /dev/urandom > %s/lib.so", dir), 0);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "sha256sum < %s/lib.so | cut -d' ' -f1", dir), 0);
	char sha[80];
	snprintf(sha, sizeof(sha), "%.64s", o);
	const char *job = job_file(dir, "job.yaml", "udf", "  - map_values: one\n", "");
	snprintf(args, sizeof(args), "%s --artifact %s/lib.so", job, dir);
	cr_assert_eq(rill(dir, &o, &e, "submit", args), 0, "%s", e);
	cr_assert_str_eq(o, "udf\n");

	char parent[128], chunk[160];
	snprintf(parent, sizeof(parent), "/rill/artifacts/%s", sha);
	size_t          len;
	char           *data = node(zk, parent, &len, NULL);
	Rill__Artifact *a = rill__artifact__unpack(NULL, len, (uint8_t *)data);
	cr_assert_not_null(a);
	cr_assert(a->complete);
	cr_assert_eq(a->size, 1300000);
	cr_assert_eq(a->chunks, 3);
	cr_assert_str_eq(a->sha256, sha);
	rill__artifact__free_unpacked(a, NULL);
	rl_free(data);
	// The chunks, concatenated by the test, hash (sha256sum) to the name.
	char *back = rt_path(dir, "back.so");
	FILE *f = fopen(back, "wb");
	cr_assert_not_null(f);
	rl_zk_stat first;
	for (int i = 0; i < 3; i++) {
		snprintf(chunk, sizeof(chunk), "%s/%04d", parent, i);
		rl_zk_stat st;
		data = node(zk, chunk, &len, &st);
		cr_assert(len <= RL_ARTIFACT_CHUNK && len > 0, "%zu", len);
		if (i == 0)
			first = st;
		fwrite(data, 1, len, f);
		rl_free(data);
	}
	fclose(f);
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "sha256sum < %s | cut -d' ' -f1", back), 0);
	cr_assert_eq(strncmp(o, sha, 64), 0, "chunks hash to %s, the artifact to %s", o, sha);
	cr_assert_eq(rt_sh("cmp -s %s %s/lib.so", back, dir), 0);
	// The spec names it; the reader gets the same bytes.
	Rill__JobSpec *spec;
	cr_assert_eq(
	    rl_jobstore_get_spec(zk, "udf", &spec, NULL, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_str_eq(spec->artifact_sha256, sha);
	rill__job_spec__free_unpacked(spec, NULL);
	unsigned char *bytes;
	cr_assert_eq(
	    rl_jobstore_get_artifact(zk, sha, &bytes, &len, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(len, 1300000);
	rl_free(bytes);

	// Submitting it again does not write it again.
	cr_assert_eq(rill(dir, &o, &e, "submit", args), 0, "%s", e);
	cr_assert_not_null(strstr(e, "already stored"), "%s", e);
	snprintf(chunk, sizeof(chunk), "%s/0000", parent);
	rl_zk_stat again;
	rl_free(node(zk, chunk, &len, &again));
	cr_assert_eq(again.mzxid, first.mzxid, "chunk 0000 was rewritten");
	cr_assert_eq(again.czxid, first.czxid, "chunk 0000 was recreated");
	rl_zk_close(zk);
}

Test(cluster_cli, compatible_resubmit_keeps_the_log, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-upgrade");
	rl_zk      *zk = session();
	char       *o, *e, err[512];
	rl_zk_delete(zk, "/rill/jobs/totals", true, err, sizeof(err));
	const char *v1 = job_file(dir, "v1.yaml", "totals",
	    "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 8\n");
	cr_assert_eq(rill(dir, &o, &e, "submit", v1), 0, "%s", e);
	write_record(zk, v1, T_DONE, RILL__BATCH_RECORD__PHASE__DONE, 8, 42);
	const char *rec_path = "/rill/jobs/totals/log/1700000000000.done";
	size_t      rec_len, spec_len;
	rl_zk_stat  rec_st, spec_st;
	char       *rec = node(zk, rec_path, &rec_len, &rec_st);
	char       *spec1 = node(zk, "/rill/jobs/totals/spec", &spec_len, &spec_st);

	// A new step before the state and a new filter: the state still fits.
	const char *v2 = job_file(dir, "v2.yaml", "totals",
	    "  - filter: nonempty\n  - map_values: one\n  - update_state_by_key: sum\n",
	    "shuffle_partitions: 8\n");
	int         rv = rill(dir, &o, &e, "submit", v2);
	cr_assert_eq(rv, 0, "exit %d:\n%s", rv, e);
	cr_assert_str_eq(o, "totals\n");
	cr_assert_not_null(strstr(e, "upgraded"), "%s", e);
	cr_assert_not_null(strstr(e, "resumes after batch 1700000000000"), "%s", e);
	// The log is as it was; the spec is v2's, one submission later.
	char     **names;
	size_t     count, len;
	rl_zk_stat st;
	cr_assert_eq(rl_zk_children(zk, "/rill/jobs/totals/log", &names, &count, err, sizeof(err)),
	    RL_OK, "%s", err);
	cr_assert_eq(count, 1);
	cr_assert_str_eq(names[0], "1700000000000.done");
	rl_zk_free_names(names);
	char *now = node(zk, rec_path, &len, &st);
	cr_assert_eq(len, rec_len);
	cr_assert_eq(memcmp(now, rec, len), 0);
	cr_assert_eq(st.mzxid, rec_st.mzxid);
	rl_free(now);
	Rill__JobSpec *spec;
	int32_t        version;
	cr_assert_eq(rl_jobstore_get_spec(zk, "totals", &spec, &version, err, sizeof(err)), RL_OK,
	    "%s", err);
	cr_assert_eq(version, spec_st.version + 1);
	char *text = rt_read(v2, &len);
	cr_assert_eq(spec->job_text.len, len);
	cr_assert_eq(memcmp(spec->job_text.data, text, len), 0);
	free(text);
	rill__job_spec__free_unpacked(spec, NULL);
	rl_free(spec1);
	rl_free(rec);
	rl_zk_close(zk);
}

Test(cluster_cli, incompatible_resubmit_is_refused_with_the_reason, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-refuse");
	rl_zk      *zk = session();
	char       *o, *e, err[512], want[4400];
	rl_zk_delete(zk, "/rill/jobs/sums", true, err, sizeof(err));
	const char *v1 = job_file(dir, "v1.yaml", "sums",
	    "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 8\n");
	cr_assert_eq(rill(dir, &o, &e, "submit", v1), 0, "%s", e);
	write_record(zk, v1, T_DONE, RILL__BATCH_RECORD__PHASE__DONE, 8, 42);
	size_t     len;
	rl_zk_stat before, after;
	rl_free(node(zk, "/rill/jobs/sums/spec", &len, &before));

	// The stateful step changed.
	const char *changed = job_file(dir, "v2.yaml", "sums",
	    "  - map_values: one\n  - update_state_by_key: min\n", "shuffle_partitions: 8\n");
	cr_assert_eq(rill(dir, &o, &e, "submit", changed), 1, "%s", e);
	snprintf(want, sizeof(want),
	    "rill submit: %s:7:5: update_state_by_key: min differs from the update_state_by_key: "
	    "sum "
	    "whose state is in batch log /rill/jobs/sums/log, and state cannot carry over to a "
	    "changed step; restore the step as it was, or start the job with a new name",
	    changed);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	cr_assert_str_eq(o, "");
	// The shuffle width that splits the state changed.
	const char *wider = job_file(dir, "v3.yaml", "sums",
	    "  - map_values: one\n  - update_state_by_key: sum\n", "shuffle_partitions: 4\n");
	cr_assert_eq(rill(dir, &o, &e, "submit", wider), 1, "%s", e);
	snprintf(want, sizeof(want),
	    "%s: shuffle_partitions is 4 but the state in batch log /rill/jobs/sums/log is split 8 "
	    "ways; keep shuffle_partitions: 8",
	    wider);
	cr_assert_not_null(strstr(e, want), "wanted '%s' in:\n%s", want, e);
	// The step was removed.
	const char *removed = job_file(dir, "v4.yaml", "sums", "  - map_values: one\n", "");
	cr_assert_eq(rill(dir, &o, &e, "submit", removed), 1, "%s", e);
	cr_assert_not_null(strstr(e,
	                       "the job no longer has the update_state_by_key: sum (was at "
	                       "line 7)"),
	    "%s", e);
	// Nothing changed in ZooKeeper.
	rl_free(node(zk, "/rill/jobs/sums/spec", &len, &after));
	cr_assert_eq(after.mzxid, before.mzxid, "the spec was written");
	rl_zk_close(zk);
}

Test(cluster_cli, kill_sets_the_desired_node_and_keeps_the_job, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-kill");
	rl_zk      *zk = session();
	char       *o, *e;
	const char *job = job_file(dir, "job.yaml", "victim", "  - map_values: one\n", "");
	cr_assert_eq(rill(dir, &o, &e, "submit", job), 0, "%s", e);
	size_t len;
	char  *d = node(zk, "/rill/jobs/victim/desired", &len, NULL);
	cr_assert_str_eq(d, "run");
	rl_free(d);
	cr_assert_eq(rill(dir, &o, &e, "kill", "victim"), 0, "%s", e);
	cr_assert_not_null(strstr(o, "victim: desired stop (was run)"), "%s", o);
	d = node(zk, "/rill/jobs/victim/desired", &len, NULL);
	cr_assert_str_eq(d, "stop");
	rl_free(d);
	cr_assert_eq(rill(dir, &o, &e, "kill", "victim --graceful"), 0, "%s", e);
	d = node(zk, "/rill/jobs/victim/desired", &len, NULL);
	cr_assert_str_eq(d, "stop-graceful");
	rl_free(d);
	cr_assert(exists(zk, "/rill/jobs/victim/spec"));
	cr_assert_eq(rill(dir, &o, &e, "status", "victim"), 0, "%s", e);
	cr_assert_not_null(strstr(o, "desired:    stop-graceful"), "%s", o);
	// Submitting it again asks for it to run.
	cr_assert_eq(rill(dir, &o, &e, "submit", job), 0, "%s", e);
	d = node(zk, "/rill/jobs/victim/desired", &len, NULL);
	cr_assert_str_eq(d, "run");
	rl_free(d);
	// Unknown jobs are named.
	cr_assert_eq(rill(dir, &o, &e, "kill", "ghost"), 1);
	cr_assert_not_null(strstr(e, "no job 'ghost'"), "%s", e);
	cr_assert_not(exists(zk, "/rill/jobs/ghost"));
	cr_assert_eq(rill(dir, &o, &e, "status", "ghost"), 1);
	cr_assert_not_null(strstr(e, "no job 'ghost'"), "%s", e);
	rl_zk_close(zk);
}

Test(cluster_cli, unreachable_zookeeper_fails_within_the_bound, .timeout = 60)
{
	const char *dir = rt_tmpdir("cc-unreachable");
	const char *job = job_file(dir, "job.yaml", "lost", "  - map_values: one\n", "");
	// Nothing listens on port 1; the four commands run at once.
	const char *cmds[] = { "submit", "list", "status lost", "kill lost" };
	int64_t     start = rl_mono_ms();
	int         rv = rt_sh("cd %s && for i in 0 1 2 3; do case $i in"
	                               " 0) c='submit %s';; 1) c=list;; 2) c='status lost';; 3) c='kill lost';;"
	                               " esac; (%s $c --zk 127.0.0.1:1 >out.$i 2>err.$i; echo $? >rc.$i) & done;"
	                               " wait",
	            dir, job, rt_bin("rill"));
	int64_t     took = rl_mono_ms() - start;
	cr_assert_eq(rv, 0);
	cr_assert_lt(took, 15000, "took %lld ms", (long long)took);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "rc.%d", i);
		char *rc = rt_read(rt_path(dir, name), NULL);
		cr_assert_not_null(rc);
		cr_assert_eq(atoi(rc), 1, "rill %s exited %s", cmds[i], rc);
		free(rc);
		snprintf(name, sizeof(name), "err.%d", i);
		char *msg = rt_read(rt_path(dir, name), NULL);
		cr_assert_not_null(msg);
		cr_assert_not_null(
		    strstr(msg, "ZooKeeper at 127.0.0.1:1"), "rill %s:\n%s", cmds[i], msg);
		free(msg);
	}
}

// ---- the cluster secret ----

// With --secret-file the commands' nodes carry the secret's ACL: the same
// commands without it (or with another one) can neither read nor change them.
Test(secret, commands_without_the_secret_cannot_see_or_change_a_secured_job)
{
	const char *dir = rt_tmpdir("cli-secret");
	const char *job = job_file(dir, "job.yaml", "secured", "  - flat_map: words\n", "");
	const char *secret = rt_write(dir, "secret", "the secret of this test cluster\n");
	const char *other = rt_write(dir, "other", "the secret of another cluster!!\n");
	cr_assert_eq(rt_sh("chmod 600 %s %s", secret, other), 0);
	char zk[512];
	snprintf(zk, sizeof(zk), "%s/secured-cluster", rt_zk());
	char *o, *e;
	int   rv = rt_sh_capture(
	      dir, &o, &e, "%s submit --zk %s --secret-file %s %s", rt_bin("rill"), zk, secret, job);
	cr_assert_eq(rv, 0, "submit exited %d:\n%s", rv, e);
	rv = rt_sh_capture(
	    dir, &o, &e, "%s list --zk %s --secret-file %s", rt_bin("rill"), zk, secret);
	cr_assert_eq(rv, 0, "list exited %d:\n%s", rv, e);
	cr_assert_not_null(strstr(o, "secured"), "%s", o);

	for (int i = 0; i < 2; i++) {
		const char *flag = i == 0 ? "" : "--secret-file ";
		const char *file = i == 0 ? "" : other;
		rv = rt_sh_capture(
		    dir, &o, &e, "%s list --zk %s %s%s", rt_bin("rill"), zk, flag, file);
		cr_assert_eq(rv, 1, "list %s exited %d:\n%s%s", flag, rv, o, e);
		cr_assert_null(strstr(o, "secured"), "%s", o);
		rv = rt_sh_capture(
		    dir, &o, &e, "%s kill --zk %s %s%s secured", rt_bin("rill"), zk, flag, file);
		cr_assert_eq(rv, 1, "kill %s exited %d:\n%s%s", flag, rv, o, e);
	}
	rv = rt_sh_capture(dir, &o, &e, "%s status --zk %s --secret-file %s secured --json",
	    rt_bin("rill"), zk, secret);
	cr_assert_eq(rv, 0, "status exited %d:\n%s", rv, e);
	json_t *st = json_loads(o, 0, NULL);
	cr_assert_not_null(st, "%s", o);
	cr_assert_str_eq(json_string_value(json_object_get(st, "desired")), "run",
	    "still desired run after the refused kills");
	json_decref(st);
}

// A job with user functions submitted with its artifact runs on daemons:
// the leading driver reads the artifact from ZooKeeper and serves it, the
// executor (announced in ZooKeeper) fetches it, checks its sha256 and loads
// it; the counts equal awk's over the same input.
Test(cluster_cli, submitted_artifact_runs_on_a_daemon_executor, .timeout = 120)
{
	const char *dir = rt_tmpdir("cc-udf");
	char        connect[512];
	snprintf(connect, sizeof(connect), "%s/cc-udf-%ld", rt_zk(), (long)getpid());
	const char *root = getenv("RILL_BUILD_ROOT");
	cr_assert_not_null(root);
	cr_assert_eq(rt_sh("cd %s && (timeout -s KILL 100 %s kafka-mock --topic udfwords:2 > boot "
	                   "2> mock.log & echo $! > mock.pid)",
	                 dir, rt_bin("rill")),
	    0);
	cr_assert_eq(rt_sh("cd %s && for i in $(seq 100); do [ -s boot ] && exit 0; sleep 0.1; "
	                   "done; exit 1",
	                 dir),
	    0, "the mock cluster printed no bootstrap list");
	char *boot = rt_read(rt_path(dir, "boot"), NULL);
	boot[strcspn(boot, "\n")] = '\0';
	const char *text = rt_path(dir, "text.txt"), *want = rt_path(dir, "want.tsv");
	cr_assert_eq(rt_sh("awk 'BEGIN { srand(9); for (i = 0; i < 3000; i++) print \"Word\" "
	                   "int(rand() * 50) \", ab the-END!\" }' > %s",
	                 text),
	    0);
	// examples/udf's tokens + not_short: lowercased alphanumeric runs of 3 or more.
	cr_assert_eq(rt_sh("awk '{ l = tolower($0); gsub(/[^a-z0-9]+/, \" \", l); n = split(l, w, "
	                   "\" \"); for (i = 1; i <= n; i++) if (length(w[i]) >= 3) c[w[i]]++ }"
	                   " END { for (k in c) print k \"\\t\" c[k] }' %s | LC_ALL=C sort > %s",
	                 text, want),
	    0);
	for (int p = 0; p < 2; p++)
		cr_assert_eq(rt_sh("awk 'NR %% 2 == %d' %s | kcat -P -b %s -t udfwords -p %d", p,
		                 text, boot, p),
		    0);
	const char *job = rt_write(dir, "job.yaml",
	    "name: udfwords\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [udfwords]}\n"
	    "pipeline:\n"
	    "  - flat_map: {udf: tokens}\n"
	    "  - filter: {udf: not_short}\n"
	    "  - map_values: {udf: one}\n"
	    "  - reduce_by_key: {udf: add}\n"
	    "sink:\n"
	    "  files: {path: %s/out}\n",
	    boot, dir);
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "%s submit --zk %s %s --artifact %s/%s", rt_bin("rill"),
	    connect, job, root, "examples/udf/libwordcount_udf.so");
	cr_assert_eq(rv, 0, "submit exited %d:\n%s", rv, e);
	cr_assert_eq(rt_sh("cd %s && (RILL_LOG_LEVEL=info timeout -s KILL 100 %s --zk %s --listen "
	                   "tcp://127.0.0.1:0 --cores 2 > executor.log 2>&1 & echo $! > "
	                   "executor.pid)",
	                 dir, rt_bin("rill-executor"), connect),
	    0);
	cr_assert_eq(rt_sh("cd %s && (RILL_LOG_LEVEL=info timeout -s KILL 100 %s --zk %s --listen "
	                   "tcp://127.0.0.1:0 > driver.log 2>&1 & echo $! > driver.pid)",
	                 dir, rt_bin("rill-driver"), connect),
	    0);
	// Until the sink's totals are the reference (they only grow towards it).
	const char *got = rt_path(dir, "got.tsv");
	bool        same = false;
	for (int i = 0; i < 600 && !same; i++) {
		rl_sleep_ms(100);
		rt_sh("cat %s/out/batch-*/part-* 2>/dev/null | awk -F'\\t' '{ c[$1] += $2 }"
		      " END { for (k in c) print k \"\\t\" c[k] }' | LC_ALL=C sort > %s",
		    dir, got);
		same = rt_sh("cmp -s %s %s", got, want) == 0;
	}
	rt_sh("kill $(cat %s/driver.pid) $(cat %s/executor.pid) $(cat %s/mock.pid) 2>/dev/null",
	    dir, dir, dir);
	char *dlog = rt_read(rt_path(dir, "driver.log"), NULL);
	char *xlog = rt_read(rt_path(dir, "executor.log"), NULL);
	cr_assert(same,
	    "the counts never matched the reference; driver log:\n%s\nexecutor log:\n%s", dlog,
	    xlog);
	rt_assert_same_file(got, want);
	cr_assert_eq(rt_count(xlog, "msg=\"artifact loaded\""), 1, "%s", xlog);
	cr_assert_geq(rt_count(dlog, "msg=\"artifact sent\""), 1, "%s", dlog);
	free(dlog);
	free(xlog);
	free(boot);
}
