// SPDX-License-Identifier: Apache-2.0
// The batch log in ZooKeeper against a real server (fixtures/zk_hooks.c
// starts one for all tests of this binary): records, recovery's choice,
// corrupt nodes, format 1, pruning as the directory prunes, and fencing.
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "common/zk.h"
#include "driver/batch_log.h"
#include "driver/election.h"
#include "tests/fixtures/fixture.h"
#include "tests/fixtures/records.h"

#define CONNECT_MS 10000
#define MAX_NAMES 4096

static rl_zk *
session(void)
{
	const char *connect = rt_zk();
	char        err[512] = "";
	rl_zk      *zk = NULL;
	rl_err      rv = rl_zk_connect(connect, 5000, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", connect, rl_errname(rv), err);
	return zk;
}

// ---- a log and what it warned about ----

typedef struct {
	rl_zk        *zk;
	const char   *job;
	char          log_path[256];
	int32_t       epoch;
	rt_warnings   warn;
	rl_batch_log *log;
} env;

// bump_epoch sets the epoch node (creating it) and returns its new version,
// as a newly elected leader's multi-op does.
static int32_t
bump_epoch(rl_zk *zk, const char *job)
{
	char       path[256], err[512] = "";
	rl_zk_stat st;
	snprintf(path, sizeof(path), "/rill/jobs/%s/epoch", job);
	rl_err rv = rl_zk_create(zk, path, NULL, 0, 0, NULL, err, sizeof(err));
	cr_assert(rv == RL_OK || rv == RL_ERR_EXISTS, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_set_version(zk, path, "", 0, -1, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	return st.version;
}

static rl_batch_log *
open_log(env *e, int32_t epoch, int keep)
{
	char          err[512] = "";
	rl_batch_log *log = NULL;
	rl_err        rv = rl_batch_log_open_zk(
	           e->zk, e->job, epoch, keep, rt_collect, &e->warn, &log, err, sizeof(err));
	cr_assert_eq(
	    rv, RL_OK, "open %s at epoch %d: %s: %s", e->job, (int)epoch, rl_errname(rv), err);
	return log;
}

// env_open starts job afresh: no nodes, epoch 1, a log kept to keep.
static void
env_open(env *e, const char *job, int keep)
{
	memset(e, 0, sizeof(*e));
	e->zk = session();
	e->job = job;
	snprintf(e->log_path, sizeof(e->log_path), "/rill/jobs/%s/log", job);
	char path[256], err[512] = "";
	snprintf(path, sizeof(path), "/rill/jobs/%s", job);
	rl_err rv = rl_zk_delete(e->zk, path, true, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	e->epoch = bump_epoch(e->zk, job);
	e->log = open_log(e, e->epoch, keep);
	cr_assert_str_eq(rl_batch_log_where(e->log), e->log_path);
}

static void
env_close(env *e)
{
	rl_batch_log_close(e->log);
	rl_zk_close(e->zk);
}

static rl_err
try_put(rl_batch_log *log, int64_t t, Rill__BatchRecord__Phase phase, char *err, size_t errlen)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.batch_time_ms = t;
	rec.phase = phase;
	rec.job = "wordcount";
	return rl_batch_log_write(log, &rec, err, errlen);
}

static void
put(env *e, int64_t t, Rill__BatchRecord__Phase phase)
{
	char   err[512] = "";
	rl_err rv = try_put(e->log, t, phase, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "write %lld: %s: %s", (long long)t, rl_errname(rv), err);
}

static Rill__BatchRecord *
latest_of(rl_batch_log *log)
{
	Rill__BatchRecord *rec = (Rill__BatchRecord *)1;
	char               err[512] = "";
	rl_err             rv = rl_batch_log_latest(log, &rec, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "latest: %s: %s", rl_errname(rv), err);
	cr_assert_neq(rec, (Rill__BatchRecord *)1, "latest left *ret unset");
	return rec;
}

static void
expect_latest(env *e, int64_t t, Rill__BatchRecord__Phase phase)
{
	Rill__BatchRecord *rec = latest_of(e->log);
	cr_assert_not_null(rec, "no latest record, expected %lld", (long long)t);
	cr_expect_eq(rec->batch_time_ms, t, "latest is %lld", (long long)rec->batch_time_ms);
	cr_expect_eq(rec->phase, phase);
	rill__batch_record__free_unpacked(rec, NULL);
}

static void
node_path(const env *e, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", e->log_path, name);
}

static bool
exists(env *e, const char *name)
{
	char   path[512], err[512] = "";
	rl_err rv;
	node_path(e, name, path, sizeof(path));
	rv = rl_zk_exists(e->zk, path, NULL, 0, NULL, err, sizeof(err));
	cr_assert(rv == RL_OK || rv == RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	return rv == RL_OK;
}

// plant writes raw bytes into the node name, as a foreign writer would.
static void
plant(env *e, const char *name, const void *bytes, size_t len)
{
	char   path[512], err[512] = "";
	rl_err rv;
	node_path(e, name, path, sizeof(path));
	rv = rl_zk_set(e->zk, path, bytes, len, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s: %s", path, rl_errname(rv), err);
}

static char *
node_bytes(env *e, const char *name, size_t *ret_len)
{
	char   path[512], err[512] = "", *data;
	rl_err rv;
	node_path(e, name, path, sizeof(path));
	rv = rl_zk_get(e->zk, path, &data, ret_len, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s: %s", path, rl_errname(rv), err);
	return data;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// children lists the log's nodes, sorted, one string "a,b,c" in buf.
static void
children(env *e, char *buf, size_t len)
{
	char **names;
	size_t n;
	char   err[512] = "";
	rl_err rv = rl_zk_children(e->zk, e->log_path, &names, &n, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	qsort(names, n, sizeof(char *), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i > 0 ? "," : "", names[i]);
	rl_zk_free_names(names);
}

// ---- records ----

Test(batch_log, round_trip_keeps_every_field_as_checkpoint_bytes)
{
	env e;
	env_open(&e, "roundtrip", 3);
	rt_full_record f;
	rt_full_record_init(&f);
	f.rec.state_read_ms = 17;

	char err[512] = "";
	cr_assert_eq(rl_batch_log_write(e.log, &f.rec, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_eq(f.rec.format_version, 2);
	cr_expect_gt(f.rec.written_ms, 0);

	// The node holds a checkpoint file's bytes.
	size_t         len;
	unsigned char *b = (unsigned char *)node_bytes(&e, "1700000002000.done", &len);
	cr_assert_geq(len, 16);
	cr_expect_eq(memcmp(b, "RILLCKP1", 8), 0);
	uint32_t plen = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
	cr_expect_eq(plen, len - 16);
	cr_expect_eq(rl_crc32c(b + 16, len - 16),
	    (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
	rl_free(b);

	Rill__BatchRecord *got = latest_of(e.log);
	cr_assert_not_null(got);
	rt_full_record_expect(got, &f.rec);
	cr_expect_eq(got->state_read_ms, 17);
	rill__batch_record__free_unpacked(got, NULL);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(batch_log, rewriting_a_phase_replaces_its_node)
{
	env e;
	env_open(&e, "rewrite", 3);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__PLANNED);
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.batch_time_ms = 1000;
	rec.phase = RILL__BATCH_RECORD__PHASE__PLANNED;
	rec.job = "again";
	char err[512] = "";
	cr_assert_eq(rl_batch_log_write(e.log, &rec, err, sizeof(err)), RL_OK, "%s", err);
	Rill__BatchRecord *got = latest_of(e.log);
	cr_assert_not_null(got);
	cr_expect_str_eq(got->job, "again");
	rill__batch_record__free_unpacked(got, NULL);
	env_close(&e);
}

Test(batch_log, latest_is_the_newest_batch_by_number_and_its_most_advanced_phase)
{
	env e;
	env_open(&e, "latest", 10);
	cr_expect_null(latest_of(e.log), "an empty log has no latest record");
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	expect_latest(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	// "10000" sorts before "2000" as a name, after it as a number.
	put(&e, 10000, RILL__BATCH_RECORD__PHASE__PLANNED);
	expect_latest(&e, 10000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 10000, RILL__BATCH_RECORD__PHASE__DONE);
	expect_latest(&e, 10000, RILL__BATCH_RECORD__PHASE__DONE);
	// Foreign names are ignored silently.
	plant(&e, "README", "not a record", 12);
	plant(&e, "020000.done", "x", 1);
	expect_latest(&e, 10000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_eq(e.warn.n, 0, "%s", e.warn.n > 0 ? e.warn.why[0] : "");
	env_close(&e);
}

// The directory's corruption scene: batch 1000 done, 2000 planned and
// prepared, and a broken done node of 2000 planted: latest skips it with
// one warning that names it, and falls back to 2000's prepared record.
static void
expect_skipped(const char *job, const void *bytes, size_t len, const char *reason)
{
	env e;
	env_open(&e, job, 10);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	plant(&e, "2000.done", bytes, len);
	expect_latest(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	char path[512];
	node_path(&e, "2000.done", path, sizeof(path));
	cr_assert_eq(e.warn.n, 1, "expected one warning, got %zu", e.warn.n);
	cr_expect_str_eq(e.warn.path[0], path);
	cr_expect_not_null(
	    strstr(e.warn.why[0], reason), "warning \"%s\" lacks \"%s\"", e.warn.why[0], reason);
	env_close(&e);
}

Test(batch_log, corrupt_nodes_are_skipped_with_a_warning_naming_them)
{
	expect_skipped("corrupt-empty", "", 0, "torn: 0 of 16 header bytes");
	expect_skipped("corrupt-magic", "RILLCKP2xxxxxxxxxxxx", 20, "bad magic");
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 2;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.batch_time_ms = 2000;
	rec.job = "wordcount";
	size_t         len;
	unsigned char *good = rt_frame_record(&rec, &len);
	expect_skipped("corrupt-short", good, len - 3, "torn: length says");
	good[len - 1] ^= 0x40;
	expect_skipped("corrupt-crc", good, len, "CRC32C mismatch (stored 0x");
	free(good);
	rec.batch_time_ms = 1000;
	good = rt_frame_record(&rec, &len);
	expect_skipped("corrupt-batch", good, len, "names batch 2000 but holds 1000");
	free(good);
}

// tests/fixtures/checkpoint-v1 was written by the format 1 writer itself;
// its files become nodes, byte for byte.
Test(batch_log, format_1_records_read_as_format_2)
{
	env e;
	env_open(&e, "ckpv1", 10);
	const char *root = getenv("RILL_SOURCE_ROOT");
	cr_assert_not_null(root, "RILL_SOURCE_ROOT is not set");
	const char *names[] = { "1764633600000.done", "1764633601000.planned" };
	for (size_t i = 0; i < 2; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/tests/fixtures/checkpoint-v1/batches/%s", root,
		    names[i]);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		unsigned char buf[4096];
		size_t        n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		plant(&e, names[i], buf, n);
	}
	Rill__BatchRecord *got = latest_of(e.log);
	cr_assert_not_null(got);
	cr_expect_eq(got->format_version, 2);
	cr_expect_eq(got->batch_time_ms, 1764633601000);
	cr_expect_eq(got->phase, RILL__BATCH_RECORD__PHASE__PLANNED);
	cr_expect_str_eq(got->job, "ckpv1");
	cr_assert_eq(got->n_splits, 2);
	cr_expect_str_eq(got->splits[0]->kind, "kafka");
	cr_expect_str_eq(got->splits[0]->id, "ckpv1-words/0");
	cr_expect_eq(got->splits[0]->from, 3);
	cr_expect_eq(got->splits[0]->until, 5);
	cr_expect_str_eq(got->splits[1]->id, "ckpv1-words/1");
	cr_expect_eq(got->splits[1]->from, 2);
	cr_expect_eq(got->splits[1]->until, 6);
	rill__batch_record__free_unpacked(got, NULL);
	cr_expect_eq(e.warn.n, 0, "%s", e.warn.n > 0 ? e.warn.why[0] : "");
	env_close(&e);
}

// ---- pruning, against the directory ----

typedef struct {
	int64_t                  t;
	Rill__BatchRecord__Phase phase;
	bool                     corrupt; // plant a broken record instead of writing one
} step;

// dir_names lists the directory's batches/, sorted, as children() does.
static void
dir_names(const char *batches, char *buf, size_t len)
{
	DIR *d = opendir(batches);
	cr_assert_not_null(d, "%s: %s", batches, strerror(errno));
	char          *names[MAX_NAMES];
	size_t         n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			cr_assert_lt(n, MAX_NAMES);
			names[n++] = strdup(de->d_name);
		}
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i > 0 ? "," : "", names[i]);
		free(names[i]);
	}
}

static void
same_latest(rl_batch_log *dir, rl_batch_log *zk, size_t at)
{
	Rill__BatchRecord *a = latest_of(dir), *b = latest_of(zk);
	cr_assert_eq(a == NULL, b == NULL, "step %zu: one store has a latest record", at);
	if (a != NULL) {
		cr_expect_eq(a->batch_time_ms, b->batch_time_ms, "step %zu: latest batch", at);
		cr_expect_eq(a->phase, b->phase, "step %zu: latest phase", at);
		rill__batch_record__free_unpacked(a, NULL);
		rill__batch_record__free_unpacked(b, NULL);
	}
}

// warned_names lists the distinct last components of w's paths, sorted.
static void
warned_names(const rt_warnings *w, char *buf, size_t len)
{
	const char *names[RT_MAX_WARNINGS];
	size_t      n = 0;
	for (size_t i = 0; i < w->n; i++) {
		const char *slash = strrchr(w->path[i], '/');
		const char *name = slash != NULL ? slash + 1 : w->path[i];
		bool        seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(names[k], name) == 0;
		if (!seen)
			names[n++] = name;
	}
	qsort(names, n, sizeof(char *), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i > 0 ? "," : "", names[i]);
}

// run_both applies steps to a directory log and a ZooKeeper log, both kept
// to keep, and compares the kept names and latest after every step.
static void
run_both(const char *job, int keep, const step *steps, size_t nsteps)
{
	env e;
	env_open(&e, job, keep);
	char dir[64], batches[128], err[512] = "";
	snprintf(dir, sizeof(dir), "/tmp/rill-blog-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(batches, sizeof(batches), "%s/batches", dir);
	rt_warnings   dir_warn = { 0 };
	rl_batch_log *dlog = NULL;
	cr_assert_eq(
	    rl_batch_log_open_dir(dir, keep, rt_collect, &dir_warn, &dlog, err, sizeof(err)),
	    RL_OK);
	static char in_dir[65536], in_zk[65536];
	for (size_t i = 0; i < nsteps; i++) {
		const step *s = &steps[i];
		if (s->corrupt) {
			char name[64], path[256];
			snprintf(name, sizeof(name), "%lld.%s", (long long)s->t,
			    rl_checkpoint_phase_name(s->phase));
			plant(&e, name, "RILLCKP1", 8);
			snprintf(path, sizeof(path), "%s/%s", batches, name);
			FILE *f = fopen(path, "wb");
			cr_assert_not_null(f);
			fwrite("RILLCKP1", 1, 8, f);
			fclose(f);
		} else {
			cr_assert_eq(
			    try_put(dlog, s->t, s->phase, err, sizeof(err)), RL_OK, "%s", err);
			cr_assert_eq(try_put(e.log, s->t, s->phase, err, sizeof(err)), RL_OK,
			    "step %zu: %s", i, err);
		}
		dir_names(batches, in_dir, sizeof(in_dir));
		children(&e, in_zk, sizeof(in_zk));
		cr_assert_str_eq(in_zk, in_dir, "step %zu (batch %lld %s): kept sets differ", i,
		    (long long)s->t, rl_checkpoint_phase_name(s->phase));
		same_latest(dlog, e.log, i);
	}
	// Both warned about the same records (not always as often: with nothing
	// to prune the ZooKeeper log does not read its kept records again).
	char warned_dir[4096], warned_zk[4096];
	warned_names(&dir_warn, warned_dir, sizeof(warned_dir));
	warned_names(&e.warn, warned_zk, sizeof(warned_zk));
	cr_expect_str_eq(warned_zk, warned_dir);
	cr_expect_neq(warned_zk[0], '\0', "the scene has corrupt records");
	rl_batch_log_close(dlog);
	rl_remove_tree(dir);
	env_close(&e);
}

#define PL RILL__BATCH_RECORD__PHASE__PLANNED
#define PR RILL__BATCH_RECORD__PHASE__PREPARED
#define DN RILL__BATCH_RECORD__PHASE__DONE

static const step scene[] = {
	{ 1000, PL, false },
	{ 1000, PR, false },
	{ 1000, DN, false },
	{ 2000, PL, false },
	{ 2000, DN, false },
	{ 3000, PL, false },
	{ 3000, PR, false },
	{ 3000, DN, false },
	{ 4000, PL, false },
	{ 5000, PL, false },
	{ 5000, DN, false }, // 4000 stays open
	{ 6000, PL, false },
	{ 6000, DN, false },
	{ 9000, DN, true }, // a corrupt newer done
	{ 7000, PL, false },
	{ 8000, PL, false },
	{ 8000, PR, false },
	{ 8000, DN, false },
	{ 8000, DN, true }, // a kept done record goes bad
	{ 7000, DN, false },
	{ 10000, PL, false },
	{ 10000, DN, false },
	{ 11000, PL, true },
	{ 11000, DN, false },
	{ 12000, PL, false },
	{ 12000, PR, false },
	{ 12000, DN, false },
};

Test(batch_log, pruning_keeps_what_the_directory_keeps)
{
	run_both("prune-keep1", 1, scene, sizeof(scene) / sizeof(scene[0]));
	run_both("prune-keep2", 2, scene, sizeof(scene) / sizeof(scene[0]));
	run_both("prune-keep3", 3, scene, sizeof(scene) / sizeof(scene[0]));
	run_both("prune-keep100", 100, scene, sizeof(scene) / sizeof(scene[0]));
}

Test(batch_log, pruning_too_long_for_one_multi_op_goes_on_in_more)
{
	// 20000 old records: their deletes are more operations, and more bytes
	// (about 1.3 MB), than one multi-op may carry.
	env e;
	env_open(&e, "prune-long", 1);
	enum { OLD = 20000, BATCH = 500 };
	static char paths[BATCH][300];
	rl_zk_op    ops[BATCH];
	char        err[512] = "";
	for (int start = 0; start < OLD; start += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			snprintf(paths[i], sizeof(paths[i]), "%s/%lld.prepared", e.log_path,
			    1000000000000LL + start + i);
			ops[i] = rl_zk_op_create(paths[i], "x", 1, 0);
		}
		rl_err rv = rl_zk_multi(e.zk, ops, BATCH, NULL, err, sizeof(err));
		cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
		rl_zk_ops_fini(ops, BATCH);
	}
	put(&e, 2000000000000, RILL__BATCH_RECORD__PHASE__DONE);
	char in_zk[256];
	children(&e, in_zk, sizeof(in_zk));
	cr_expect_str_eq(in_zk, "2000000000000.done");
	env_close(&e);
}

// ---- size ----

// record_of_size builds a done record of batch t whose encoded bytes are
// size long (give or take a varint byte: the result is <= size).
static void
record_of_size(Rill__BatchRecord *rec, Rill__SplitRange *sr, Rill__SplitRange **srp,
    unsigned char *opaque, size_t size)
{
	rill__split_range__init(sr);
	sr->kind = "memory";
	sr->id = "big/0";
	sr->opaque.data = opaque;
	*srp = sr;
	rec->phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec->job = "wordcount";
	rec->splits = srp;
	rec->n_splits = 1;
	rec->format_version = 2;
	rec->written_ms = 1764633600000; // as many bytes as the writer's
	size_t want = size - 16;
	sr->opaque.len = want;
	while (rill__batch_record__get_packed_size(rec) > want)
		sr->opaque.len--;
}

Test(batch_log, records_up_to_the_limit_are_stored_and_larger_ones_refused)
{
	env e;
	env_open(&e, "large", 1);
	size_t             cap = RL_BATCH_LOG_ZK_RECORD_MAX + 4096;
	unsigned char     *opaque = calloc(1, cap);
	Rill__SplitRange   sr, *srp;
	Rill__BatchRecord  rec = RILL__BATCH_RECORD__INIT;
	char               err[512] = "";
	Rill__BatchRecord *got;

	rec.batch_time_ms = 1000;
	record_of_size(&rec, &sr, &srp, opaque, RL_BATCH_LOG_ZK_RECORD_MAX);
	size_t len = rill__batch_record__get_packed_size(&rec) + 16;
	cr_assert_geq(len, RL_BATCH_LOG_ZK_RECORD_MAX - 2);
	cr_assert_eq(rl_batch_log_write(e.log, &rec, err, sizeof(err)), RL_OK,
	    "a record of %zu bytes: %s", len, err);
	got = latest_of(e.log);
	cr_assert_not_null(got);
	cr_expect_eq(got->splits[0]->opaque.len, sr.opaque.len);
	rill__batch_record__free_unpacked(got, NULL);

	// Another: no room beside it for pruning the first, which goes in a
	// multi-op of its own.
	rec.batch_time_ms = 2000;
	cr_assert_eq(rl_batch_log_write(e.log, &rec, err, sizeof(err)), RL_OK, "%s", err);
	char in_zk[256];
	children(&e, in_zk, sizeof(in_zk));
	cr_expect_str_eq(in_zk, "2000.done");

	rec.batch_time_ms = 3000;
	record_of_size(&rec, &sr, &srp, opaque, RL_BATCH_LOG_ZK_RECORD_MAX + 100);
	cr_assert_eq(rl_batch_log_write(e.log, &rec, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_not_null(strstr(err, "/rill/jobs/large/log/3000.done"), "%s", err);
	cr_expect_not_null(strstr(err, "jute.maxbuffer"), "%s", err);
	cr_expect_not_null(strstr(err, "nothing written"), "%s", err);
	cr_expect_not(exists(&e, "3000.done"));
	free(opaque);
	env_close(&e);
}

// ---- fencing ----

Test(batch_log, deposed_writer_gets_stale_epoch_and_the_log_is_unchanged)
{
	env e;
	env_open(&e, "fenced", 1);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);
	char before[1024], after[1024], err[512] = "";
	children(&e, before, sizeof(before));
	size_t blen;
	char  *bbytes = node_bytes(&e, "2000.planned", &blen);

	// Another leader is elected: the epoch node's version moves on.
	int32_t newer = bump_epoch(e.zk, e.job);
	cr_assert_eq(newer, e.epoch + 1);

	// The old writer's records: a new phase, a rewrite, a done record that
	// would prune 1000.
	Rill__BatchRecord__Phase phases[] = { PR, PL, DN };
	for (size_t i = 0; i < 3; i++) {
		err[0] = '\0';
		rl_err rv = try_put(e.log, 2000, phases[i], err, sizeof(err));
		cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
		cr_expect_not_null(strstr(err, "job fenced has a newer leader"), "%s", err);
		cr_expect_not_null(
		    strstr(err, "epoch 2 is current, this writer's is 1"), "%s", err);
		cr_expect_not_null(strstr(err, "nothing written"), "%s", err);
	}
	children(&e, after, sizeof(after));
	cr_expect_str_eq(after, before);
	size_t alen;
	char  *abytes = node_bytes(&e, "2000.planned", &alen);
	cr_expect(alen == blen && memcmp(abytes, bbytes, alen) == 0, "2000.planned changed");
	rl_free(abytes);
	rl_free(bbytes);
	expect_latest(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);

	// The old epoch cannot open the log either; the new writer can, and
	// its done record prunes as usual.
	rl_batch_log *stale = NULL;
	rl_err        rv = rl_batch_log_open_zk(
	           e.zk, e.job, e.epoch, 1, rt_collect, &e.warn, &stale, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_expect_null(stale);
	rl_batch_log *fresh = open_log(&e, newer, 1);
	cr_assert_eq(try_put(fresh, 2000, DN, err, sizeof(err)), RL_OK, "%s", err);
	Rill__BatchRecord *got = latest_of(fresh);
	cr_assert_not_null(got);
	cr_expect_eq(got->batch_time_ms, 2000);
	cr_expect_eq(got->phase, DN);
	rill__batch_record__free_unpacked(got, NULL);
	children(&e, after, sizeof(after));
	cr_expect_str_eq(after, "2000.done,2000.planned");
	rl_batch_log_close(fresh);
	env_close(&e);
}

Test(batch_log, leader_deposed_by_an_election_cannot_write)
{
	rl_zk *za = session(), *zb = session();
	char   err[512] = "";
	rl_err rv = rl_zk_delete(za, "/rill/jobs/elected", true, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	rl_election_config ca = { .job = "elected", .url = "tcp://a:1" };
	rl_election_config cb = { .job = "elected", .url = "tcp://b:1" };
	rl_election       *a, *b;
	rl_election_event  ev;
	cr_assert_eq(rl_election_join(za, &ca, &a, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(rl_election_poll(a, 5000, &ev), RL_OK);
	cr_assert_eq(ev.type, RL_ELECTION_ELECTED);
	cr_assert_eq(rl_election_join(zb, &cb, &b, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(rl_election_poll(b, 5000, &ev), RL_OK);
	cr_assert_eq(ev.type, RL_ELECTION_STANDBY);

	rt_warnings   w = { 0 };
	rl_batch_log *la = NULL, *lb = NULL;
	rv = rl_batch_log_open_zk(za, "elected", (int32_t)rl_election_epoch(a), 10, rt_collect, &w,
	    &la, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	cr_assert_eq(try_put(la, 1000, DN, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(try_put(la, 2000, PL, err, sizeof(err)), RL_OK, "%s", err);

	// a steps down (as a paused leader is replaced); b leads and runs on.
	cr_assert_eq(rl_election_resign(a, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(rl_election_poll(b, 5000, &ev), RL_OK);
	cr_assert_eq(ev.type, RL_ELECTION_ELECTED);
	rv = rl_batch_log_open_zk(
	    zb, "elected", (int32_t)ev.epoch, 10, rt_collect, &w, &lb, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s", err);
	Rill__BatchRecord *rec = latest_of(lb);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->batch_time_ms, 2000, "the new leader recovers the planned batch");
	rill__batch_record__free_unpacked(rec, NULL);

	// a wakes up and writes its stale done record: refused.
	rv = try_put(la, 2000, DN, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_expect_not_null(strstr(err, "has a newer leader"), "%s", err);
	rec = latest_of(lb);
	cr_expect_eq(rec->phase, PL, "the deposed leader's done record was written");
	rill__batch_record__free_unpacked(rec, NULL);
	cr_assert_eq(try_put(lb, 2000, DN, err, sizeof(err)), RL_OK, "%s", err);
	rec = latest_of(la);
	cr_expect_eq(rec->phase, DN);
	rill__batch_record__free_unpacked(rec, NULL);
	cr_expect_eq(w.n, 0);

	rl_batch_log_close(la);
	rl_batch_log_close(lb);
	rl_election_destroy(a);
	rl_election_destroy(b);
	rl_zk_close(za);
	rl_zk_close(zb);
}

Test(batch_log, open_checks_its_arguments_and_the_epoch_node)
{
	rl_zk        *zk = session();
	rl_batch_log *log = NULL;
	char          err[512] = "";
	cr_expect_eq(rl_batch_log_open_zk(zk, "a/b", 1, 1, NULL, NULL, &log, err, sizeof(err)),
	    RL_ERR_INVAL);
	cr_expect_not_null(strstr(err, "'a/b'"), "%s", err);
	cr_expect_eq(
	    rl_batch_log_open_zk(zk, "", 1, 1, NULL, NULL, &log, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_eq(
	    rl_batch_log_open_zk(zk, "ok", 1, 0, NULL, NULL, &log, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_not_null(strstr(err, "keep must be at least 1 (got 0)"), "%s", err);
	// A job nobody leads (no epoch node): nobody may write its log.
	cr_assert_eq(rl_zk_delete(zk, "/rill/jobs/nobody", true, err, sizeof(err)), RL_OK);
	rl_err rv = rl_batch_log_open_zk(zk, "nobody", 1, 1, NULL, NULL, &log, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_expect_not_null(strstr(err, "/rill/jobs/nobody/epoch is gone"), "%s", err);
	cr_expect_null(log);
	cr_expect_eq(rl_zk_exists(zk, "/rill/jobs/nobody/log", NULL, 0, NULL, err, sizeof(err)),
	    RL_ERR_NOENT, "open made the log of a job nobody leads");
	rl_zk_close(zk);
}
