// SPDX-License-Identifier: Apache-2.0
// Cluster mode's failover on real hosts (deploy/cluster.sh): ZooKeeper and
// Kafka on host 1, `rill-driver --zk` on hosts 2 and 3, `rill-executor --zk`
// on hosts 4 to 6, a producer on host 7; leaders SIGKILLed while input flows,
// 10 jobs moving off a dead driver, kill --graceful then submit; word counts
// exact against tr | sort | uniq -c of what was produced.
#include <assert.h>
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "tests/fixtures/cluster.h"
#include "tests/fixtures/fixture.h"

#define DRIVER_PORT 7070
#define SESSION_TIMEOUT "2s"
#define PRODUCER_HOST 7
#define TRIALS 10
// A failover must be done within this (session timeout 2 s); a generous
// bound so that a slow moment of this machine does not fail the test.
#define FAILOVER_BOUND_MS 10000

static_assert(RT_CLUSTER_HOSTS >= PRODUCER_HOST, "failover_test needs 7 hosts");

// rill runs `rill ARGS` (printf-style) from this namespace and returns its
// exit status; its stderr goes to *err.
static int rill(const char *dir, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
rill(const char *dir, char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *args;
	if (vasprintf(&args, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *out;
	int   rv = rt_sh_capture(dir, &out, err, "%s %s", rt_bin("rill"), args);
	free(args);
	return rv;
}

// bed_init is each test's .init: a clean bed (rt_cluster_reset) and no job
// of an earlier test left to run.
static void
bed_init(void)
{
	rt_cluster_reset();
	const char *dir = rt_tmpdir("failover-init");
	char       *out, *err;
	cr_assert_eq(rt_sh_capture(dir, &out, &err, "%s list --zk %s --json", rt_bin("rill"),
	                 rt_cluster_zk()),
	    0, "rill list: %s", err);
	// Every "name" of the JSON array is stopped.
	for (const char *p = out; (p = strstr(p, "\"name\"")) != NULL;) {
		char name[128];
		if (sscanf(p, "\"name\": \"%127[^\"]\"", name) == 1
		    || sscanf(p, "\"name\":\"%127[^\"]\"", name) == 1)
			cr_assert_eq(rill(dir, &err, "kill --zk %s %s", rt_cluster_zk(), name), 0,
			    "rill kill %s: %s", name, err);
		p += 6;
	}
	rt_sh("rm -rf %s", dir);
}

// spawn_executors_with starts an executor on hosts 4 to last against the
// ZooKeeper connect string zk, with extra options.
static void
spawn_executors_with(const char *zk, const char *opts, int last)
{
	for (int h = 4; h <= last; h++)
		cr_assert_eq(rt_cluster("spawn",
		                 "host%d --name executor -- %s --zk %s --listen tcp://%s:0"
		                 " --id host%d --cores 2 %s",
		                 h, rt_bin("rill-executor"), zk, rt_host_addr(h), h, opts),
		    0, "cannot spawn the executor on host%d", h);
}

static void
spawn_executors(void)
{
	spawn_executors_with(rt_cluster_zk(), "", 6);
}

// spawn_driver_with starts the driver daemon on host h (info log: its
// batches) with extra environment (VAR=VALUE …) and options, and waits until
// it hosts the jobs.
static void
spawn_driver_with(int h, const char *env, const char *zk, const char *opts)
{
	cr_assert_eq(rt_cluster("spawn",
	                 "host%d --name driver -- env RILL_LOG_LEVEL=info %s %s --zk %s"
	                 " --listen tcp://%s:%d --zk-session-timeout %s %s",
	                 h, env, rt_bin("rill-driver"), zk, rt_host_addr(h), DRIVER_PORT,
	                 SESSION_TIMEOUT, opts),
	    0, "cannot spawn the driver on host%d", h);
	cr_assert(rt_wait_log(h, "driver", "msg=\"hosting submitted jobs\"", 1, 15000),
	    "the driver on host%d did not start:\n%s", h, rt_host_log(h, "driver"));
}

static void
spawn_driver(int h)
{
	spawn_driver_with(h, "", rt_cluster_zk(), "");
}

static pid_t
driver_pid(int h)
{
	char file[64];
	snprintf(file, sizeof(file), "host%d/driver.pid", h);
	char *text = rt_read(rt_path(rt_cluster_dir(), file), NULL);
	cr_assert_not_null(text, "no pid of host%d's driver", h);
	pid_t pid = (pid_t)atoi(text);
	free(text);
	return pid;
}

// kill_driver SIGKILLs host h's driver and returns when it is gone; returns
// the time of the kill.
static int64_t
kill_driver(int h)
{
	pid_t   pid = driver_pid(h);
	int64_t at = rl_now_ms();
	cr_assert_eq(kill(pid, SIGKILL), 0, "kill host%d's driver (pid %d)", h, (int)pid);
	int rv = rt_cluster("wait", "host%d --name driver --timeout 10", h);
	cr_assert_eq(rv, 128 + SIGKILL, "host%d's driver ended with %d, not SIGKILL", h, rv);
	return at;
}

// line_ts gives the time of a logfmt line's "ts=" (ms since the epoch, UTC).
static int64_t
line_ts(const char *line)
{
	struct tm tm = { 0 };
	int       ms = 0;
	cr_assert_eq(sscanf(line, "ts=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
	    7, "no ts= at %.80s", line);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

// line_of gives the start of the line that holds p.
static const char *
line_of(const char *log, const char *p)
{
	while (p > log && p[-1] != '\n')
		p--;
	return p;
}

// first_done gives the time of the first "batch done" line of job in host
// h's driver log that comes after its "leading" line for the job and is not
// earlier than since; -1 if there is none yet.
static int64_t
first_done(int h, const char *job, int64_t since)
{
	const char *log = rt_host_log(h, "driver");
	char        leading[160], done[160];
	snprintf(leading, sizeof(leading), "msg=\"leading\" job=%.64s ", job);
	snprintf(done, sizeof(done), "msg=\"batch done\" job=%.64s ", job);
	const char *p = strstr(log, leading);
	if (p == NULL)
		return -1;
	while ((p = strstr(p, done)) != NULL) {
		int64_t ts = line_ts(line_of(log, p));
		if (ts >= since)
			return ts;
		p++;
	}
	return -1;
}

// wait_done waits up to timeout_ms for first_done and returns it (-1: none).
static int64_t
wait_done(int h, const char *job, int64_t since, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		int64_t ts = first_done(h, job, since);
		if (ts >= 0)
			return ts;
		rl_sleep_ms(50);
	}
	return -1;
}

static bool
leads(int h, const char *job)
{
	char needle[160];
	snprintf(needle, sizeof(needle), "msg=\"leading\" job=%.64s ", job);
	return strstr(rt_host_log(h, "driver"), needle) != NULL;
}

// wait_leader waits until host 2's or host 3's driver leads job; returns it.
static int
wait_leader(const char *job, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		for (int h = 2; h <= 3; h++)
			if (leads(h, job))
				return h;
		rl_sleep_ms(50);
	}
	cr_assert_fail("no driver leads %s:\nhost2:\n%s", job, rt_host_log(2, "driver"));
	return 0;
}

// A job: its directory, topic, corpus and reference, its job file; its
// output is the files sink's directory, or a Kafka topic written exactly
// once (out_topic).
typedef struct fjob {
	char        name[64];
	const char *dir;
	const char *job; // dir/job.yaml
	const char *out; // dir/out, the files sink
	const char *want; // dir/want.tsv
	char        out_topic[80]; // "": the files sink
	bool        stateful; // update_state_by_key: every batch holds every total
} fjob;

static fjob
make_job_to(const char *name, int partitions, bool to_kafka, bool stateful)
{
	fjob j = { .stateful = stateful };
	snprintf(j.name, sizeof(j.name), "%s", name);
	j.dir = rt_tmpdir(name);
	j.out = rt_path(j.dir, "out");
	j.want = rt_path(j.dir, "want.tsv");
	rt_topic(name, partitions);
	char sink[4200];
	if (to_kafka) {
		snprintf(j.out_topic, sizeof(j.out_topic), "%s-out", name);
		rt_topic(j.out_topic, 2);
		snprintf(sink, sizeof(sink),
		    "kafka: {brokers: \"%s\", topic: %s, exactly_once: true}", rt_kafka(),
		    j.out_topic);
	} else {
		snprintf(sink, sizeof(sink), "files: {path: %s}", j.out);
	}
	j.job = rt_write(j.dir, "job.yaml",
	    "name: %s\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka:\n"
	    "    brokers: %s\n"
	    "    topics: [%s]\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - %s: sum\n"
	    "sink:\n"
	    "  %s\n",
	    name, rt_kafka(), name, stateful ? "update_state_by_key" : "reduce_by_key", sink);
	return j;
}

static fjob
make_job(const char *name, int partitions)
{
	return make_job_to(name, partitions, false, false);
}

// submit_with submits j through ZooKeeper zk with extra options.
static void
submit_with(const fjob *j, const char *zk, const char *opts)
{
	char *err;
	int   rv = rill(j->dir, &err, "submit --zk %s %s %s", zk, opts, j->job);
	cr_assert_eq(rv, 0, "rill submit %s exited %d: %s", j->name, rv, err);
}

static void
submit(const fjob *j)
{
	submit_with(j, rt_cluster_zk(), "");
}

// producer_start makes a corpus of `lines` lines (seeded) and spawns on
// host 7 a producer that writes it to the job's topic 20 lines every 50 ms
// or so, round and round, until producer_stop or max_s seconds; what it
// wrote is in dir/produced.txt.
static void
producer_start(const fjob *j, int lines, int seed, int max_s)
{
	const char *corpus = rt_path(j->dir, "corpus.txt");
	rt_make_corpus(corpus, lines, seed);
	cr_assert_eq(rt_sh("mkdir -p %s/chunks && awk -v d=%s/chunks"
	                   " '{ print > (d \"/c\" int((NR - 1) / 20)) }' %s",
	                 j->dir, j->dir, corpus),
	    0);
	int         chunks = (lines + 19) / 20;
	const char *script = rt_write(j->dir, "produce.sh",
	    "d=%s; n=0; end=$(($(date +%%s) + %d))\n"
	    "while [ ! -e $d/stop ] && [ $(date +%%s) -lt $end ]; do\n"
	    "  cat $d/chunks/c$((n %% %d)); n=$((n + 1)); sleep 0.05\n"
	    "done | tee $d/produced.txt | kcat -P -b %s -t %s\n",
	    j->dir, max_s, chunks, rt_kafka(), j->name);
	cr_assert_eq(rt_cluster("spawn", "host%d --name producer -- sh %s", PRODUCER_HOST, script),
	    0, "cannot spawn the producer on host%d", PRODUCER_HOST);
}

// producer_stop stops the producer, checks that kcat delivered everything
// and writes the reference counts of what it produced.
static void
producer_stop(const fjob *j)
{
	rt_write(j->dir, "stop", "%s", "");
	int rv = rt_cluster("wait", "host%d --name producer --timeout 30", PRODUCER_HOST);
	cr_assert_eq(
	    rv, 0, "the producer exited %d:\n%s", rv, rt_host_log(PRODUCER_HOST, "producer"));
	const char *produced = rt_path(j->dir, "produced.txt");
	cr_assert_eq(rt_sh("test -s %s", produced), 0, "nothing was produced");
	rt_reference_counts(produced, j->want);
}

// sink_totals writes the per-word totals of what j's sink holds to got: the
// files sink's batches, or what a read_committed consumer of the Kafka sink's
// topic sees.
static void
sink_totals(const fjob *j, const char *got)
{
	if (j->stateful) { // the newest batch: every word's state
		cr_assert_eq(rt_sh("d=$(ls -d %s/batch-* | LC_ALL=C sort | tail -n 1);"
		                   " cat $d/part-* | LC_ALL=C sort > %s",
		                 j->out, got),
		    0);
		return;
	}
	if (j->out_topic[0] == '\0') {
		rt_sink_totals(j->out, got);
		return;
	}
	cr_assert_eq(
	    rt_sh("kcat -C -b %s -t %s -o beginning -e -q -X isolation.level=read_committed"
	          " -f '%%k\\t%%s\\n' | awk -F'\\t' '{ c[$1] += $2 } END { for (k in c)"
	          " print k \"\\t\" c[k] }' | LC_ALL=C sort > %s",
	        rt_kafka(), j->out_topic, got),
	    0, "cannot read %s", j->out_topic);
}

// wait_exact waits until the sink's totals equal the reference (at most
// timeout_ms), then checks again a second later: nothing counted twice
// late, nothing lost.
static void
wait_exact(const fjob *j, int timeout_ms)
{
	const char *got = rt_path(j->dir, "got.tsv");
	for (int waited = 0; waited < timeout_ms; waited += 250) {
		sink_totals(j, got);
		if (rt_sh("cmp -s %s %s", got, j->want) == 0)
			break;
		rl_sleep_ms(250);
	}
	rl_sleep_ms(1000);
	sink_totals(j, got);
	rt_assert_same_file(got, j->want);
}

static void
no_sanitizer_reports(void)
{
	const char *marks[]
	    = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:" };
	for (int h = 2; h <= 6; h++) {
		const char *log = rt_host_log(h, h <= 3 ? "driver" : "executor");
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			cr_assert_null(
			    strstr(log, marks[i]), "sanitizer report on host%d:\n%s", h, log);
	}
}

static int
cmp_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

// run_on_two_drivers starts the executors, drivers on hosts 2 and 3 (with
// driver_opts), a producer of `lines` lines (seeded) for at most max_s
// seconds, and submits j; returns the host that leads it, once it did a
// batch.
static int
run_on_two_drivers(const fjob *j, int lines, int seed, int max_s, const char *driver_opts)
{
	spawn_executors();
	spawn_driver_with(2, "", rt_cluster_zk(), driver_opts);
	spawn_driver_with(3, "", rt_cluster_zk(), driver_opts);
	producer_start(j, lines, seed, max_s);
	submit(j);
	int leader = wait_leader(j->name, 30000);
	cr_assert_geq(wait_done(leader, j->name, 0, 30000), 0,
	    "host%d leads %s but did no batch:\n%s", leader, j->name,
	    rt_host_log(leader, "driver"));
	return leader;
}

// (a) The leader is SIGKILLed while records flow in, ten times over: each
// time the stand-by leads and commits a batch within the bound, the killed
// driver comes back as the stand-by, and the counts end exact.
Test(failover, leader_sigkilled_ten_times_under_load_stays_exact, .init = bed_init, .timeout = 150)
{
	fjob j = make_job("fo-kill", 2);
	int  leader = run_on_two_drivers(&j, 4000, 23, 90, "");

	int64_t took[TRIALS];
	for (int t = 0; t < TRIALS; t++) {
		int  standby = leader == 2 ? 3 : 2;
		char needle[160];
		snprintf(needle, sizeof(needle), "msg=\"standing by\" job=%s", j.name);
		cr_assert(rt_wait_log(standby, "driver", needle, 1, 15000),
		    "trial %d: host%d does not stand by:\n%s", t, standby,
		    rt_host_log(standby, "driver"));
		cr_assert(!leads(standby, j.name), "trial %d: host%d leads too:\n%s", t, standby,
		    rt_host_log(standby, "driver"));
		int64_t killed = kill_driver(leader);
		int64_t done = wait_done(standby, j.name, killed, 20000);
		cr_assert_geq(done, 0, "trial %d: host%d did not take over from host%d:\n%s", t,
		    standby, leader, rt_host_log(standby, "driver"));
		took[t] = done - killed;
		fprintf(stderr,
		    "failover trial %d: host%d -> host%d, first batch done %" PRId64
		    " ms after the SIGKILL\n",
		    t + 1, leader, standby, took[t]);
		cr_assert_lt(took[t], FAILOVER_BOUND_MS,
		    "trial %d: %" PRId64 " ms from the SIGKILL to the first batch done", t,
		    took[t]);
		spawn_driver(leader);
		leader = standby;
	}
	producer_stop(&j);
	wait_exact(&j, 60000);
	no_sanitizer_reports();

	qsort(took, TRIALS, sizeof(took[0]), cmp_ms);
	fprintf(stderr,
	    "failover (SIGKILL to the new leader's first batch done, session timeout %s, %d"
	    " trials): median %" PRId64 " ms, max %" PRId64 " ms\n",
	    SESSION_TIMEOUT, TRIALS, (took[TRIALS / 2 - 1] + took[TRIALS / 2]) / 2,
	    took[TRIALS - 1]);
	rt_sh("rm -rf %s", j.dir); // kept only when the test fails
}

#define JOBS 10

// (f) Ten jobs on two drivers; the one that leads most of them is
// SIGKILLed: all ten go on on the other, each one's counts exact.
Test(failover, ten_jobs_move_to_the_surviving_driver, .init = bed_init, .timeout = 150)
{
	fjob jobs[JOBS];
	for (int i = 0; i < JOBS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "fo-many-%d", i);
		jobs[i] = make_job(name, 1);
		const char *corpus = rt_path(jobs[i].dir, "corpus.txt");
		rt_make_corpus(corpus, 600, 100 + i);
		rt_reference_counts(corpus, jobs[i].want);
		// Half before the kill, half after.
		cr_assert_eq(rt_sh("cd %s && head -n 300 corpus.txt > first && tail -n +301"
		                   " corpus.txt > second",
		                 jobs[i].dir),
		    0);
		rt_produce_lines(name, rt_path(jobs[i].dir, "first"));
	}
	spawn_executors();
	spawn_driver(2);
	spawn_driver(3);
	for (int i = 0; i < JOBS; i++)
		submit(&jobs[i]);
	int led[4] = { 0 };
	for (int i = 0; i < JOBS; i++) {
		int h = wait_leader(jobs[i].name, 30000);
		cr_assert_geq(wait_done(h, jobs[i].name, 0, 30000), 0,
		    "host%d leads %s but did no batch:\n%s", h, jobs[i].name,
		    rt_host_log(h, "driver"));
		led[h]++;
	}
	int victim = led[2] >= led[3] ? 2 : 3, survivor = 5 - victim;
	fprintf(stderr, "10 jobs: host2 leads %d, host3 leads %d; killing host%d\n", led[2], led[3],
	    victim);
	int64_t killed = kill_driver(victim), last = killed;
	for (int i = 0; i < JOBS; i++) {
		int64_t done = wait_done(survivor, jobs[i].name, killed, 20000);
		cr_assert_geq(done, 0, "%s did not go on on host%d:\n%s", jobs[i].name, survivor,
		    rt_host_log(survivor, "driver"));
		last = done > last ? done : last;
	}
	fprintf(stderr,
	    "10 jobs: all had a batch done on host%d %" PRId64 " ms after host%d's SIGKILL\n",
	    survivor, last - killed, victim);
	cr_assert_lt(last - killed, FAILOVER_BOUND_MS);
	for (int i = 0; i < JOBS; i++)
		rt_produce_lines(jobs[i].name, rt_path(jobs[i].dir, "second"));
	for (int i = 0; i < JOBS; i++)
		wait_exact(&jobs[i], 30000);
	no_sanitizer_reports();
	for (int i = 0; i < JOBS; i++)
		rt_sh("rm -rf %s", jobs[i].dir);
}

// (g) `rill kill --graceful` while records flow: the job stops on a done
// batch and writes nothing more; `rill submit` of the same job resumes it,
// and no record is counted twice or lost.
Test(failover, graceful_kill_then_submit_resumes_exactly, .init = bed_init, .timeout = 120)
{
	fjob j = make_job("fo-resume", 2);
	spawn_executors();
	spawn_driver(2);
	producer_start(&j, 2000, 31, 60);
	submit(&j);
	cr_assert_eq(wait_leader(j.name, 30000), 2);
	char needle[160];
	snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s ", j.name);
	cr_assert(rt_wait_log(2, "driver", needle, 5, 30000), "no batches:\n%s",
	    rt_host_log(2, "driver"));

	char *err;
	int   rv = rill(j.dir, &err, "kill --zk %s %s --graceful", rt_cluster_zk(), j.name);
	cr_assert_eq(rv, 0, "rill kill exited %d: %s", rv, err);
	snprintf(needle, sizeof(needle), "msg=\"stopped as desired\" job=%s ", j.name);
	cr_assert(rt_wait_log(2, "driver", needle, 1, 15000), "the job did not stop:\n%s",
	    rt_host_log(2, "driver"));
	cr_assert_not_null(strstr(rt_host_log(2, "driver"), "result=\"ok\""),
	    "the graceful stop did not end on a done batch:\n%s", rt_host_log(2, "driver"));
	// Stopped: no batch is written while the producer goes on.
	char *before, *after, *e;
	cr_assert_eq(rt_sh_capture(j.dir, &before, &e, "ls %s", j.out), 0);
	rl_sleep_ms(1500);
	cr_assert_eq(rt_sh_capture(j.dir, &after, &e, "ls %s", j.out), 0);
	cr_assert_str_eq(after, before, "batches were written after the stop");

	submit(&j);
	snprintf(needle, sizeof(needle), "msg=\"leading\" job=%s ", j.name);
	cr_assert(rt_wait_log(2, "driver", needle, 2, 15000), "the job did not run again:\n%s",
	    rt_host_log(2, "driver"));
	rl_sleep_ms(1000);
	producer_stop(&j);
	wait_exact(&j, 30000);
	no_sanitizer_reports();
	rt_sh("rm -rf %s", j.dir);
}

// proc_state gives the state letter of process pid (/proc/PID/stat: R, S,
// T for stopped, …), or 0 when it is gone.
static char
proc_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *text = rt_read(path, NULL);
	if (text == NULL)
		return 0;
	const char *p = strrchr(text, ')');
	char        state = p != NULL && p[1] == ' ' ? p[2] : 0;
	free(text);
	return state;
}

static bool
wait_stopped(pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (proc_state(pid) == 'T')
			return true;
		rl_sleep_ms(20);
	}
	return false;
}

