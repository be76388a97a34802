// SPDX-License-Identifier: Apache-2.0
// The batch loop end to end, hermetically: a word count from the memory
// source to the memory sink on two in-process executors over loopback nng,
// crashed at every fault point and recovered, checked against counts the
// test makes itself from the records it appended. Built a second time with
// RUNNER_TEST_ZK (the runner_zk suite): the same tests with the batch log in
// ZooKeeper (a real server, fixtures/zk_hooks.c) instead of the directory,
// and a third time with RUNNER_TEST_DISCOVERY (the runner_discovery test):
// executors that register with no driver, announced in ZooKeeper and found
// there by the pool's discovery (driver/discovery.c).
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/fault.h"
#include "common/fsutil.h"
#include "common/jobfile.h"
#include "common/log.h"
#include "common/time.h"
#include "driver/batch_log.h"
#include "driver/checkpoint.h"
#include "driver/executors.h"
#include "driver/runner.h"
#include "driver/sizing.h"
#include "executor/executor.h"
#include "executor/sink.h"
#include "executor/source.h"
#include "tests/fixtures/memory_connector.h"
#if defined(RUNNER_TEST_ZK) || defined(RUNNER_TEST_DISCOVERY)
#include <unistd.h>

#include "common/zk.h"
#include "driver/progress.h"
#include "tests/fixtures/fixture.h"
#endif
#ifdef RUNNER_TEST_DISCOVERY
#include "driver/discovery.h"
#endif

#define TOPIC "words"
#define TABLE "counts"
#define NSPLITS 3
#define NEXECS 2
#define MAX_RECORDS 1024 // per split
#define INTERVAL_MS 50

static const char *const vocab[] = { "apple", "brook", "cedar", "delta", "ember", "fjord", "grove",
	"heron", "inlet", "juniper", "kelp", "lumen", "maple", "nectar", "orbit", "pearl", "quartz",
	"reef", "sable", "tundra" };
#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

// ---- the test's own copy of the input, and references from it ----

static char    *appended[NSPLITS][MAX_RECORDS];
static int64_t  nappended[NSPLITS];
static uint32_t seed = 12345;

static uint32_t
next_random(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffffff;
}

