// SPDX-License-Identifier: Apache-2.0
// The cluster daemon (driver/daemon.c) in one process against a real
// ZooKeeper (fixtures/zk_hooks.c): two daemons, each with its own session,
// two executors announced in ZooKeeper, jobs submitted through
// driver/jobstore.h with the memory source and the two-phase memory sink;
// outputs checked against word counts the test makes from what it appended.
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.pb-c.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/time.h"
#include "common/zk.h"
#include "driver/daemon.h"
#include "driver/election.h"
#include "driver/jobstore.h"
#include "executor/executor.h"
#include "tests/fixtures/fixture.h"
#include "tests/fixtures/memory_connector.h"

#define NSPLITS 3
#define NEXECS 2
#define NDAEMONS 2
#define MAX_JOBS 10
#define WAIT_MS 20000
#define SESSION_MS 4000

static const char *const vocab[] = { "apple", "brook", "cedar", "delta", "ember", "fjord", "grove",
	"heron", "inlet", "juniper" };
#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

// ---- input and its reference ----

// A job's topic and what the test appended to it, counted by word.
typedef struct topic {
	char    name[32]; // the job, its topic and its table share the name
	int64_t want[NVOCAB];
	int64_t appended;
} topic;

static uint32_t seed = 4242;

static uint32_t
next_random(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffffff;
}

// feed appends n records of 1 to 3 words to every split of t.
static void
feed(topic *t, int n)
{
	for (int s = 0; s < NSPLITS; s++)
		for (int i = 0; i < n; i++) {
			char   value[96] = "";
			size_t len = 0;
			int    words = 1 + (int)(next_random() % 3);
			for (int w = 0; w < words; w++) {
				size_t v = next_random() % NVOCAB;
				len += (size_t)snprintf(value + len, sizeof(value) - len, "%s%s",
				    w > 0 ? " " : "", vocab[v]);
				t->want[v]++;
			}
			rt_memory_append(t->name, s, NULL, value, rl_now_ms());
			t->appended++;
		}
}

static int
vocab_index(const char *word, size_t len)
{
	for (size_t i = 0; i < NVOCAB; i++)
		if (strlen(vocab[i]) == len && memcmp(vocab[i], word, len) == 0)
			return (int)i;
	return -1;
}

// table_counts adds up every batch the table published into got, checking
// that no batch was published twice or with two contents and that nothing
// prepared is left behind; returns the number of published batches.
static size_t
table_counts(const char *table, int64_t *got)
{
	rt_memory_batch *batches;
	size_t           n = rt_memory_table_batches(table, &batches), published = 0;
	for (size_t i = 0; i < n; i++) {
		const rt_memory_batch *b = &batches[i];
		cr_expect_eq(b->b_changes, 0,
		    "%s: batch %" PRId64 " published with %d other contents", table, b->b_batch_ms,
		    b->b_changes);
		cr_expect_eq((size_t)b->b_publishes, b->b_partitions,
		    "%s: batch %" PRId64 ": %d commits of %zu partitions", table, b->b_batch_ms,
		    b->b_publishes, b->b_partitions);
		published += b->b_partitions > 0;
		const char *p = b->b_output;
		while (*p != '\0') {
			const char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
			cr_assert(tab != NULL && nl != NULL && tab < nl, "not word\\tcount: %s", p);
			int w = vocab_index(p, (size_t)(tab - p));
			cr_assert_geq(w, 0, "unknown word in %.*s", (int)(nl - p), p);
			got[w] += strtoll(tab + 1, NULL, 10);
			p = nl + 1;
		}
	}
	rt_memory_batches_free(batches, n);
	return published;
}

static void
expect_exact(const char *what, const int64_t *got, const int64_t *want)
{
	for (size_t w = 0; w < NVOCAB; w++)
		cr_expect_eq(got[w], want[w], "%s: '%s' counted %" PRId64 ", reference %" PRId64,
		    what, vocab[w], got[w], want[w]);
}

// caught_up tells whether every split of t was committed to its end.
static bool
caught_up(const topic *t)
{
	for (int s = 0; s < NSPLITS; s++)
		if (rt_memory_committed(t->name, s) != rt_memory_latest(t->name, s))
			return false;
	return true;
}

// ---- the cluster: executors, daemons, the test's session ----

typedef struct dthread {
	rl_daemon *d;
	pthread_t  th;
	rl_err     rv;
	char       why[512];
	bool       alive;
} dthread;