// since_mark gives what host h's process `name` logged after the first line
// holding mark ("" if none yet): rt_host_log's buffer, valid until the next
// rt_host_log.
static const char *
since_mark(int h, const char *name, const char *mark)
{
	const char *log = rt_host_log(h, name);
	const char *p = strstr(log, mark);
	return p != NULL ? p : "";
}

// (b) A zombie leader: the leading driver freezes itself (RILL_FAULT's
// SIGSTOP) right after its check that it is still in charge and before its
// next act, stays frozen past its session while the stand-by takes over, and
// goes on from that very point when it gets SIGCONT. Twice: frozen before it
// launches a planned batch's tasks, and frozen with a batch's transactions
// prepared, before it commits them. None of its launches or commits is
// accepted (the executors refuse its epoch), it finishes no batch, and what
// a read_committed consumer sees of the Kafka sink is exact.
Test(failover, zombie_leader_resumed_after_its_session_is_refused, .init = bed_init, .timeout = 180)
{
	fjob j = make_job_to("fo-zombie", 2, true, false);
	spawn_executors();
	producer_start(&j, 3000, 41, 120);
	submit(&j);
	static const struct {
		const char *point, *door;
	} trials[] = {
		// Its launches reach executors that saw the new leader's epoch.
		{ "batch-planned", "msg=\"task refused\"" },
		// Its commit reaches executors that saw the new leader's epoch.
		{ "sink-prepared", "msg=\"sink transaction not finished\"" },
	};
	for (size_t t = 0; t < sizeof(trials) / sizeof(trials[0]); t++) {
		// Host 2 leads, with the fault armed; host 3 stands by.
		char env[128];
		snprintf(env, sizeof(env), "RILL_FAULT=%s:0.2:stop", trials[t].point);
		if (t == 0) {
			spawn_driver_with(2, env, rt_cluster_zk(), "");
			cr_assert_eq(wait_leader(j.name, 30000), 2);
		} else { // host 3 leads now: hand the lead to a new, armed host 2
			rt_cluster("kill", "host2");
			spawn_driver_with(2, env, rt_cluster_zk(), "");
			cr_assert_eq(kill(driver_pid(3), SIGTERM), 0);
			int rv = rt_cluster("wait", "host3 --name driver --timeout 30");
			cr_assert_eq(rv, 0, "host3's driver exited %d after SIGTERM:\n%s", rv,
			    rt_host_log(3, "driver"));
		}
		char needle[160];
		snprintf(needle, sizeof(needle), "msg=\"leading\" job=%s ", j.name);
		cr_assert(rt_wait_log(2, "driver", needle, 1, 30000), "host2 does not lead:\n%s",
		    rt_host_log(2, "driver"));
		spawn_driver(3);

		pid_t zombie = driver_pid(2);
		cr_assert(wait_stopped(zombie, 60000), "trial %zu: host2 never froze at %s:\n%s", t,
		    trials[t].point, rt_host_log(2, "driver"));
		int64_t stopped = rl_now_ms();
		cr_assert_geq(wait_done(3, j.name, stopped, 20000), 0,
		    "trial %zu: host3 did not take over:\n%s", t, rt_host_log(3, "driver"));
		// Let the new leader run batches on every executor, then resume
		// the zombie where it froze.
		snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s ", j.name);
		int before = rt_count(rt_host_log(3, "driver"), needle);
		cr_assert(rt_wait_log(3, "driver", needle, before + 5, 20000));
		int refusals[7] = { 0 };
		for (int h = 4; h <= 6; h++)
			refusals[h] = rt_count(rt_host_log(h, "executor"), trials[t].door);
		cr_assert_eq(kill(zombie, SIGCONT), 0);
		cr_assert(rt_wait_log(2, "driver", "msg=\"resumed (RILL_FAULT)\"", 1, 10000));
		snprintf(needle, sizeof(needle), "msg=\"standing by\" job=%s", j.name);
		cr_assert(rt_wait_log(2, "driver", needle, 1 + (int)t, 30000),
		    "trial %zu: the zombie did not go back in line:\n%s", t,
		    rt_host_log(2, "driver"));
		// It acted, and was refused at the door.
		int refused = 0;
		for (int h = 4; h <= 6; h++)
			refused
			    += rt_count(rt_host_log(h, "executor"), trials[t].door) - refusals[h];
		cr_assert_gt(refused, 0, "trial %zu: no executor refused the zombie:\nhost2:\n%s",
		    t, since_mark(2, "driver", "msg=\"resumed (RILL_FAULT)\""));
		snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s ", j.name);
		cr_assert_null(
		    strstr(since_mark(2, "driver", "msg=\"resumed (RILL_FAULT)\""), needle),
		    "trial %zu: the zombie finished a batch:\n%s", t, rt_host_log(2, "driver"));
		fprintf(stderr, "zombie at %s: %d refusals at the executors\n", trials[t].point,
		    refused);
	}
	producer_stop(&j);
	wait_exact(&j, 60000);
	no_sanitizer_reports();
	rt_sh("rm -rf %s", j.dir);
}