// append_records adds n records of 1 to 4 words to every split, every third
// with a key, and keeps a copy.
static void
append_records(int n)
{
	for (int s = 0; s < NSPLITS; s++) {
		for (int i = 0; i < n; i++) {
			char   value[128] = "";
			size_t len = 0;
			int    words = 1 + (int)(next_random() % 4);
			for (int w = 0; w < words; w++)
				len += (size_t)snprintf(value + len, sizeof(value) - len, "%s%s",
				    w > 0 ? " " : "", vocab[next_random() % NVOCAB]);
			cr_assert_lt(nappended[s], MAX_RECORDS);
			int64_t at = rt_memory_append(
			    TOPIC, s, i % 3 == 0 ? "k" : NULL, value, rl_now_ms());
			cr_assert_eq(at, nappended[s], "split %d: appended at %" PRId64, s, at);
			appended[s][nappended[s]++] = rl_strdup(value);
		}
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

// count_range adds the words of split s's records [from, until) to counts.
static void
count_range(int s, int64_t from, int64_t until, int64_t *counts)
{
	cr_assert(from >= 0 && until <= nappended[s] && from <= until,
	    "split %d: range [%" PRId64 ", %" PRId64 ") outside what was appended (%" PRId64 ")", s,
	    from, until, nappended[s]);
	for (int64_t i = from; i < until; i++) {
		const char *p = appended[s][i];
		while (*p != '\0') {
			size_t len = strcspn(p, " ");
			int    w = vocab_index(p, len);
			cr_assert_geq(w, 0);
			counts[w]++;
			p += len;
			p += *p == ' ';
		}
	}
}

// count_output adds the "word\tcount" lines of a published output to counts.
static void
count_output(const char *text, int64_t *counts)
{
	const char *p = text;
	while (*p != '\0') {
		const char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
		cr_assert(tab != NULL && nl != NULL && tab < nl, "not a word\\tcount line: %s", p);
		int w = vocab_index(p, (size_t)(tab - p));
		cr_assert_geq(w, 0, "unknown word in %.*s", (int)(nl - p), p);
		counts[w] += strtoll(tab + 1, NULL, 10);
		p = nl + 1;
	}
}

static void
expect_counts(const int64_t *got, const int64_t *want, const char *what)
{
	for (size_t w = 0; w < NVOCAB; w++)
		cr_expect_eq(got[w], want[w], "%s: '%s' counted %" PRId64 ", reference %" PRId64,
		    what, vocab[w], got[w], want[w]);
}

// ---- the loop's surroundings: pool, executors, checkpoint ----

typedef struct harness {
	rl_pool     *pool;
	rl_executor *ex[NEXECS];
	pthread_t    th[NEXECS];
	char         dir[64];
	rl_job      *job;
	bool         two_phase;
#ifdef RUNNER_TEST_ZK
	rl_zk  *zk;
	char    zk_job[64]; // the log is /rill/jobs/<zk_job>/log
	char    zk_log[128];
	int32_t epoch;
#endif
#ifdef RUNNER_TEST_DISCOVERY
	// Each test process has a chroot of its own: its executors' nodes are
	// not another process's (whose memory store this one does not share).
	char          zk_chroot[64];
	char          zk_connect[256];
	rl_discovery *discovery;
#endif
} harness;

static void *
executor_main(void *arg)
{
	rl_executor_run(arg);
	return NULL;
}

static void
start_executors(harness *h)
{
	for (int i = 0; i < NEXECS; i++) {
		char             id[32], why[512];
		rl_executor_opts opts = {
			.listen_url = "tcp://127.0.0.1:0",
			.driver_url = rl_pool_url(h->pool),
			.id = id,
			.cores = 2,
			.heartbeat_ms = 100,
		};
#ifdef RUNNER_TEST_DISCOVERY
		opts.driver_url = NULL; // found only through ZooKeeper
		opts.zk_connect = h->zk_connect;
		opts.zk_session_timeout_ms = 5000;
#endif
		snprintf(id, sizeof(id), "memory-exec-%d", i);
		cr_assert_eq(
		    rl_executor_create(&opts, &h->ex[i], why, sizeof(why)), RL_OK, "%s", why);
		cr_assert_eq(pthread_create(&h->th[i], NULL, executor_main, h->ex[i]), 0);
	}
}

static void
stop_executors(harness *h)
{
	for (int i = 0; i < NEXECS; i++)
		rl_executor_stop(h->ex[i]);
	for (int i = 0; i < NEXECS; i++) {
		pthread_join(h->th[i], NULL);
		rl_executor_destroy(h->ex[i]);
		h->ex[i] = NULL;
	}
}

// harness_start parses the job (printf-style text) and starts the pool and
// the executors; the topic and the table exist empty.
static void harness_start(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
harness_start(harness *h, const char *fmt, ...)
{
	rl_log_init();
	rt_memory_register();
	rt_memory_reset();
	rt_memory_topic_create(TOPIC, NSPLITS);
	rt_memory_table_create(TABLE);
	char    text[2048], why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cr_assert_eq(rl_job_parse(text, strlen(text), "memory.yaml", &h->job, why, sizeof(why)),
	    RL_OK, "%s", why);
	h->two_phase = ((const rt_memory_sink *)h->job->j_sink.c_conf)->m_two_phase;
	snprintf(h->dir, sizeof(h->dir), "/tmp/rill-runner-test-XXXXXX");
	cr_assert_not_null(mkdtemp(h->dir));
	cr_assert_eq(rl_pool_create("tcp://127.0.0.1:0", 5000, &h->pool, why, sizeof(why)), RL_OK,
	    "%s", why);
#ifdef RUNNER_TEST_DISCOVERY
	snprintf(h->zk_chroot, sizeof(h->zk_chroot), "/runner-discovery-%ld", (long)getpid());
	snprintf(h->zk_connect, sizeof(h->zk_connect), "%s%s", rt_zk(), h->zk_chroot);
	cr_assert_eq(rl_discovery_start(
	                 h->pool, h->zk_connect, 5000, 10000, &h->discovery, why, sizeof(why)),
	    RL_OK, "%s", why);
#endif
	start_executors(h);
#ifdef RUNNER_TEST_DISCOVERY
	// The pool knows the executors by their nodes alone, at their URLs.
	cr_assert(rl_pool_wait_for(h->pool, NEXECS, 10000, NULL), "executors not found in %s",
	    h->zk_connect);
	for (int i = 0; i < NEXECS; i++) {
		char id[32], url[RL_POOL_URL_MAX] = "";
		snprintf(id, sizeof(id), "memory-exec-%d", i);
		int index = rl_pool_find(h->pool, id);
		cr_assert_geq(index, 0, "%s not in the pool", id);
		cr_assert(rl_pool_exec_url(h->pool, index, url, sizeof(url)));
		cr_assert_str_eq(url, rl_executor_url(h->ex[i]));
	}
#endif
#ifdef RUNNER_TEST_ZK
	// A job of its own for each test process; its first leader's epoch.
	cr_assert_eq(
	    rl_zk_connect(rt_zk(), 5000, 10000, &h->zk, why, sizeof(why)), RL_OK, "%s", why);
	snprintf(h->zk_job, sizeof(h->zk_job), "runner-%ld", (long)getpid());
	snprintf(h->zk_log, sizeof(h->zk_log), "/rill/jobs/%s/log", h->zk_job);
	char       epoch_path[128];
	rl_zk_stat st;
	snprintf(epoch_path, sizeof(epoch_path), "/rill/jobs/%s/epoch", h->zk_job);
	cr_assert_eq(rl_zk_set(h->zk, epoch_path, "", 0, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(rl_zk_set_version(h->zk, epoch_path, "", 0, -1, &st, why, sizeof(why)), RL_OK,
	    "%s", why);
	h->epoch = st.version;
#endif
}

// open_log opens the batch log the runner uses, as the test reads it.
static rl_batch_log *
open_log(const harness *h)
{
	rl_batch_log *log;
	char          why[512];
#ifdef RUNNER_TEST_ZK
	cr_assert_eq(rl_batch_log_open_zk(
	                 h->zk, h->zk_job, h->epoch, 1000, NULL, NULL, &log, why, sizeof(why)),
	    RL_OK, "%s", why);
#else
	cr_assert_eq(rl_batch_log_open_dir(h->dir, 1000, NULL, NULL, &log, why, sizeof(why)), RL_OK,
	    "%s", why);
#endif
	return log;
}

static void
harness_stop(harness *h)
{
	rl_fault_hook(NULL, NULL);
	stop_executors(h);
#ifdef RUNNER_TEST_ZK
	char why[512], job_path[128];
	snprintf(job_path, sizeof(job_path), "/rill/jobs/%s", h->zk_job);
	cr_expect_eq(rl_zk_delete(h->zk, job_path, true, why, sizeof(why)), RL_OK, "%s", why);
	rl_zk_close(h->zk);
#endif
#ifdef RUNNER_TEST_DISCOVERY
	rl_discovery_stop(h->discovery);
	rl_zk *root;
	char   why[512];
	cr_assert_eq(
	    rl_zk_connect(rt_zk(), 5000, 10000, &root, why, sizeof(why)), RL_OK, "%s", why);
	cr_expect_eq(rl_zk_delete(root, h->zk_chroot, true, why, sizeof(why)), RL_OK, "%s", why);
	rl_zk_close(root);
#endif
	rl_pool_destroy(h->pool);
	rl_job_destroy(h->job);
	rl_remove_tree(h->dir);
}

// The word count over the memory connectors: the first %s goes into
// `catch_up:`, the second into `memory: {topic: words, ...}`, the third
// into the sink's `two_phase:`. MAP_ONLY_JOB counts nothing itself: its
// "word\t1" lines come straight from the tasks that read the splits. Its
// shuffle is as wide as the splits, however small a batch (the default
// width would shrink to 1 for these batches of tens of records).
#define JOB_HEAD_AT(width)                                                                         \
	"name: wc-memory\n"                                                                        \
	"batch: 50ms\n"                                                                            \
	"shuffle_partitions: " width "\n"                                                          \
	"catch_up: %s\n"                                                                           \
	"source:\n"                                                                                \
	"  memory: {topic: " TOPIC ", %s}\n"                                                       \
	"pipeline:\n"                                                                              \
	"  - flat_map: words\n"                                                                    \
	"  - map_values: one\n"
#define JOB_SINK                                                                                   \
	"sink:\n"                                                                                  \
	"  memory: {table: " TABLE ", two_phase: %s}\n"
#define JOB_HEAD JOB_HEAD_AT("3")
#define WORDCOUNT_JOB_AT(width) JOB_HEAD_AT(width) "  - reduce_by_key: sum\n" JOB_SINK
#define WORDCOUNT_JOB WORDCOUNT_JOB_AT("3")
#define MAP_ONLY_JOB JOB_HEAD JOB_SINK

typedef struct run_result {
	rl_err          rv;
	rl_runner_stats stats;
	char            why[1024];
} run_result;

// run_job runs the job once on the harness's checkpoint directory:
// available_now, or for run_for_ms.
static run_result
run_job(harness *h, bool available_now, int64_t run_for_ms)
{
	run_result     res = { 0 };
	rl_runner_opts opts = {
		.available_now = available_now,
		.run_for_ms = run_for_ms,
		.min_executors = NEXECS,
		.checkpoint_dir = h->dir,
		.checkpoint_keep = 1000,
	};
#ifdef RUNNER_TEST_ZK
	opts.batch_log = open_log(h);
#endif
	rl_runner *r;
	res.rv = rl_runner_create(h->job, h->pool, &opts, &r, res.why, sizeof(res.why));
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	res.rv = rl_runner_run(r, &res.stats, res.why, sizeof(res.why));
	rl_runner_destroy(r);
	rl_batch_log_close(opts.batch_log);
	return res;
}

// ---- the checkpoint, as the test reads it ----

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

// batch_files lists the batch times that have a record of phase, sorted.
static size_t
batch_files(const harness *h, const char *phase, int64_t *ret, size_t max)
{
	size_t n = 0;
#ifdef RUNNER_TEST_ZK
	char **names;
	size_t count;
	char   why[512];
	cr_assert_eq(
	    rl_zk_children(h->zk, h->zk_log, &names, &count, why, sizeof(why)), RL_OK, "%s", why);
	for (size_t i = 0; i < count; i++) {
		int64_t                  t;
		Rill__BatchRecord__Phase p;
		if (rl_checkpoint_parse_name(names[i], &t, &p)
		    && strcmp(rl_checkpoint_phase_name(p), phase) == 0) {
			cr_assert_lt(n, max);
			ret[n++] = t;
		}
	}
	rl_zk_free_names(names);
#else
	char path[128];
	snprintf(path, sizeof(path), "%s/batches", h->dir);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char     *end;
		long long t = strtoll(de->d_name, &end, 10);
		if (end != de->d_name && *end == '.' && strcmp(end + 1, phase) == 0) {
			cr_assert_lt(n, max);
			ret[n++] = t;
		}
	}
	closedir(d);
#endif
	qsort(ret, n, sizeof(int64_t), cmp_i64);
	return n;
}

// read_raw reads batch_ms's most advanced record as the log holds it: a
// sparse record is not completed. NULL when the batch has none.
static Rill__BatchRecord *
read_raw(const harness *h, int64_t batch_ms)
{
	const Rill__BatchRecord__Phase phases[] = { RILL__BATCH_RECORD__PHASE__DONE,
		RILL__BATCH_RECORD__PHASE__PREPARED, RILL__BATCH_RECORD__PHASE__PLANNED };
	Rill__BatchRecord             *rec = NULL;
	char                           why[512];
	for (size_t i = 0; i < 3 && rec == NULL; i++) {
		char   path[256], *data;
		size_t len;
#ifdef RUNNER_TEST_ZK
		snprintf(path, sizeof(path), "%s/%" PRId64 ".%s", h->zk_log, batch_ms,
		    rl_checkpoint_phase_name(phases[i]));
		rl_err rv = rl_zk_get(h->zk, path, &data, &len, why, sizeof(why));
		if (rv == RL_ERR_NOENT)
			continue;
		cr_assert_eq(rv, RL_OK, "%s", why);
#else
		snprintf(path, sizeof(path), "%s/batches/%" PRId64 ".%s", h->dir, batch_ms,
		    rl_checkpoint_phase_name(phases[i]));
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		cr_assert_eq(fseek(f, 0, SEEK_END), 0);
		long size = ftell(f);
		cr_assert_geq(size, 0);
		rewind(f);
		data = rl_malloc((size_t)size + 1);
		len = fread(data, 1, (size_t)size, f);
		fclose(f);
		cr_assert_eq(len, (size_t)size, "%s", path);
#endif
		rec = rl_checkpoint_decode(
		    (unsigned char *)data, len, batch_ms, phases[i], "node", why, sizeof(why));
		cr_assert_not_null(rec, "%s: %s", path, why);
		rl_free(data);
	}
	return rec;
}

// read_record reads batch_ms's most advanced record, whole (a sparse one
// completed from its base, which must be there).
static Rill__BatchRecord *
read_record(const harness *h, int64_t batch_ms)
{
	Rill__BatchRecord *rec = read_raw(h, batch_ms);
	cr_assert_not_null(rec, "no record of batch %" PRId64, batch_ms);
	if (rec->base_batch_ms != 0) {
		Rill__BatchRecord *base = read_raw(h, rec->base_batch_ms);
		char               why[512];
		cr_assert_not_null(base, "batch %" PRId64 "'s base %" PRId64 " is gone", batch_ms,
		    rec->base_batch_ms);
		cr_assert_eq(rl_checkpoint_complete(rec, base, why, sizeof(why)), RL_OK, "%s", why);
		rill__batch_record__free_unpacked(base, NULL);
	}
	return rec;
}

static Rill__BatchRecord *
latest_record(const harness *h)
{
	rl_batch_log      *log = open_log(h);
	Rill__BatchRecord *rec;
	char               why[512];
	cr_assert_eq(rl_batch_log_latest(log, &rec, why, sizeof(why)), RL_OK, "%s", why);
	rl_batch_log_close(log);
	cr_assert_not_null(rec);
	return rec;
}

static int
split_index(const Rill__SplitRange *sr)
{
	cr_assert_str_eq(sr->kind, "memory");
	cr_assert_eq(strncmp(sr->id, TOPIC "/", strlen(TOPIC "/")), 0, "split %s", sr->id);
	int s = atoi(sr->id + strlen(TOPIC "/"));
	cr_assert(s >= 0 && s < NSPLITS, "split %s", sr->id);
	return s;
}

static const rt_memory_batch *
find_batch(const rt_memory_batch *batches, size_t n, int64_t batch_ms)
{
	for (size_t i = 0; i < n; i++)
		if (batches[i].b_batch_ms == batch_ms)
			return &batches[i];
	return NULL;
}

// check_exactly_once checks what the loop left behind against the input:
// every planned batch is done; each done batch's published output is the
// word count of exactly the ranges its record names; no batch was
// published with two contents, no two-phase partition twice; nothing
// staged or prepared is left; the published batches are exactly the done
// ones, and together they count want[]. Returns the number of done batches.
static size_t
check_exactly_once(const harness *h, const int64_t *want)
{
	static int64_t planned[4096], done[4096];
	size_t         nplanned = batch_files(h, "planned", planned, 4096);
	size_t         ndone = batch_files(h, "done", done, 4096);
	for (size_t i = 0; i < nplanned; i++)
		cr_expect(bsearch(&planned[i], done, ndone, sizeof(int64_t), cmp_i64) != NULL,
		    "batch %" PRId64 " was planned and never done", planned[i]);
	rt_memory_batch *batches;
	size_t           nbatches = rt_memory_table_batches(TABLE, &batches);
	int64_t          total[NVOCAB] = { 0 };
	for (size_t i = 0; i < ndone; i++) {
		Rill__BatchRecord     *rec = read_record(h, done[i]);
		const rt_memory_batch *b = find_batch(batches, nbatches, done[i]);
		int64_t                ref[NVOCAB] = { 0 }, got[NVOCAB] = { 0 };
		char                   what[64];
		cr_assert_eq(rec->phase, RILL__BATCH_RECORD__PHASE__DONE);
		int64_t records = 0;
		for (size_t r = 0; r < rec->n_splits; r++) {
			count_range(split_index(rec->splits[r]), rec->splits[r]->from,
			    rec->splits[r]->until, ref);
			records += rec->splits[r]->until - rec->splits[r]->from;
		}
		if (records == 0 && b == NULL) { // read nothing (a record a test wrote)
			rill__batch_record__free_unpacked(rec, NULL);
			continue;
		}
		cr_assert_not_null(b, "done batch %" PRId64 " was never published", done[i]);
		count_output(b->b_output, got);
		snprintf(what, sizeof(what), "batch %" PRId64, done[i]);
		expect_counts(got, ref, what);
		rill__batch_record__free_unpacked(rec, NULL);
	}
	for (size_t i = 0; i < nbatches; i++) {
		const rt_memory_batch *b = &batches[i];
		cr_expect_eq(b->b_changes, 0,
		    "batch %" PRId64 " was published with %d other contents", b->b_batch_ms,
		    b->b_changes);
		if (h->two_phase)
			cr_expect_eq((size_t)b->b_publishes, b->b_partitions,
			    "batch %" PRId64 ": %d commits of %zu partitions", b->b_batch_ms,
			    b->b_publishes, b->b_partitions);
		if (b->b_partitions > 0)
			cr_expect(
			    bsearch(&b->b_batch_ms, done, ndone, sizeof(int64_t), cmp_i64) != NULL,
			    "batch %" PRId64 " was published but is not done", b->b_batch_ms);
		count_output(b->b_output, total);
	}
	expect_counts(total, want, "all batches");
	cr_expect_eq(rt_memory_table_left(TABLE), 0, "outputs staged or prepared are left behind");
	rt_memory_batches_free(batches, nbatches);
	return ndone;
}

static void
reference(int64_t *counts)
{
	memset(counts, 0, NVOCAB * sizeof(int64_t));
	for (int s = 0; s < NSPLITS; s++)
		count_range(s, 0, nappended[s], counts);
}

// ---- the tests ----

Test(runner, available_now_counts_every_word_exactly_once)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 2000", "false");
	append_records(300);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t want[NVOCAB];
	reference(want);
	size_t ndone = check_exactly_once(&h, want);
	cr_expect_gt(ndone, 1, "the rate limit cuts 300 records a split into several batches");
	cr_expect_eq(res.stats.batches, ndone);
	cr_expect_eq(res.stats.records, 3 * 300);
	for (int s = 0; s < NSPLITS; s++)
		cr_expect_eq(rt_memory_committed(TOPIC, s), rt_memory_latest(TOPIC, s),
		    "split %d: committed %" PRId64 ", end %" PRId64, s,
		    rt_memory_committed(TOPIC, s), rt_memory_latest(TOPIC, s));
	harness_stop(&h);
}

Test(runner, two_phase_sink_commits_every_partition_once_and_marks_it)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 2000", "true");
	append_records(300);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	Rill__BatchRecord *last = latest_record(&h);
	for (uint32_t p = 0; p < NSPLITS; p++)
		cr_expect_eq(rt_memory_table_marker(TABLE, p), last->batch_time_ms,
		    "partition %" PRIu32 "'s marker", p);
	rill__batch_record__free_unpacked(last, NULL);
	harness_stop(&h);
}

// A fault hook that "kills the process" the at-th time it passes point.
typedef struct crash_plan {
	const char *point;
	int         at;
	atomic_int  seen;
} crash_plan;

static bool
crash_hook(void *arg, const char *point)
{
	crash_plan *c = arg;
	if (strcmp(point, c->point) != 0)
		return false;
	return atomic_fetch_add(&c->seen, 1) + 1 == c->at;
}

Test(runner, planned_batch_reruns_with_its_ranges_and_time)
{
	harness h = { 0 };
	harness_start(&h, WORDCOUNT_JOB, "all", "backpressure: false", "false");
	append_records(200);
	crash_plan crash = { .point = "batch-planned", .at = 1 };
	rl_fault_hook(crash_hook, &crash);
	run_result res = run_job(&h, true, 0);
	rl_fault_hook(NULL, NULL);
	cr_assert_eq(res.rv, RL_ERR_CANCELED, "%s", res.why);
	Rill__BatchRecord *planned = latest_record(&h);
	cr_assert_eq(planned->phase, RILL__BATCH_RECORD__PHASE__PLANNED);
	cr_assert_eq(planned->n_splits, NSPLITS);
	// More input: planned afresh, the batch would read it too.
	append_records(100);
	res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	Rill__BatchRecord *done = read_record(&h, planned->batch_time_ms);
	cr_expect_eq(done->phase, RILL__BATCH_RECORD__PHASE__DONE);
	cr_assert_eq(done->n_splits, planned->n_splits);
	for (size_t i = 0; i < done->n_splits; i++) {
		cr_expect_str_eq(done->splits[i]->id, planned->splits[i]->id);
		cr_expect_eq(done->splits[i]->from, planned->splits[i]->from, "split %s",
		    done->splits[i]->id);
		cr_expect_eq(done->splits[i]->until, planned->splits[i]->until, "split %s",
		    done->splits[i]->id);
		cr_expect_eq(planned->splits[i]->until, 200, "split %s: planned until %" PRId64,
		    planned->splits[i]->id, planned->splits[i]->until);
	}
	cr_expect_eq(done->shuffle_partitions, planned->shuffle_partitions);
	int64_t want[NVOCAB];
	reference(want);
	cr_expect_eq(check_exactly_once(&h, want), 2, "the re-run batch and one for the rest");
	rill__batch_record__free_unpacked(done, NULL);
	rill__batch_record__free_unpacked(planned, NULL);
	harness_stop(&h);
}

// How crash_and_recover crashes the loop and brings it back.
typedef struct crash_case {
	const char *point; // the fault point where the loop dies, the second time it passes
	bool        two_phase;
	bool        map_only; // the sink tasks are the tasks that read the splits
	bool        restart_executors; // new executors (same ids) before the restart
	bool        partly_committed; // partition 1's prepared output committed before the crash
} crash_case;

// crash_and_recover runs 60 records a split at 50 a split per batch, dies
// in the second batch (10 records a split) where c says, checks the crash
// left what that point implies, appends 100 records a split (a batch
// planned afresh would read them too), restarts the loop on the same
// checkpoint, and checks that every batch counts exactly its ranges, once.
static void
crash_and_recover(crash_case c)
{
	harness h = { 0 };
	harness_start(&h, c.map_only ? MAP_ONLY_JOB : WORDCOUNT_JOB, "all",
	    "backpressure: false, max_rate_per_split: 1000", c.two_phase ? "true" : "false");
	append_records(60);
	crash_plan crash = { .point = c.point, .at = 2 };
	rl_fault_hook(crash_hook, &crash);
	run_result res = run_job(&h, true, 0);
	rl_fault_hook(NULL, NULL);
	cr_assert_eq(res.rv, RL_ERR_CANCELED, "%s", res.why);
	cr_assert(strstr(res.why, c.point) != NULL, "%s", res.why);

	Rill__BatchRecord *rec = latest_record(&h);
	cr_assert_eq(rec->n_splits, NSPLITS);
	for (size_t i = 0; i < NSPLITS; i++)
		cr_assert(rec->splits[i]->from == 50 && rec->splits[i]->until == 60,
		    "the second batch reads [50, 60) of every split");
	rt_memory_batch       *batches;
	size_t                 nbatches = rt_memory_table_batches(TABLE, &batches);
	const rt_memory_batch *b = find_batch(batches, nbatches, rec->batch_time_ms);
	bool                   published = b != NULL && b->b_partitions > 0;
	if (strcmp(c.point, "batch-planned") == 0) {
		cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PLANNED);
		cr_expect_not(published);
	} else if (strcmp(c.point, "batch-ran") == 0) {
		cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PLANNED);
		cr_expect_not(published);
		cr_expect_gt(rt_memory_table_left(TABLE), 0, "the tasks' output is staged");
	} else if (strcmp(c.point, "sink-prepared") == 0) {
		cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PREPARED);
		cr_expect_not(published);
		cr_expect_eq(rec->n_sink_commits, NSPLITS);
		cr_expect_eq(rt_memory_table_left(TABLE), NSPLITS, "every partition is prepared");
	} else if (strcmp(c.point, "sink-committed") == 0) {
		cr_expect_eq(rec->phase,
		    c.two_phase ? RILL__BATCH_RECORD__PHASE__PREPARED
		                : RILL__BATCH_RECORD__PHASE__PLANNED);
		cr_expect(published, "the batch is published before it is done");
	} else {
		cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__DONE);
		cr_expect(published);
	}
	rt_memory_batches_free(batches, nbatches);
	if (c.partly_committed) // its executor committed it, then the driver died
		cr_assert_eq(rt_memory_finish_prepared(TABLE, 1, true), 1);

	if (c.restart_executors) {
		stop_executors(&h);
		start_executors(&h);
	}
	append_records(100);
	res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	Rill__BatchRecord *again = read_record(&h, rec->batch_time_ms);
	cr_expect_eq(again->phase, RILL__BATCH_RECORD__PHASE__DONE);
	for (size_t i = 0; i < again->n_splits; i++)
		cr_expect(again->splits[i]->from == 50 && again->splits[i]->until == 60,
		    "split %s: [%" PRId64 ", %" PRId64 ") after the restart", again->splits[i]->id,
		    again->splits[i]->from, again->splits[i]->until);
	int64_t want[NVOCAB];
	reference(want);
	cr_expect_eq(check_exactly_once(&h, want), 4, "two batches before, two after the crash");
	rill__batch_record__free_unpacked(again, NULL);
	rill__batch_record__free_unpacked(rec, NULL);
	harness_stop(&h);
}