typedef struct cluster {
	char         chroot[64];
	char         connect[256];
	rl_zk       *zk; // the test's own session, in the chroot
	rl_executor *ex[NEXECS];
	pthread_t    ex_th[NEXECS];
	dthread      dm[NDAEMONS];
	topic        topics[MAX_JOBS];
	int          ntopics;
} cluster;

static void *
executor_main(void *arg)
{
	rl_executor_run(arg);
	return NULL;
}

static void *
daemon_main(void *arg)
{
	dthread *t = arg;
	t->rv = rl_daemon_run(t->d, t->why, sizeof(t->why));
	return NULL;
}

static void
daemon_start(cluster *c, int i)
{
	char           why[512];
	rl_daemon_opts opts = {
		.zk_connect = c->connect,
		.listen_url = "tcp://127.0.0.1:0",
		.zk_session_timeout_ms = SESSION_MS,
		.rejoin_backoff_ms = 300,
		.min_executors = NEXECS,
	};
	cr_assert_eq(rl_daemon_create(&opts, &c->dm[i].d, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(pthread_create(&c->dm[i].th, NULL, daemon_main, &c->dm[i]), 0);
	c->dm[i].alive = true;
}

// daemon_end stops daemon i gracefully, or as a crash (its session closed
// without resigning, as when the process dies).
static void
daemon_end(cluster *c, int i, bool crash)
{
	dthread *t = &c->dm[i];
	if (crash)
		rl_daemon_crash(t->d);
	else
		rl_daemon_stop(t->d);
	pthread_join(t->th, NULL);
	cr_expect_eq(t->rv, RL_OK, "daemon %d: %s", i, t->why);
	rl_daemon_destroy(t->d);
	t->d = NULL;
	t->alive = false;
}

static void
cluster_start(cluster *c)
{
	char why[512];
	rl_log_init();
	rt_memory_register();
	rt_memory_reset();
	snprintf(c->chroot, sizeof(c->chroot), "/daemon-%ld", (long)getpid());
	snprintf(c->connect, sizeof(c->connect), "%s%s", rt_zk(), c->chroot);
	cr_assert_eq(
	    rl_zk_connect(c->connect, 5000, WAIT_MS, &c->zk, why, sizeof(why)), RL_OK, "%s", why);
	for (int i = 0; i < NEXECS; i++) {
		char             id[32];
		rl_executor_opts opts = {
			.listen_url = "tcp://127.0.0.1:0",
			.zk_connect = c->connect,
			.zk_session_timeout_ms = 5000,
			.id = id,
			.cores = 2,
		};
		snprintf(id, sizeof(id), "daemon-exec-%d", i);
		cr_assert_eq(
		    rl_executor_create(&opts, &c->ex[i], why, sizeof(why)), RL_OK, "%s", why);
		cr_assert_eq(pthread_create(&c->ex_th[i], NULL, executor_main, c->ex[i]), 0);
	}
	for (int i = 0; i < NDAEMONS; i++)
		daemon_start(c, i);
}

static void
cluster_stop(cluster *c)
{
	char why[512];
	for (int i = 0; i < NDAEMONS; i++)
		if (c->dm[i].alive)
			daemon_end(c, i, false);
	for (int i = 0; i < NEXECS; i++)
		rl_executor_stop(c->ex[i]);
	for (int i = 0; i < NEXECS; i++) {
		pthread_join(c->ex_th[i], NULL);
		rl_executor_destroy(c->ex[i]);
	}
	rl_zk_close(c->zk);
	rl_zk *root;
	cr_assert_eq(
	    rl_zk_connect(rt_zk(), 5000, WAIT_MS, &root, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(rl_zk_delete(root, c->chroot, true, why, sizeof(why)), RL_OK, "%s", why);
	rl_zk_close(root);
}

#define JOB_TEXT                                                                                   \
	"name: %s\n"                                                                               \
	"batch: %s\n"                                                                              \
	"source:\n"                                                                                \
	"  memory: {topic: %s, backpressure: false, max_rate_per_split: 5000}\n"                   \
	"pipeline:\n"                                                                              \
	"  - flat_map: words\n"                                                                    \
	"  - map_values: one\n"                                                                    \
	"%s"                                                                                       \
	"sink:\n"                                                                                  \
	"  memory: {table: %s, two_phase: true}\n"
#define WORDCOUNT_STEP "  - reduce_by_key: sum\n"

// put_job writes job name's spec (a new job when version is -1) with the
// given pipeline tail and sink table, desired run.
static void
put_job(cluster *c, const char *name, const char *batch, const char *tail, const char *table,
    int32_t version)
{
	char text[1024], why[512];
	snprintf(text, sizeof(text), JOB_TEXT, name, batch, name, tail, table);
	rt_memory_table_create(table);
	Rill__JobSpec spec = RILL__JOB_SPEC__INIT;
	spec.job_text.data = (uint8_t *)text;
	spec.job_text.len = strlen(text);
	spec.filename = "daemon-test.yaml";
	spec.submitted_ms = rl_now_ms();
	cr_assert_eq(
	    rl_jobstore_put(c->zk, name, &spec, version, RL_DESIRED_RUN, NULL, why, sizeof(why)),
	    RL_OK, "%s", why);
}

// submit makes a topic for a new word-count job of that name and submits it.
static topic *
submit(cluster *c, const char *name, const char *batch)
{
	cr_assert_lt(c->ntopics, MAX_JOBS);
	topic *t = &c->topics[c->ntopics++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	rt_memory_topic_create(name, NSPLITS);
	put_job(c, name, batch, WORDCOUNT_STEP, name, -1);
	return t;
}

static int
leading_total(const cluster *c)
{
	int n = 0;
	for (int i = 0; i < NDAEMONS; i++)
		if (c->dm[i].alive)
			n += rl_daemon_leading(c->dm[i].d);
	return n;
}

// wait_leading waits until daemon i (or, with i = -1, all daemons together)
// leads n jobs.
static bool
wait_leading(const cluster *c, int i, int n)
{
	int64_t deadline = rl_mono_ms() + WAIT_MS;
	while ((i < 0 ? leading_total(c) : rl_daemon_leading(c->dm[i].d)) != n) {
		if (rl_mono_ms() > deadline)
			return false;
		rl_sleep_ms(10);
	}
	return true;
}

// leader_index is which daemon leads job (by the leader node's URL), or -1.
static int
leader_index(cluster *c, const char *job, int64_t *ret_epoch)
{
	rl_election_view view;
	char             why[512];
	cr_assert_eq(rl_election_query(c->zk, job, &view, why, sizeof(why)), RL_OK, "%s", why);
	int found = -1;
	for (int i = 0; i < NDAEMONS && view.leader_url != NULL; i++)
		if (c->dm[i].alive && strcmp(view.leader_url, rl_daemon_url(c->dm[i].d)) == 0)
			found = i;
	if (ret_epoch != NULL)
		*ret_epoch = view.leader_epoch;
	rl_election_view_fini(&view);
	return found;
}

// run_for feeds every topic n records a split every 20 ms for ms.
static void
run_for(cluster *c, int64_t ms, int n)
{
	int64_t end = rl_mono_ms() + ms;
	while (rl_mono_ms() < end) {
		for (int i = 0; i < c->ntopics; i++)
			feed(&c->topics[i], n);
		rl_sleep_ms(20);
	}
}

static void
wait_caught_up(const cluster *c)
{
	for (int i = 0; i < c->ntopics; i++) {
		int64_t deadline = rl_mono_ms() + WAIT_MS;
		while (!caught_up(&c->topics[i])) {
			cr_assert_lt(
			    rl_mono_ms(), deadline, "%s: not caught up in time", c->topics[i].name);
			rl_sleep_ms(20);
		}
	}
}

// check_exact checks each job's table against its topic's reference.
static void
check_exact(const cluster *c)
{
	for (int i = 0; i < c->ntopics; i++) {
		const topic *t = &c->topics[i];
		int64_t      got[NVOCAB] = { 0 };
		size_t       batches = table_counts(t->name, got);
		cr_expect_gt(batches, 0, "%s: nothing published", t->name);
		expect_exact(t->name, got, t->want);
		cr_expect_eq(
		    rt_memory_table_left(t->name), 0, "%s: prepared outputs left", t->name);
	}
}

// ---- the tests ----

Test(daemon, job_runs_on_exactly_one_daemon_with_exact_output, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	topic *t = submit(&c, "solo", "50ms");
	cr_assert(wait_leading(&c, -1, 1), "nobody leads the job");
	int leader = leader_index(&c, "solo", NULL);
	cr_assert_geq(leader, 0, "the leader node names no daemon");
	cr_expect_eq(rl_daemon_leading(c.dm[leader].d), 1);
	cr_expect_eq(rl_daemon_leading(c.dm[1 - leader].d), 0, "two daemons run the job");
	run_for(&c, 600, 20);
	cr_expect_eq(leading_total(&c), 1, "two daemons run the job");
	wait_caught_up(&c);
	cluster_stop(&c);
	check_exact(&c);
	cr_expect_gt(t->appended, 0);
}

Test(daemon, leader_crash_moves_job_with_higher_epoch_each_batch_once, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	submit(&c, "crash", "50ms");
	cr_assert(wait_leading(&c, -1, 1), "nobody leads the job");
	int64_t epoch;
	int     leader = leader_index(&c, "crash", &epoch);
	cr_assert_geq(leader, 0);
	run_for(&c, 500, 20);
	int64_t t0 = rl_mono_ms();
	daemon_end(&c, leader, true); // mid-run: batches every 50 ms
	cr_assert(wait_leading(&c, 1 - leader, 1), "the other daemon did not take over");
	int64_t new_epoch;
	cr_expect_eq(leader_index(&c, "crash", &new_epoch), 1 - leader);
	cr_expect_gt(new_epoch, epoch, "epoch %" PRId64 " after %" PRId64, new_epoch, epoch);
	printf("daemon: the job moved in %" PRId64 " ms\n", rl_mono_ms() - t0);
	run_for(&c, 500, 20);
	wait_caught_up(&c);
	cluster_stop(&c);
	check_exact(&c);
}

Test(daemon, stop_graceful_finishes_the_batch_and_run_resumes_exactly, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	topic *t = submit(&c, "pause", "50ms");
	char   why[512];
	cr_assert(wait_leading(&c, -1, 1), "nobody leads the job");
	run_for(&c, 400, 20);
	cr_assert_eq(
	    rl_jobstore_set_desired(c.zk, "pause", RL_DESIRED_STOP_GRACEFUL, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert(wait_leading(&c, -1, 0), "the job did not stop");
	// Nobody is in line, and the last batch is done, its output published.
	rl_election_view view;
	int64_t          deadline = rl_mono_ms() + WAIT_MS;
	for (;;) {
		cr_assert_eq(
		    rl_election_query(c.zk, "pause", &view, why, sizeof(why)), RL_OK, "%s", why);
		bool empty = view.leader_url == NULL && view.standby_count == 0;
		rl_election_view_fini(&view);
		if (empty)
			break;
		cr_assert_lt(rl_mono_ms(), deadline, "drivers still in line after stop-graceful");
		rl_sleep_ms(20);
	}
	Rill__BatchRecord **recs;
	size_t              nrecs;
	cr_assert_eq(rl_jobstore_log(c.zk, "pause", ~0u, 1, &recs, &nrecs, why, sizeof(why)), RL_OK,
	    "%s", why);
	cr_assert_eq(nrecs, 1);
	cr_expect_eq(recs[0]->phase, RILL__BATCH_RECORD__PHASE__DONE, "the last batch is %d",
	    recs[0]->phase);
	rl_jobstore_log_free(recs, nrecs);
	cr_expect_eq(rt_memory_table_left("pause"), 0, "prepared outputs left after the stop");
	int64_t before[NVOCAB] = { 0 }, after[NVOCAB] = { 0 };
	size_t  published = table_counts("pause", before);
	// Stopped: input waits, nothing is published.
	run_for(&c, 300, 20);
	cr_expect_eq(table_counts("pause", after), published, "published while stopped");
	cr_expect_eq(leading_total(&c), 0);
	cr_assert_eq(rl_jobstore_set_desired(c.zk, "pause", RL_DESIRED_RUN, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert(wait_leading(&c, -1, 1), "the job did not run again");
	run_for(&c, 300, 20);
	wait_caught_up(&c);
	cluster_stop(&c);
	check_exact(&c);
	cr_expect_gt(t->appended, 0);
}

Test(daemon, ten_jobs_go_on_when_a_daemon_dies, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	for (int i = 0; i < MAX_JOBS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many-%d", i);
		submit(&c, name, "200ms");
	}
	cr_assert(wait_leading(&c, -1, MAX_JOBS), "not every job has a leader");
	run_for(&c, 600, 5);
	int victim = rl_daemon_leading(c.dm[0].d) >= rl_daemon_leading(c.dm[1].d) ? 0 : 1;
	int moved = rl_daemon_leading(c.dm[victim].d);
	printf("daemon: %d and %d jobs led before the crash\n", rl_daemon_leading(c.dm[0].d),
	    rl_daemon_leading(c.dm[1].d));
	int64_t t0 = rl_mono_ms();
	daemon_end(&c, victim, true);
	cr_assert(wait_leading(&c, 1 - victim, MAX_JOBS), "the survivor does not lead all jobs");
	int64_t took = rl_mono_ms() - t0;
	printf("daemon: %d jobs moved in %" PRId64 " ms (crash to every runner started)\n", moved,
	    took);
	// All go on: each publishes batches of what comes after the move.
	int64_t published[MAX_JOBS];
	for (int i = 0; i < MAX_JOBS; i++) {
		int64_t got[NVOCAB] = { 0 };
		published[i] = (int64_t)table_counts(c.topics[i].name, got);
	}
	run_for(&c, 600, 5);
	wait_caught_up(&c);
	for (int i = 0; i < MAX_JOBS; i++) {
		int64_t got[NVOCAB] = { 0 };
		cr_expect_gt((int64_t)table_counts(c.topics[i].name, got), published[i],
		    "%s: nothing published after the move", c.topics[i].name);
	}
	cluster_stop(&c);
	check_exact(&c);
}

Test(daemon, spec_change_is_picked_up_without_losing_a_batch, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	topic *t = submit(&c, "upgrade", "50ms");
	char   why[512];
	cr_assert(wait_leading(&c, -1, 1), "nobody leads the job");
	int64_t epoch;
	int     leader = leader_index(&c, "upgrade", &epoch);
	run_for(&c, 400, 20);
	// The new spec writes to another table.
	Rill__JobSpec *old;
	int32_t        version;
	cr_assert_eq(rl_jobstore_get_spec(c.zk, "upgrade", &old, &version, why, sizeof(why)), RL_OK,
	    "%s", why);
	rill__job_spec__free_unpacked(old, NULL);
	put_job(&c, "upgrade", "50ms", WORDCOUNT_STEP, "upgrade-v2", version);
	int64_t deadline = rl_mono_ms() + WAIT_MS;
	int64_t got_v2[NVOCAB] = { 0 };
	while (table_counts("upgrade-v2", got_v2) == 0) {
		cr_assert_lt(rl_mono_ms(), deadline, "the new spec publishes nothing");
		feed(t, 5);
		rl_sleep_ms(20);
		memset(got_v2, 0, sizeof(got_v2));
	}
	int64_t new_epoch;
	cr_expect_eq(leader_index(&c, "upgrade", &new_epoch), leader, "the leader changed");
	cr_expect_eq(new_epoch, epoch, "an upgrade keeps the epoch");
	run_for(&c, 300, 20);
	wait_caught_up(&c);
	cluster_stop(&c);
	// Both tables together count every record once.
	int64_t got[NVOCAB] = { 0 };
	table_counts("upgrade", got);
	table_counts("upgrade-v2", got);
	expect_exact("upgrade + upgrade-v2", got, t->want);
	cr_expect_eq(rt_memory_table_left("upgrade") + rt_memory_table_left("upgrade-v2"), 0);
}

Test(daemon, stateful_job_is_refused_not_run, .timeout = 60)
{
	cluster c = { 0 };
	cluster_start(&c);
	rt_memory_topic_create("state", NSPLITS);
	put_job(&c, "state", "50ms", "  - update_state_by_key: sum\n", "state", -1);
	topic *t = submit(&c, "plain", "50ms");
	cr_assert(wait_leading(&c, -1, 1), "the stateless job does not run");
	run_for(&c, 300, 5);
	cr_expect_eq(leading_total(&c), 1, "the stateful job runs");
	cr_expect_lt(leader_index(&c, "state", NULL), 0, "someone leads the stateful job");
	wait_caught_up(&c);
	cluster_stop(&c);
	rt_memory_batch *batches;
	size_t           n = rt_memory_table_batches("state", &batches);
	rt_memory_batches_free(batches, n);
	cr_expect_eq(n, 0, "the stateful job published");
	check_exact(&c);
	cr_expect_gt(t->appended, 0);
}