// zookeeper_stop stops host 1's ZooKeeper server (its data stays).
static void
zookeeper_stop(void)
{
	cr_assert_eq(rt_sh("%s/deploy/zookeeper.sh stop --dir %s/host1/zookeeper 2>/dev/null",
	                 getenv("RILL_SOURCE_ROOT"), rt_cluster_dir()),
	    0, "cannot stop ZooKeeper");
}

// first_done_any gives the first "batch done" of job on host 2 or 3 not
// earlier than since, waiting up to timeout_ms; -1 if none.
static int64_t
first_done_any(const char *job, int64_t since, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		for (int h = 2; h <= 3; h++) {
			int64_t ts = first_done(h, job, since);
			if (ts >= 0)
				return ts;
		}
		rl_sleep_ms(50);
	}
	return -1;
}

// (e) ZooKeeper is stopped while records flow and started again, its data
// kept: for longer than the session timeout, then briefly. Each time the job
// goes on (on whichever driver leads then) and the counts end exact.
Test(failover, zookeeper_restarted_mid_run_the_job_goes_on, .init = bed_init, .timeout = 180)
{
	fjob j = make_job("fo-zk", 2);
	run_on_two_drivers(&j, 3000, 51, 120, "");
	static const int down_ms[] = { 4000, 500 };
	for (size_t t = 0; t < sizeof(down_ms) / sizeof(down_ms[0]); t++) {
		zookeeper_stop();
		rl_sleep_ms(down_ms[t]);
		cr_assert_eq(rt_cluster("zookeeper", "host1"), 0, "cannot start ZooKeeper again");
		int64_t up = rl_now_ms();
		int64_t done = first_done_any(j.name, up, 30000);
		if (done < 0) {
			char *h2 = strdup(rt_host_log(2, "driver"));
			cr_assert_fail("no batch after ZooKeeper came back (down %d ms):\n"
			               "host2:\n%s\nhost3:\n%s",
			    down_ms[t], h2, rt_host_log(3, "driver"));
		}
		fprintf(stderr,
		    "ZooKeeper down %d ms: a batch done %" PRId64 " ms after it was back\n",
		    down_ms[t], done - up);
		// Both drivers are in line again: one leads, the other stands by.
		rl_sleep_ms(2000);
	}
	producer_stop(&j);
	wait_exact(&j, 60000);
	no_sanitizer_reports();
	rt_sh("rm -rf %s", j.dir);
}