Test(runner, crash_after_plan_one_phase)
{
	crash_and_recover((crash_case) { .point = "batch-planned" });
}

Test(runner, crash_after_plan_two_phase)
{
	crash_and_recover((crash_case) { .point = "batch-planned", .two_phase = true });
}

Test(runner, crash_after_tasks_ran_one_phase)
{
	crash_and_recover((crash_case) { .point = "batch-ran" });
}

Test(runner, crash_after_tasks_ran_one_phase_with_new_executors)
{
	crash_and_recover((crash_case) { .point = "batch-ran", .restart_executors = true });
}

Test(runner, crash_after_tasks_ran_two_phase)
{
	crash_and_recover((crash_case) { .point = "batch-ran", .two_phase = true });
}

Test(runner, crash_after_sink_prepared_two_phase)
{
	crash_and_recover((crash_case) { .point = "sink-prepared", .two_phase = true });
}

Test(runner, crash_after_sink_prepared_two_phase_with_new_executors)
{
	crash_and_recover((crash_case) {
	    .point = "sink-prepared", .two_phase = true, .restart_executors = true });
}

Test(runner, crash_after_one_partition_committed_two_phase)
{
	crash_and_recover(
	    (crash_case) { .point = "sink-prepared", .two_phase = true, .partly_committed = true });
}

Test(runner, crash_after_one_partition_committed_two_phase_map_only)
{
	crash_and_recover((crash_case) { .point = "sink-prepared",
	    .two_phase = true,
	    .map_only = true,
	    .partly_committed = true });
}

Test(runner, crash_after_sink_committed_one_phase)
{
	crash_and_recover((crash_case) { .point = "sink-committed" });
}

Test(runner, crash_after_sink_committed_two_phase)
{
	crash_and_recover((crash_case) { .point = "sink-committed", .two_phase = true });
}

Test(runner, crash_after_sink_committed_two_phase_map_only)
{
	crash_and_recover(
	    (crash_case) { .point = "sink-committed", .two_phase = true, .map_only = true });
}

// A host whose lead is gone: in_charge says no from its at-th question on.
typedef struct lead {
	int        at;
	atomic_int asked;
} lead;

static bool
still_leads(void *arg)
{
	lead *l = arg;
	return atomic_fetch_add(&l->asked, 1) + 1 < l->at;
}

// lose_the_lead runs 60 records a split at 50 a split per batch; the host
// loses its lead at its at-th check (before a durable step of the second
// batch); the run must stop there, with nothing of that step done, and a new
// leader's run must finish every batch exactly once.
static void
lose_the_lead(bool two_phase, int at, Rill__BatchRecord__Phase left)
{
	harness h = { 0 };
	harness_start(&h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 1000",
	    two_phase ? "true" : "false");
	append_records(60);
	lead           l = { .at = at };
	rl_runner_opts opts = {
		.available_now = true,
		.min_executors = NEXECS,
		.checkpoint_dir = h.dir,
		.checkpoint_keep = 1000,
		.in_charge = still_leads,
		.in_charge_arg = &l,
	};
#ifdef RUNNER_TEST_ZK
	opts.batch_log = open_log(&h);
#endif
	rl_runner *r;
	char       why[1024];
	cr_assert_eq(
	    rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_OK, "%s", why);
	rl_runner_stats stats;
	rl_err          rv = rl_runner_run(r, &stats, why, sizeof(why));
	rl_runner_destroy(r);
	rl_batch_log_close(opts.batch_log);
	cr_assert_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), why);
	cr_assert_not_null(strstr(why, "no longer in charge of job wc-memory"), "%s", why);
	// Only the first batch finished; the second holds what the lead allowed.
	Rill__BatchRecord *rec = latest_record(&h);
	cr_expect_eq(rec->phase, left, "the second batch's record is in phase %d", rec->phase);
	for (size_t i = 0; i < rec->n_splits; i++)
		cr_expect(rec->splits[i]->from == 50 && rec->splits[i]->until == 60);
	cr_expect_eq(rec->n_splits, NSPLITS);
	rt_memory_batch       *batches;
	size_t                 nbatches = rt_memory_table_batches(TABLE, &batches);
	const rt_memory_batch *second = find_batch(batches, nbatches, rec->batch_time_ms);
	cr_expect(second == NULL || second->b_partitions == 0,
	    "a host out of charge published nothing of the second batch");
	rt_memory_batches_free(batches, nbatches);
	rill__batch_record__free_unpacked(rec, NULL);
	// The next leader goes on.
	append_records(100);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t want[NVOCAB];
	reference(want);
	cr_expect_eq(check_exactly_once(&h, want), 4, "two batches before, two after the change");
	harness_stop(&h);
}

// One phase, 5 checks a batch (planning, planned, ran, sink-committed,
// done): the 7th is the second batch's "planned" (its plan written).
Test(runner, a_host_out_of_charge_stops_before_its_next_durable_step_one_phase)
{
	lose_the_lead(false, 7, RILL__BATCH_RECORD__PHASE__PLANNED);
}

// Two phases, 6 checks a batch (… ran, sink-prepared, sink-committed …):
// the 10th is the second batch's sink-prepared: prepared, nothing committed.
Test(runner, a_host_out_of_charge_stops_before_its_next_durable_step_two_phase)
{
	lose_the_lead(true, 10, RILL__BATCH_RECORD__PHASE__PREPARED);
}

Test(runner, crash_after_batch_done_one_phase)
{
	crash_and_recover((crash_case) { .point = "batch-done" });
}

Test(runner, crash_after_batch_done_two_phase)
{
	crash_and_recover((crash_case) { .point = "batch-done", .two_phase = true });
}

// write_done_record makes the checkpoint say batch_ms was the last batch
// done, every split read up to position 0.
static void
write_done_record(const harness *h, int64_t batch_ms)
{
	rl_batch_log     *log = open_log(h);
	char              why[512], ids[NSPLITS][32];
	Rill__SplitRange  ranges[NSPLITS];
	Rill__SplitRange *range_ptrs[NSPLITS];
	for (int s = 0; s < NSPLITS; s++) {
		rill__split_range__init(&ranges[s]);
		snprintf(ids[s], sizeof(ids[s]), TOPIC "/%d", s);
		ranges[s].kind = "memory";
		ranges[s].id = ids[s];
		range_ptrs[s] = &ranges[s];
	}
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.job = h->job->j_name;
	rec.spec_hash = h->job->j_spec_hash;
	rec.batch_time_ms = batch_ms;
	rec.batch_interval_ms = INTERVAL_MS;
	rec.shuffle_partitions = NSPLITS;
	rec.splits = range_ptrs;
	rec.n_splits = NSPLITS;
	cr_assert_eq(rl_batch_log_write(log, &rec, why, sizeof(why)), RL_OK, "%s", why);
	rl_batch_log_close(log);
}

// published_times lists the batch times the table published, in order.
static size_t
published_times(int64_t *ret, size_t max)
{
	rt_memory_batch *batches;
	size_t           n = rt_memory_table_batches(TABLE, &batches), k = 0;
	for (size_t i = 0; i < n; i++) {
		if (batches[i].b_partitions == 0)
			continue;
		cr_assert_lt(k, max);
		ret[k++] = batches[i].b_batch_ms;
	}
	rt_memory_batches_free(batches, n);
	return k;
}

// After a done batch 100 intervals ago, 20 records a split at 4 a batch
// (80/s): five batches of input.
#define CATCH_UP_MISSED 100