// (d) A cluster with a secret (under its own chroot): peers without it —
// an executor and a driver announcing themselves through ZooKeeper, an
// executor registering with a driver directly, `rill submit` — are refused
// and logged, and never get a job, a task or a registration; the job runs
// on the peers that hold the secret and counts exactly.
Test(failover, peers_without_the_secret_are_refused, .init = bed_init, .timeout = 150)
{
	fjob        j = make_job("fo-secret", 2);
	const char *secret = rt_write(j.dir, "secret", "the secret of this test cluster\n");
	const char *other = rt_write(j.dir, "other", "the secret of another cluster!!\n");
	cr_assert_eq(rt_sh("chmod 600 %s %s", secret, other), 0);
	char zk[512], with[4200], wrong[4200];
	snprintf(zk, sizeof(zk), "%s/secured", rt_cluster_zk());
	snprintf(with, sizeof(with), "--secret-file %s", secret);
	snprintf(wrong, sizeof(wrong), "--secret-file %s", other);

	spawn_executors_with(zk, with, 5);
	spawn_driver_with(2, "", zk, with);
	// Without the secret, or with another one, a submit is refused.
	char *err;
	int   rv = rill(j.dir, &err, "submit --zk %s %s", zk, j.job);
	cr_assert_eq(rv, 1, "a submit without the secret exited %d: %s", rv, err);
	rv = rill(j.dir, &err, "submit --zk %s %s %s", zk, wrong, j.job);
	cr_assert_eq(rv, 1, "a submit with another secret exited %d: %s", rv, err);
	submit_with(&j, zk, with);
	producer_start(&j, 2000, 61, 90);
	char needle[160];
	snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s ", j.name);
	cr_assert(rt_wait_log(2, "driver", needle, 3, 30000), "no batches:\n%s",
	    rt_host_log(2, "driver"));

	// An executor without the secret cannot announce itself.
	cr_assert_eq(rt_cluster("spawn",
	                 "host6 --name executor -- %s --zk %s --listen tcp://%s:0 --id host6"
	                 " --cores 2",
	                 rt_bin("rill-executor"), zk, rt_host_addr(6)),
	    0);
	cr_assert(rt_wait_log(6, "executor", "not authenticated", 1, 15000),
	    "the executor without the secret was not refused:\n%s", rt_host_log(6, "executor"));
	// One with another secret registering with the driver directly is
	// refused by it, and logged there.
	cr_assert_eq(
	    rt_cluster("spawn",
	        "host6 --name intruder -- %s --driver tcp://%s:%d --listen tcp://%s:0"
	        " --id intruder --cores 2 %s",
	        rt_bin("rill-executor"), rt_host_addr(2), DRIVER_PORT, rt_host_addr(6), wrong),
	    0);
	cr_assert(rt_wait_log(2, "driver", "msg=\"refused an unauthenticated request\"", 1, 15000),
	    "host2 did not refuse host6:\n%s", rt_host_log(2, "driver"));
	char peer[64];
	snprintf(peer, sizeof(peer), " peer=%s:", rt_host_addr(6));
	cr_assert_not_null(strstr(rt_host_log(2, "driver"), peer), "%s", rt_host_log(2, "driver"));
	cr_assert(rt_wait_log(6, "intruder", "msg=\"driver refused this executor\"", 1, 15000),
	    "%s", rt_host_log(6, "intruder"));
	// A driver without the secret cannot start: ZooKeeper refuses it.
	cr_assert_eq(rt_cluster("spawn", "host3 --name driver -- %s --zk %s --listen tcp://%s:%d",
	                 rt_bin("rill-driver"), zk, rt_host_addr(3), DRIVER_PORT),
	    0);
	rv = rt_cluster("wait", "host3 --name driver --timeout 30");
	cr_assert_eq(
	    rv, 1, "the driver without the secret exited %d:\n%s", rv, rt_host_log(3, "driver"));
	cr_assert_not_null(
	    strstr(rt_host_log(3, "driver"), "not authenticated"), "%s", rt_host_log(3, "driver"));
	producer_stop(&j);
	wait_exact(&j, 60000);
	cr_assert_eq(
	    rt_count(rt_host_log(6, "intruder"), "task"), 0, "%s", rt_host_log(6, "intruder"));
	cr_assert_eq(
	    rt_count(rt_host_log(6, "executor"), "task"), 0, "%s", rt_host_log(6, "executor"));
	// The driver logs every executor it registers or finds with its id (at
	// info): neither of the two ever reached it.
	cr_assert_null(strstr(rt_host_log(2, "driver"), "id=host6 "),
	    "the driver found the executor without the secret:\n%s", rt_host_log(2, "driver"));
	cr_assert_null(strstr(rt_host_log(2, "driver"), "id=intruder "),
	    "the driver registered the executor with another secret:\n%s",
	    rt_host_log(2, "driver"));
	fprintf(stderr, "executor without the secret: %s", rt_host_log(6, "executor"));
	fprintf(stderr, "driver without the secret: %s", rt_host_log(3, "driver"));
	no_sanitizer_reports();
	rt_sh("rm -rf %s", j.dir);
}

// A stateful job (update_state_by_key) on drivers with no shared directory:
// the leader is SIGKILLed twice while records flow; each time the stand-by
// goes on from the state its executors hold or restore from the job's Kafka
// changelog, and the newest batch holds every word's total, exact.
Test(failover, stateful_job_moves_with_its_state, .init = bed_init, .timeout = 150)
{
	fjob j = make_job_to("fo-state", 2, false, true);
	int  leader = run_on_two_drivers(&j, 3000, 71, 90, "");
	for (int t = 0; t < 2; t++) {
		int  standby = leader == 2 ? 3 : 2;
		char needle[160];
		snprintf(needle, sizeof(needle), "msg=\"batch done\" job=%s ", j.name);
		int before = rt_count(rt_host_log(leader, "driver"), needle);
		cr_assert(rt_wait_log(leader, "driver", needle, before + 5, 20000));
		int64_t killed = kill_driver(leader);
		cr_assert_geq(wait_done(standby, j.name, killed, 20000), 0,
		    "host%d did not take over:\n%s", standby, rt_host_log(standby, "driver"));
		spawn_driver_with(leader, "", rt_cluster_zk(), "");
		leader = standby;
	}
	producer_stop(&j);
	wait_exact(&j, 60000);
	no_sanitizer_reports();
	rt_sh("rm -rf %s", j.dir);
}