Test(runner, catch_up_all_runs_every_missed_interval)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 80", "false");
	int64_t last = (rl_now_ms() / INTERVAL_MS - CATCH_UP_MISSED) * INTERVAL_MS;
	write_done_record(&h, last);
	append_records(20);
	run_result res = run_job(&h, false, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t times[64];
	size_t  n = published_times(times, 64);
	cr_assert_eq(n, 5, "%zu batches with input", n);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(times[i], last + (int64_t)(i + 1) * INTERVAL_MS,
		    "batch %zu at %" PRId64 ", the missed interval %" PRId64, i, times[i],
		    last + (int64_t)(i + 1) * INTERVAL_MS);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

Test(runner, catch_up_latest_skips_the_missed_intervals)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "latest", "backpressure: false, max_rate_per_split: 80", "false");
	int64_t last = (rl_now_ms() / INTERVAL_MS - CATCH_UP_MISSED) * INTERVAL_MS;
	write_done_record(&h, last);
	append_records(20);
	int64_t    before = rl_now_ms() / INTERVAL_MS * INTERVAL_MS;
	run_result res = run_job(&h, false, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t times[64];
	size_t  n = published_times(times, 64);
	cr_assert_eq(n, 5, "%zu batches with input", n);
	cr_expect_geq(times[0], before, "the first batch (%" PRId64 ") is the latest tick at start",
	    times[0]);
	for (size_t i = 1; i < n; i++)
		cr_expect_eq(times[i], times[0] + (int64_t)i * INTERVAL_MS, "batch %zu at %" PRId64,
		    i, times[i]);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

// batch_sizes writes each done batch's records per split, in batch order.
static size_t
batch_sizes(const harness *h, int64_t (*ret)[NSPLITS], size_t max)
{
	static int64_t done[4096];
	size_t         n = batch_files(h, "done", done, 4096);
	cr_assert_leq(n, max);
	for (size_t i = 0; i < n; i++) {
		Rill__BatchRecord *rec = read_record(h, done[i]);
		memset(ret[i], 0, sizeof(ret[i]));
		for (size_t r = 0; r < rec->n_splits; r++)
			ret[i][split_index(rec->splits[r])]
			    = rec->splits[r]->until - rec->splits[r]->from;
		rill__batch_record__free_unpacked(rec, NULL);
	}
	return n;
}

Test(runner, max_rate_per_split_caps_every_batch)
{
	harness h = { 0 };
	// 100 records/s a split for 50 ms: 5 a split per batch.
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 100", "false");
	append_records(40);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t sizes[64][NSPLITS];
	size_t  n = batch_sizes(&h, sizes, 64);
	cr_expect_eq(n, 8, "%zu batches for 40 records a split at 5 a batch", n);
	for (size_t i = 0; i < n; i++)
		for (int s = 0; s < NSPLITS; s++)
			cr_expect_leq(sizes[i][s], 5, "batch %zu split %d: %" PRId64 " records", i,
			    s, sizes[i][s]);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

// expect_lags checks the done batches from first on: batch k (1, 2, …) of
// the run read every split up to from + 5k, and saw each split's end at end.
static size_t
expect_lags(const harness *h, size_t first, int64_t from, int64_t end)
{
	int64_t done[64];
	size_t  n = batch_files(h, "done", done, 64);
	for (size_t i = first; i < n; i++) {
		Rill__BatchRecord *rec = read_record(h, done[i]);
		int64_t            until = from + 5 * (int64_t)(i - first + 1), lag = -1;
		cr_expect(rec->ends_seen, "batch %" PRId64 " recorded no ends", done[i]);
		cr_expect_eq(rec->n_splits, NSPLITS);
		for (size_t r = 0; r < rec->n_splits; r++) {
			const Rill__SplitRange *sr = rec->splits[r];
			cr_expect_eq(
			    sr->until, until, "batch %zu %s: until %" PRId64, i, sr->id, sr->until);
			cr_expect_eq(sr->end_seen, end, "batch %zu %s: end seen %" PRId64, i,
			    sr->id, sr->end_seen);
			cr_expect(rl_checkpoint_split_lag(rec, sr, &lag));
			cr_expect_eq(
			    lag, end - until, "batch %zu %s: lag %" PRId64, i, sr->id, lag);
		}
		cr_expect(rl_checkpoint_lag(rec, &lag));
		cr_expect_eq(lag, NSPLITS * (end - until), "batch %zu: lag %" PRId64, i, lag);
		rill__batch_record__free_unpacked(rec, NULL);
	}
	return n;
}

Test(runner, every_record_says_how_far_behind_its_source_each_split_was)
{
	harness h = { 0 };
	// 5 records a split a batch (100/s for 50 ms): with 40 a split there,
	// batch k reads up to 5k and leaves 40 - 5k behind.
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 100", "false");
	append_records(40);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	size_t n = expect_lags(&h, 0, 0, 40);
	cr_expect_eq(n, 8, "%zu batches for 40 records a split at 5 a batch", n);
	// 20 more a split while it is stopped: the next run's batches see 60.
	append_records(20);
	res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_eq(expect_lags(&h, n, 40, 60), n + 4);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

Test(runner, initial_rate_holds_back_the_first_batches)
{
	harness h = { 0 };
	// 60 records/s over all splits for 50 ms: 3 records in each batch until
	// backpressure has its first estimate (after the second batch).
	harness_start(&h, WORDCOUNT_JOB, "all", "backpressure: true, initial_rate: 60", "false");
	append_records(100);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t sizes[512][NSPLITS];
	size_t  n = batch_sizes(&h, sizes, 512);
	cr_assert_geq(n, 3);
	for (size_t i = 0; i < 2; i++) {
		int64_t total = 0;
		for (int s = 0; s < NSPLITS; s++)
			total += sizes[i][s];
		cr_expect(total > 0 && total <= 3, "batch %zu: %" PRId64 " records", i, total);
	}
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

// lose_unread processes 100 records a split, appends 100 more, and deletes
// split 0's oldest 150: 50 it never read are gone.
static void
lose_unread(harness *h)
{
	append_records(100);
	run_result res = run_job(h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	append_records(100);
	cr_assert_eq(rt_memory_delete_oldest(TOPIC, 0, 150), 150);
}

Test(runner, data_loss_fails_the_batch_with_the_hint)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, fail_on_data_loss: true", "false");
	lose_unread(&h);
	size_t     before = published_times((int64_t[64]) { 0 }, 64);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_ERR_DATA_LOSS, "%s: %s", rl_errname(res.rv), res.why);
	cr_expect(strstr(res.why,
	              "memory source: split " TOPIC "/0: positions 100 to 149 were "
	              "deleted (the earliest is 150)")
	        != NULL,
	    "%s", res.why);
	cr_expect(
	    strstr(res.why, "set source.memory.fail_on_data_loss: false") != NULL, "%s", res.why);
	cr_expect_eq(published_times((int64_t[64]) { 0 }, 64), before, "nothing more published");
	harness_stop(&h);
}

Test(runner, data_loss_skips_the_lost_records_when_allowed)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, fail_on_data_loss: false", "false");
	lose_unread(&h);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_eq(res.stats.records, 3 * 100 - 50, "read %" PRIu64, res.stats.records);
	int64_t want[NVOCAB] = { 0 };
	for (int s = 0; s < NSPLITS; s++) {
		count_range(s, 0, s == 0 ? 100 : nappended[s], want);
		if (s == 0)
			count_range(s, 150, nappended[s], want);
	}
	check_exactly_once(&h, want);
	for (int s = 0; s < NSPLITS; s++)
		cr_expect_eq(rt_memory_committed(TOPIC, s), 200, "split %d", s);
	harness_stop(&h);
}

Test(runner, map_with_state_without_a_kafka_source_is_refused_naming_the_step)
{
	harness h = { 0 };
	harness_start(&h,
	    "name: wc-memory\nbatch: 50ms\nsource:\n  memory: {topic: " TOPIC "}\npipeline:\n"
	    "  - flat_map: words\n  - map_values: one\n"
	    "  - map_with_state: {fn: sum, timeout: 1s}\nsink:\n  memory: {table: " TABLE "}\n");
	rl_runner_opts opts = { .min_executors = NEXECS, .checkpoint_dir = h.dir };
	rl_runner     *r = NULL;
	char           why[512];
	cr_expect_eq(rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_ERR_NOTSUP);
	cr_expect_null(r);
	cr_expect(
	    strstr(why, "memory.yaml:8:5: map_with_state keeps its state in a Kafka changelog")
	        != NULL,
	    "%s", why);
	cr_expect(strstr(why, "this job's source is memory") != NULL, "%s", why);
	harness_stop(&h);
}

Test(runner, unknown_topic_or_table_is_named)
{
	harness h = { 0 };
	harness_start(&h,
	    "name: wc-memory\nbatch: 50ms\nsource:\n  memory: {topic: nowhere}\npipeline:\n"
	    "  - flat_map: words\nsink:\n  memory: {table: " TABLE "}\n");
	rl_runner_opts opts = { .min_executors = NEXECS, .checkpoint_dir = h.dir };
	rl_runner     *r = NULL;
	char           why[512];
	cr_expect_eq(rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_ERR_NOENT);
	cr_expect_null(r);
	cr_expect(
	    strstr(why, "memory source: no topic 'nowhere' in this process") != NULL, "%s", why);
	rl_job_destroy(h.job);
	const char *text = "name: wc-memory\nbatch: 50ms\nsource:\n  memory: {topic: " TOPIC
	                   "}\npipeline:\n  - flat_map: words\nsink:\n  memory: {table: gone}\n";
	cr_assert_eq(rl_job_parse(text, strlen(text), "memory.yaml", &h.job, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_expect_eq(rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_ERR_NOENT);
	cr_expect(strstr(why, "memory sink: no table 'gone' in this process") != NULL, "%s", why);
	// The executor halves check too: an executor of another process has
	// neither.
	rt_memory_reset();
	const rl_source_exec_ops *source = rl_source_exec_find("memory");
	void                     *shared = NULL;
	cr_assert_not_null(source);
	cr_expect_eq(source->se_job_open(h.job, &shared, why, sizeof(why)), RL_ERR_NOENT);
	cr_expect_null(shared);
	cr_expect(
	    strstr(why, "memory source: no topic '" TOPIC "' in this process") != NULL, "%s", why);
	const rl_sink_ops *sink = rl_sink_exec_find("memory");
	cr_assert_not_null(sink);
	void        *state = rl_calloc(1, sink->s_state_size);
	rl_sink_task task = { .t_job = h.job, .t_batch_ms = 1000 };
	cr_expect_eq(
	    sink->s_open(state, h.job->j_sink.c_conf, &task, why, sizeof(why)), RL_ERR_NOENT);
	cr_expect(strstr(why, "memory sink: no table 'gone' in this process") != NULL, "%s", why);
	sink->s_abort(state);
	rl_free(state);
	harness_stop(&h);
}

// ---- a peer gone silent mid-fetch (a cut host) ----

// Executors that register send heartbeats, whose end the driver notices; the
// discovery build's are lost only when ZooKeeper drops their node.
#ifndef RUNNER_TEST_DISCOVERY
// A fault hook that silences memory-exec-1 at the first fetch it serves: it
// stops heartbeating, takes fetches without ever answering and starts no
// reduce task any more, over connections that stay open, as a host whose
// link was cut.
typedef struct silence {
	rl_executor    *s_ex;
	atomic_int      s_fetches; // fetches it took and did not answer
	_Atomic int64_t s_first_ms;
	atomic_bool     s_released;
} silence;

static bool
silence_hook(void *arg, const char *point)
{
	silence *s = arg;
	if (strcmp(point, "reduce-task-memory-exec-1") == 0 && atomic_load(&s->s_fetches) > 0) {
		while (!atomic_load(&s->s_released))
			rl_sleep_ms(10);
		return true; // dead: the task writes nothing after the run
	}
	if (strcmp(point, "shuffle-fetch-memory-exec-1") != 0)
		return false;
	if (atomic_fetch_add(&s->s_fetches, 1) == 0) {
		atomic_store(&s->s_first_ms, rl_mono_ms());
		rl_executor_stop(s->s_ex); // no more heartbeats: the driver will lose it
	}
	while (!atomic_load(&s->s_released))
		rl_sleep_ms(10);
	return false;
}

// silent_peer_mid_fetch runs a word count (shuffle_partitions reduce tasks)
// whose executor memory-exec-1 goes silent at the
// first fetch it serves, and checks that the run ends within 15 s of it and
// counts exactly. A reducer fetching from an executor that went silent on an
// open connection waited out its fetch's 30 s before the outputs were
// recomputed elsewhere; the driver, which loses the executor after the
// heartbeat timeout (5 s here), now tells the reducer's executor, whose
// fetch fails at once.
static void
silent_peer_mid_fetch(int shuffle_partitions)
{
	harness     h = { 0 };
	const char *source = "backpressure: false, max_rate_per_split: 2000";
	harness_start(&h, WORDCOUNT_JOB_AT("%d"), shuffle_partitions, "all", source, "false");
	append_records(300);
	silence s = { .s_ex = h.ex[1] };
	rl_fault_hook(silence_hook, &s);
	run_result res = run_job(&h, true, 0);
	int64_t    end_ms = rl_mono_ms();
	rl_fault_hook(NULL, NULL);
	atomic_store(&s.s_released, true);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_assert_gt(atomic_load(&s.s_fetches), 0, "no reducer fetched from memory-exec-1");
	cr_expect_not(rl_pool_exec_alive(h.pool, rl_pool_find(h.pool, "memory-exec-1")),
	    "the silent executor was not lost");
	int64_t after_ms = end_ms - atomic_load(&s.s_first_ms);
	cr_expect_lt(
	    after_ms, 15000, "the run ended %" PRId64 " ms after the peer went silent", after_ms);
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

// A fault hook that silences memory-exec-1 (as silence_hook does) at the
// first fetch of a stage-1 output it serves: what it holds of an
// intermediate stage is lost.
static bool
silence_stage1_hook(void *arg, const char *point)
{
	silence *s = arg;
	bool     silenced = atomic_load(&s->s_fetches) > 0;
	if (strcmp(point, "reduce-task-memory-exec-1") == 0 && silenced) {
		while (!atomic_load(&s->s_released))
			rl_sleep_ms(10);
		return true;
	}
	if (strcmp(point, "shuffle-fetch-stage-1-memory-exec-1") == 0 && !silenced) {
		atomic_fetch_add(&s->s_fetches, 1);
		atomic_store(&s->s_first_ms, rl_mono_ms());
		rl_executor_stop(s->s_ex);
		silenced = true;
	}
	if (!silenced || strncmp(point, "shuffle-fetch-", 14) != 0
	    || strstr(point, "memory-exec-1") == NULL)
		return false;
	while (!atomic_load(&s->s_released))
		rl_sleep_ms(10);
	return false;
}

// Three stages (repartition, then reduce_by_key): the executor holding some
// of the middle stage's outputs goes silent when the last stage fetches
// them. The driver runs the middle stage again (first what it reads of
// stage 0 that was lost too) instead of failing the batch, and the counts
// are exact.
Test(runner, lost_outputs_of_a_middle_stage_are_recomputed)
{
	harness     h = { 0 };
	const char *source = "backpressure: false, max_rate_per_split: 2000";
	harness_start(&h,
	    JOB_HEAD_AT("3") "  - repartition: 3\n"
	                     "  - reduce_by_key: sum\n" JOB_SINK,
	    "all", source, "false");
	append_records(300);
	silence s = { .s_ex = h.ex[1] };
	rl_fault_hook(silence_stage1_hook, &s);
	run_result res = run_job(&h, true, 0);
	rl_fault_hook(NULL, NULL);
	atomic_store(&s.s_released, true);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_assert_gt(atomic_load(&s.s_fetches), 0, "no stage-1 fetch from memory-exec-1");
	cr_expect_not(rl_pool_exec_alive(h.pool, rl_pool_find(h.pool, "memory-exec-1")),
	    "the silent executor was not lost");
	int64_t want[NVOCAB];
	reference(want);
	check_exactly_once(&h, want);
	harness_stop(&h);
}

// Three reducers: all of them run when the peer goes silent.
Test(runner, a_peer_gone_silent_mid_fetch_costs_the_heartbeat_timeout_not_the_fetch_timeout)
{
	silent_peer_mid_fetch(NSPLITS);
}

// Eight reducers for four cores: when the driver loses the silent executor,
// reducers still waiting for a core with inputs there end the stage at once;
// the running ones on the other executor are told all the same, so that the
// cores the recomputation needs are free.
Test(runner, a_peer_gone_silent_with_reducers_waiting_for_cores_costs_the_heartbeat_timeout)
{
	silent_peer_mid_fetch(8);
}
#endif
// ---- many splits on few slots: the shuffle width, shared map tasks, sparse records ----

#define WIDE "wide"
#define WIDE_SPLITS 8 // on NEXECS executors of 2 cores: 4 slots
#define SLOTS (NEXECS * 2)

static int64_t wide_ref[NVOCAB]; // the words of every record appended to WIDE

// wide_start starts the harness on a job reading WIDE's 8 splits at
// max_rate records/s a split (50 ms batches): header goes before `source:`,
// step (NULL: none, a job whose map tasks write to the sink) after the
// words are counted, two_phase into the sink.
static void
wide_start(harness *h, const char *header, int max_rate, const char *step, bool two_phase)
{
	char text[1024];
	snprintf(text, sizeof(text),
	    "name: wc-memory\nbatch: 50ms\n%ssource:\n"
	    "  memory: {topic: " WIDE ", backpressure: false, max_rate_per_split: %d}\n"
	    "pipeline:\n  - flat_map: words\n  - map_values: one\n%s%s%s"
	    "sink:\n  memory: {table: " TABLE ", two_phase: %s}\n",
	    header, max_rate, step != NULL ? "  - " : "", step != NULL ? step : "",
	    step != NULL ? "\n" : "", two_phase ? "true" : "false");
	harness_start(h, "%s", text);
	rt_memory_topic_create(WIDE, WIDE_SPLITS);
	memset(wide_ref, 0, sizeof(wide_ref));
}

// wide_append adds n one-word records to split s of WIDE.
static void
wide_append(int s, int n)
{
	for (int i = 0; i < n; i++) {
		size_t w = (size_t)(s * 7 + i) % NVOCAB;
		rt_memory_append(WIDE, s, NULL, vocab[w], rl_now_ms());
		wide_ref[w]++;
	}
}

// wide_append_all adds n records to every split of WIDE.
static void
wide_append_all(int n)
{
	for (int s = 0; s < WIDE_SPLITS; s++)
		wide_append(s, n);
}

// run_wide runs the job once, available_now, on a log that keeps `keep`
// done batches.
static run_result
run_wide(harness *h, int keep)
{
	run_result     res = { 0 };
	rl_runner_opts opts = {
		.available_now = true,
		.min_executors = NEXECS,
		.checkpoint_dir = h->dir,
		.checkpoint_keep = keep,
	};
#ifdef RUNNER_TEST_ZK
	char why[512];
	cr_assert_eq(rl_batch_log_open_zk(h->zk, h->zk_job, h->epoch, keep, NULL, NULL,
	                 &opts.batch_log, why, sizeof(why)),
	    RL_OK, "%s", why);
#endif
	rl_runner *r;
	res.rv = rl_runner_create(h->job, h->pool, &opts, &r, res.why, sizeof(res.why));
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	res.rv = rl_runner_run(r, &res.stats, res.why, sizeof(res.why));
	rl_runner_destroy(r);
	rl_batch_log_close(opts.batch_log);
	return res;
}

// wide_expect_output checks what the table published: every batch once
// with one content (two-phase: every partition once), nothing left staged
// or prepared, and all of it together the words appended. Returns the last
// published batch's output, counted (a stateful job's totals).
static void
wide_expect_output(const harness *h, int64_t *ret_last)
{
	rt_memory_batch *batches;
	size_t           n = rt_memory_table_batches(TABLE, &batches);
	int64_t          total[NVOCAB] = { 0 };
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(batches[i].b_changes, 0, "batch %" PRId64 " published twice",
		    batches[i].b_batch_ms);
		if (h->two_phase)
			cr_expect_eq((size_t)batches[i].b_publishes, batches[i].b_partitions,
			    "batch %" PRId64 ": %d commits of %zu partitions",
			    batches[i].b_batch_ms, batches[i].b_publishes, batches[i].b_partitions);
		count_output(batches[i].b_output, total);
		if (ret_last != NULL && batches[i].b_partitions > 0) {
			memset(ret_last, 0, NVOCAB * sizeof(int64_t));
			count_output(batches[i].b_output, ret_last);
		}
	}
	if (ret_last == NULL)
		expect_counts(total, wide_ref, "all batches");
	cr_expect_eq(rt_memory_table_left(TABLE), 0, "outputs staged or prepared are left behind");
	rt_memory_batches_free(batches, n);
}

// expect_widths checks every done batch's shuffle width from the first-th.
static size_t
expect_widths(const harness *h, size_t first, uint32_t want)
{
	int64_t done[256];
	size_t  n = batch_files(h, "done", done, 256);
	for (size_t i = first; i < n; i++) {
		Rill__BatchRecord *rec = read_record(h, done[i]);
		cr_expect_eq(rec->shuffle_partitions, want, "batch %" PRId64 ": width %" PRIu32,
		    done[i], rec->shuffle_partitions);
		rill__batch_record__free_unpacked(rec, NULL);
	}
	return n;
}

Test(runner, default_width_is_the_executors_slots_when_splits_are_more)
{
	// One batch of 80,000 records: 16 reduce tasks' worth (RL_REDUCE_RECORDS
	// each), more than the 8 splits: only the cap at the 4 slots makes it 4.
	harness h = { 0 };
	wide_start(&h, "", 1000000, "reduce_by_key: sum", false);
	wide_append_all(16 * RL_REDUCE_RECORDS / WIDE_SPLITS);
	run_result res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_eq(expect_widths(&h, 0, SLOTS), 1);
	wide_expect_output(&h, NULL);
	harness_stop(&h);
}

Test(runner, default_width_shrinks_to_a_small_batch)
{
	// Batches of 8 splits x at most 50 records: one reduce task each.
	harness h = { 0 };
	wide_start(&h, "", 1000, "reduce_by_key: sum", false);
	wide_append_all(120);
	run_result res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_gt(expect_widths(&h, 0, 1), 1);
	wide_expect_output(&h, NULL);
	harness_stop(&h);
}

Test(runner, the_job_s_shuffle_partitions_wins_over_the_default)
{
	harness h = { 0 };
	wide_start(&h, "shuffle_partitions: 6\n", 1000, "reduce_by_key: sum", false);
	wide_append_all(20);
	run_result res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_gt(expect_widths(&h, 0, 6), 0);
	wide_expect_output(&h, NULL);
	harness_stop(&h);
}

// A stateful job whose log says its state is split 8 ways (what the old
// default, one reduce partition per input split, gave it) keeps 8 when it
// no longer sets a width, though the default is now the 4 slots; its
// totals carry over.
Test(runner, a_stateful_log_keeps_its_recorded_width)
{
	harness h = { 0 };
	wide_start(&h, "shuffle_partitions: 8\n", 1000, "update_state_by_key: sum", false);
	wide_append_all(20);
	run_result res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	size_t first = expect_widths(&h, 0, WIDE_SPLITS);
	cr_assert_gt(first, 0);
	// The same job without shuffle_partitions.
	rl_job_destroy(h.job);
	char text[1024], why[512];
	snprintf(text, sizeof(text),
	    "name: wc-memory\nbatch: 50ms\nsource:\n"
	    "  memory: {topic: " WIDE ", backpressure: false, max_rate_per_split: 1000}\n"
	    "pipeline:\n  - flat_map: words\n  - map_values: one\n"
	    "  - update_state_by_key: sum\nsink:\n  memory: {table: " TABLE "}\n");
	cr_assert_eq(rl_job_parse(text, strlen(text), "memory.yaml", &h.job, why, sizeof(why)),
	    RL_OK, "%s", why);
	wide_append_all(10);
	res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_gt(expect_widths(&h, first, WIDE_SPLITS), first, "the second run ran batches");
	int64_t last[NVOCAB];
	wide_expect_output(&h, last);
	expect_counts(last, wide_ref, "the totals of the last batch");
	harness_stop(&h);
}

Test(runner, a_new_stateful_job_takes_the_default_width_for_good)
{
	harness h = { 0 };
	wide_start(&h, "", 1000, "update_state_by_key: sum", false);
	wide_append_all(20);
	run_result res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	size_t first = expect_widths(&h, 0, SLOTS);
	wide_append_all(10);
	res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_gt(expect_widths(&h, first, SLOTS), first);
	int64_t last[NVOCAB];
	wide_expect_output(&h, last);
	expect_counts(last, wide_ref, "the totals of the last batch");
	harness_stop(&h);
}

// tasks_of writes the stage-0 task of each of rec's splits (by split index,
// 0 for none) and returns how many tasks there are; every non-empty range
// has one.
static size_t
tasks_of(const Rill__BatchRecord *rec, uint32_t *ret)
{
	uint32_t max = 0;
	memset(ret, 0, WIDE_SPLITS * sizeof(uint32_t));
	cr_assert_eq(rec->n_splits, WIDE_SPLITS);
	for (size_t r = 0; r < rec->n_splits; r++) {
		const Rill__SplitRange *sr = rec->splits[r];
		int                     s = atoi(sr->id + strlen(WIDE "/"));
		cr_assert(s >= 0 && s < WIDE_SPLITS, "split %s", sr->id);
		ret[s] = sr->task;
		cr_expect_eq(sr->task > 0, sr->until > sr->from,
		    "split %s: task %" PRIu32 " for [%" PRId64 ", %" PRId64 ")", sr->id, sr->task,
		    sr->from, sr->until);
		if (sr->task > max)
			max = sr->task;
	}
	return max;
}

// Eight ranges of 5 records on 4 slots: a slot's share is two ranges, and
// a task reads two that one executor read last, so 4 or 5 tasks (as the 8
// splits fall on the 2 executors). The sink tasks are those map tasks,
// committing in two phases: the driver dies once they are all prepared and
// one of them committed; the re-run keeps the same tasks (partitions), so
// the committed one is not written again and every record is published
// once.
Test(runner, small_ranges_share_map_tasks_and_a_rerun_keeps_them)
{
	harness h = { 0 };
	wide_start(&h, "", 100, NULL, true);
	wide_append_all(10);
	crash_plan crash = { .point = "sink-prepared", .at = 2 };
	rl_fault_hook(crash_hook, &crash);
	run_result res = run_wide(&h, 1000);
	rl_fault_hook(NULL, NULL);
	cr_assert_eq(res.rv, RL_ERR_CANCELED, "%s", res.why);
	Rill__BatchRecord *rec = latest_record(&h);
	cr_assert_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PREPARED);
	uint32_t before[WIDE_SPLITS];
	size_t   ntasks = tasks_of(rec, before);
	cr_expect(ntasks == 4 || ntasks == 5, "%zu tasks for 8 ranges on 4 slots", ntasks);
	cr_expect_eq(rec->n_sink_commits, ntasks);
	cr_expect_eq(rt_memory_table_left(TABLE), ntasks, "a prepared output per task");
	cr_assert_eq(rt_memory_finish_prepared(TABLE, 1, true), 1);
	wide_append_all(5);
	res = run_wide(&h, 1000);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	Rill__BatchRecord *again = read_record(&h, rec->batch_time_ms);
	cr_expect_eq(again->phase, RILL__BATCH_RECORD__PHASE__DONE);
	uint32_t after[WIDE_SPLITS];
	cr_expect_eq(tasks_of(again, after), ntasks);
	for (int s = 0; s < WIDE_SPLITS; s++)
		cr_expect_eq(after[s], before[s], "split %d: task %" PRIu32 ", first %" PRIu32, s,
		    after[s], before[s]);
	wide_expect_output(&h, NULL);
	rill__batch_record__free_unpacked(again, NULL);
	rill__batch_record__free_unpacked(rec, NULL);
	harness_stop(&h);
}

// One split of eight gets more: after the first batch, the batches touch it
// alone and their records list it alone, built on the last whole done
// record. A log that keeps 3 done batches keeps a base while it and the
// done records since are among the 3: whole, sparse, sparse, whole, sparse.
// After the fifth, the log keeps batches 3 to 5 and, since 3 builds on 1,
// batches 1 and 2 as well; every record it keeps completes, and the next
// run starts exactly where the last one stopped.
Test(runner, a_batch_that_touches_few_splits_writes_only_them)
{
	harness h = { 0 };
	wide_start(&h, "", 100, "reduce_by_key: sum", false);
	wide_append_all(5);
	wide_append(0, 20);
	run_result res = run_wide(&h, 3);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	cr_expect_eq(res.stats.batches, 5, "one batch for all, four for split 0's 20 more");
	int64_t done[64];
	size_t  n = batch_files(&h, "done", done, 64);
	cr_assert_eq(n, 5, "batches 3 to 5 kept, and 1 and 2: %zu", n);
	const size_t base[] = { 0, 0, 1, 1, 0, 4 }; // each batch's base (0: whole)
	for (size_t i = 0; i < n; i++) {
		size_t             batch = i + 1;
		Rill__BatchRecord *raw = read_raw(&h, done[i]);
		if (base[batch] != 0) {
			cr_expect_eq(raw->base_batch_ms, done[base[batch] - 1],
			    "batch %zu builds on batch %zu", batch, base[batch]);
			cr_expect_eq(
			    raw->n_splits, 1, "batch %zu lists %zu splits", batch, raw->n_splits);
			cr_expect_str_eq(raw->splits[0]->id, WIDE "/0");
		} else {
			cr_expect_eq(raw->base_batch_ms, 0, "batch %zu is whole", batch);
			cr_expect_eq(raw->n_splits, WIDE_SPLITS);
		}
		rill__batch_record__free_unpacked(raw, NULL);
		Rill__BatchRecord *rec = read_record(&h, done[i]);
		cr_expect_eq(rec->n_splits, WIDE_SPLITS);
		cr_expect_eq(rec->base_batch_ms, 0);
		for (size_t r = 0; r < rec->n_splits; r++) {
			const Rill__SplitRange *sr = rec->splits[r];
			bool                    zero = strcmp(sr->id, WIDE "/0") == 0;
			int64_t                 until = zero ? 5 * (int64_t)batch : 5;
			cr_expect_eq(sr->until, until, "batch %zu %s: until %" PRId64, batch,
			    sr->id, sr->until);
			cr_expect_eq(sr->from,
			    batch == 1 ? 0
			        : zero ? until - 5
			               : 5,
			    "batch %zu %s: from %" PRId64, batch, sr->id, sr->from);
			cr_expect_eq(sr->end_seen, zero ? 25 : 5, "batch %zu %s: end %" PRId64,
			    batch, sr->id, sr->end_seen);
		}
		rill__batch_record__free_unpacked(rec, NULL);
	}
	// The next run goes on from there.
	wide_append_all(3);
	res = run_wide(&h, 3);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	wide_expect_output(&h, NULL);
	harness_stop(&h);
}

#ifdef RUNNER_TEST_ZK
Test(runner, deposed_leader_writes_nothing_and_stops)
{
	harness h = { 0 };
	harness_start(&h, WORDCOUNT_JOB, "all", "backpressure: false", "false");
	append_records(100);
	run_result res = run_job(&h, true, 0);
	cr_assert_eq(res.rv, RL_OK, "%s", res.why);
	int64_t done_before[4096];
	size_t  ndone = batch_files(&h, "done", done_before, 4096);

	// A log opened by this leader; then another is elected.
	rl_batch_log  *log = open_log(&h);
	char           why[512], epoch_path[128];
	rl_runner_opts opts = {
		.available_now = true,
		.min_executors = NEXECS,
		.checkpoint_dir = h.dir,
		.batch_log = log,
	};
	snprintf(epoch_path, sizeof(epoch_path), "/rill/jobs/%s/epoch", h.zk_job);
	cr_assert_eq(rl_zk_set_version(h.zk, epoch_path, "", 0, -1, NULL, why, sizeof(why)), RL_OK,
	    "%s", why);
	append_records(100);
	rl_runner *r;
	cr_assert_eq(
	    rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_OK, "%s", why);
	rl_runner_stats stats;
	rl_err          rv = rl_runner_run(r, &stats, why, sizeof(why));
	rl_runner_destroy(r);
	rl_batch_log_close(log);
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), why);
	cr_expect_not_null(strstr(why, "has a newer leader"), "%s", why);
	int64_t done_after[4096];
	cr_expect_eq(batch_files(&h, "done", done_after, 4096), ndone);
	int64_t planned[4096];
	cr_expect_eq(batch_files(&h, "planned", planned, 4096), ndone, "a new batch was planned");
	harness_stop(&h);
}

// The runner writes progress under its job's name, fenced by that job's
// epoch (the harness's batch log is under a name of its own per process).
#define PROGRESS_JOB "wc-memory"

// bump_epoch bumps job's epoch (as an election does: 1 the first time) and
// returns it.
static int32_t
bump_epoch(const harness *h, const char *job)
{
	char       why[512], epoch_path[128];
	rl_zk_stat st;
	snprintf(epoch_path, sizeof(epoch_path), "/rill/jobs/%s/epoch", job);
	rl_err rv = rl_zk_create(h->zk, epoch_path, NULL, 0, 0, NULL, why, sizeof(why));
	cr_assert(rv == RL_OK || rv == RL_ERR_EXISTS, "%s", why);
	cr_assert_eq(rl_zk_set_version(h->zk, epoch_path, "", 0, -1, &st, why, sizeof(why)), RL_OK,
	    "%s", why);
	return st.version;
}

// expect_progress checks /rill/jobs/wc-memory/offsets/words/<s> holds want[s].
static void
expect_progress(const harness *h, const int64_t *want)
{
	for (int s = 0; s < NSPLITS; s++) {
		char   path[256], why[512], *data = NULL;
		size_t len;
		snprintf(path, sizeof(path), "/rill/jobs/" PROGRESS_JOB "/offsets/" TOPIC "/%d", s);
		rl_err rv = rl_zk_get(h->zk, path, &data, &len, why, sizeof(why));
		cr_assert_eq(rv, RL_OK, "%s: %s", path, why);
		cr_expect_eq(strtoll(data, NULL, 10), want[s], "%s holds '%s'", path, data);
		rl_free(data);
	}
}

// A new leader that takes over at the first "batch-done" of the run: it
// bumps the epoch and writes progress of its own.
typedef struct usurper {
	harness   *h;
	atomic_int done;
} usurper;

static bool
usurp_at_batch_done(void *arg, const char *point)
{
	usurper *u = arg;
	if (strcmp(point, "batch-done") != 0 || atomic_fetch_add(&u->done, 1) > 0)
		return false;
	char            why[512], ids[NSPLITS][32];
	int32_t         epoch = bump_epoch(u->h, PROGRESS_JOB);
	rl_progress    *p;
	rl_progress_pos pos[NSPLITS];
	cr_assert_eq(rl_progress_open(u->h->zk, PROGRESS_JOB, epoch, &p, why, sizeof(why)), RL_OK,
	    "%s", why);
	for (int s = 0; s < NSPLITS; s++) {
		snprintf(ids[s], sizeof(ids[s]), TOPIC "/%d", s);
		pos[s] = (rl_progress_pos) { ids[s], 1000 + s };
	}
	cr_assert_eq(rl_progress_write(p, pos, NSPLITS, why, sizeof(why)), RL_OK, "%s", why);
	rl_progress_close(p);
	return false; // this process goes on, deposed
}

Test(runner, progress_reaches_zookeeper_and_a_deposed_runner_cannot_change_it)
{
	harness h = { 0 };
	harness_start(
	    &h, WORDCOUNT_JOB, "all", "backpressure: false, max_rate_per_split: 100", "false");
	append_records(40);
	char why[1024];
	rl_zk_delete(h.zk, "/rill/jobs/" PROGRESS_JOB, true, why, sizeof(why));
	rl_runner_opts opts = {
		.available_now = true,
		.min_executors = NEXECS,
		.checkpoint_dir = h.dir,
		.checkpoint_keep = 1000,
		.zk = h.zk,
		.epoch = (uint64_t)bump_epoch(&h, PROGRESS_JOB),
	};
	opts.batch_log = open_log(&h);
	rl_runner *r;
	cr_assert_eq(
	    rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_OK, "%s", why);
	rl_runner_stats stats;
	rl_err          rv = rl_runner_run(r, &stats, why, sizeof(why));
	rl_runner_destroy(r);
	cr_assert_eq(rv, RL_OK, "%s", why);
	expect_progress(&h, (int64_t[]) { 40, 40, 40 });
	int64_t times[64];
	size_t  ndone = batch_files(&h, "done", times, 64);

	// Another leader takes over after this runner's next done record: its
	// progress write is refused, and the run ends saying so.
	append_records(20);
	usurper u = { .h = &h };
	rl_fault_hook(usurp_at_batch_done, &u);
	cr_assert_eq(
	    rl_runner_create(h.job, h.pool, &opts, &r, why, sizeof(why)), RL_OK, "%s", why);
	rv = rl_runner_run(r, &stats, why, sizeof(why));
	rl_runner_destroy(r);
	rl_fault_hook(NULL, NULL);
	rl_batch_log_close(opts.batch_log);
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), why);
	cr_expect_not_null(strstr(why, "is done but its progress was refused"), "%s", why);
	cr_expect_not_null(strstr(why, "has a newer leader"), "%s", why);
	// That batch is done; nothing was planned after it.
	cr_expect_eq(batch_files(&h, "done", times, 64), ndone + 1);
	cr_expect_eq(batch_files(&h, "planned", times, 64), ndone + 1);
	expect_progress(&h, (int64_t[]) { 1000, 1001, 1002 });
	cr_expect_eq(rl_zk_delete(h.zk, "/rill/jobs/" PROGRESS_JOB, true, why, sizeof(why)), RL_OK,
	    "%s", why);
	harness_stop(&h);
}
#endif
