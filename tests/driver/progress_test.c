// SPDX-License-Identifier: Apache-2.0
// The job's progress in ZooKeeper against a real server (fixtures/zk_hooks.c
// starts one for all tests of this binary): nodes made and written, writes
// too long for one multi-op, fencing by the epoch, and claiming one.
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/zk.h"
#include "driver/fence.h"
#include "driver/progress.h"
#include "tests/fixtures/fixture.h"

#define CONNECT_MS 10000

static rl_zk *
session(void)
{
	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(rt_zk(), 5000, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", rt_zk(), rl_errname(rv), err);
	return zk;
}

// fresh_job names a job of this process and test with no nodes yet.
static const char *
fresh_job(rl_zk *zk, const char *tag)
{
	static char job[128];
	char        path[192], err[512];
	snprintf(job, sizeof(job), "progress-%ld-%s", (long)getpid(), tag);
	snprintf(path, sizeof(path), "/rill/jobs/%s", job);
	cr_assert_eq(rl_zk_delete(zk, path, true, err, sizeof(err)), RL_OK, "%s", err);
	return job;
}

// bump_epoch is what a newly elected leader does to the epoch node (made if
// missing): its version, the new epoch, is returned.
static int32_t
bump_epoch(rl_zk *zk, const char *job)
{
	char       path[256], err[512] = "";
	rl_zk_stat st;
	snprintf(path, sizeof(path), "/rill/jobs/%s/epoch", job);
	rl_err rv = rl_zk_create(zk, path, NULL, 0, 0, NULL, err, sizeof(err));
	cr_assert(rv == RL_OK || rv == RL_ERR_EXISTS, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(
	    rl_zk_set_version(zk, path, "", 0, -1, &st, err, sizeof(err)), RL_OK, "%s", err);
	return st.version;
}

static rl_progress *
open_progress(rl_zk *zk, const char *job, int32_t epoch)
{
	char         err[512] = "";
	rl_progress *p = NULL;
	rl_err       rv = rl_progress_open(zk, job, epoch, &p, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	return p;
}

static rl_err
write1(rl_progress *p, const char *id, int64_t position, char *err, size_t errlen)
{
	rl_progress_pos pos = { id, position };
	return rl_progress_write(p, &pos, 1, err, errlen);
}

// position reads job's node for split id: its value, or -1 when missing.
static int64_t
position(rl_zk *zk, const char *job, const char *id, rl_zk_stat *ret_stat)
{
	char   path[2048], err[512] = "", *data = NULL, *end;
	size_t len;
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets/%s", job, id);
	rl_err rv = rl_zk_get_stat(zk, path, NULL, 0, &data, &len, ret_stat, err, sizeof(err));
	if (rv == RL_ERR_NOENT)
		return -1;
	cr_assert_eq(rv, RL_OK, "%s: %s", path, err);
	int64_t v = strtoll(data, &end, 10);
	cr_assert(len > 0 && *end == '\0', "%s holds '%s', not a decimal position", path, data);
	rl_free(data);
	return v;
}

Test(progress, write_makes_missing_nodes_and_parents_then_sets_them)
{
	rl_zk          *zk = session();
	const char     *job = fresh_job(zk, "make");
	rl_progress    *p = open_progress(zk, job, bump_epoch(zk, job));
	rl_progress_pos pos[] = { { "clicks/0", 5 }, { "clicks/1", 0 }, { "views/12", 9 } };
	char            err[512] = "";
	cr_assert_eq(rl_progress_write(p, pos, 3, err, sizeof(err)), RL_OK, "%s", err);
	rl_zk_stat first, again;
	cr_expect_eq(position(zk, job, "clicks/0", &first), 5);
	cr_expect_eq(position(zk, job, "clicks/1", NULL), 0);
	cr_expect_eq(position(zk, job, "views/12", NULL), 9);
	// The next write sets the same node (not made again).
	cr_assert_eq(write1(p, "clicks/0", 17, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_eq(position(zk, job, "clicks/0", &again), 17);
	cr_expect_eq(again.czxid, first.czxid, "clicks/0 was made again");
	cr_expect_eq(again.version, first.version + 1);
	cr_expect_eq(position(zk, job, "clicks/1", NULL), 0, "a split not written is unchanged");
	// Nothing to write is no error.
	cr_expect_eq(rl_progress_write(p, NULL, 0, err, sizeof(err)), RL_OK, "%s", err);
	rl_progress_close(p);
	rl_zk_close(zk);
}

Test(progress, write_under_an_old_epoch_is_refused_and_the_nodes_keep_the_new_leaders_values)
{
	rl_zk       *zk = session();
	const char  *job = fresh_job(zk, "fence");
	int32_t      old_epoch = bump_epoch(zk, job);
	rl_progress *deposed = open_progress(zk, job, old_epoch);
	char         err[1024] = "";
	cr_assert_eq(write1(deposed, "t/0", 10, err, sizeof(err)), RL_OK, "%s", err);

	// A new leader: epoch bumped, its own positions written.
	int32_t         new_epoch = bump_epoch(zk, job);
	rl_progress    *leader = open_progress(zk, job, new_epoch);
	rl_progress_pos mine[] = { { "t/0", 20 }, { "t/9", 21 } };
	cr_assert_eq(rl_progress_write(leader, mine, 2, err, sizeof(err)), RL_OK, "%s", err);

	// The deposed one, paused until now, writes a known node and a new one.
	rl_progress_pos late[] = { { "t/0", 30 }, { "t/5", 31 }, { "u/0", 32 } };
	rl_err          rv = rl_progress_write(deposed, late, 3, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	char want[256];
	snprintf(want, sizeof(want),
	    "/rill/jobs/%s/offsets: the positions of 3 splits: job %s has a newer leader (epoch "
	    "%" PRId32 " is current, this writer's is %" PRId32 ")",
	    job, job, new_epoch, old_epoch);
	cr_expect_str_eq(err, want);
	cr_expect_eq(position(zk, job, "t/0", NULL), 20);
	cr_expect_eq(position(zk, job, "t/9", NULL), 21);
	cr_expect_eq(position(zk, job, "t/5", NULL), -1, "the deposed writer made a node");
	cr_expect_eq(position(zk, job, "u/0", NULL), -1, "the deposed writer made a node");
	char path[256];
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets/u", job);
	cr_expect_eq(rl_zk_exists(zk, path, NULL, 0, NULL, err, sizeof(err)), RL_ERR_NOENT,
	    "the deposed writer made %s", path);
	// The leader goes on.
	cr_expect_eq(write1(leader, "t/0", 40, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_eq(position(zk, job, "t/0", NULL), 40);
	rl_progress_close(leader);
	rl_progress_close(deposed);
	rl_zk_close(zk);
}

Test(progress, a_removed_job_refuses_the_write_and_nothing_comes_back)
{
	rl_zk       *zk = session();
	const char  *job = fresh_job(zk, "removed");
	rl_progress *p = open_progress(zk, job, bump_epoch(zk, job));
	char         err[1024] = "", path[192];
	cr_assert_eq(write1(p, "t/0", 1, err, sizeof(err)), RL_OK, "%s", err);
	snprintf(path, sizeof(path), "/rill/jobs/%s", job);
	cr_assert_eq(rl_zk_delete(zk, path, true, err, sizeof(err)), RL_OK, "%s", err);
	rl_err rv = write1(p, "t/0", 2, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_expect_not_null(strstr(err, "is gone (the job was removed)"), "%s", err);
	cr_expect_eq(rl_zk_exists(zk, path, NULL, 0, NULL, err, sizeof(err)), RL_ERR_NOENT,
	    "%s came back", path);
	rl_progress_close(p);
	rl_zk_close(zk);
}

// Ids of about 1000 bytes: 1100 of them are more than ZooKeeper takes in
// one request (about 1 MB), so the write needs several multi-ops.
#define LONG_IDS 1100
#define LONG_ID_LEN 1000

static char **
long_ids(void)
{
	char **ids = rl_calloc(LONG_IDS, sizeof(char *));
	char   pad[LONG_ID_LEN];
	memset(pad, 'x', sizeof(pad));
	for (int i = 0; i < LONG_IDS; i++)
		ids[i] = rl_strdup_printf("topic/%.*s-%04d", LONG_ID_LEN - 11, pad, i);
	return ids;
}

Test(progress, a_write_too_long_for_one_multi_op_goes_in_several_each_fenced, .timeout = 120)
{
	rl_zk           *zk = session();
	const char      *job = fresh_job(zk, "long");
	int32_t          old_epoch = bump_epoch(zk, job);
	rl_progress     *p = open_progress(zk, job, old_epoch);
	char           **ids = long_ids();
	rl_progress_pos *pos = rl_calloc(LONG_IDS, sizeof(*pos));
	for (int i = 0; i < LONG_IDS; i++)
		pos[i] = (rl_progress_pos) { ids[i], 1000 + i };
	char err[1024] = "";
	cr_assert_eq(rl_progress_write(p, pos, LONG_IDS, err, sizeof(err)), RL_OK, "%s", err);
	for (int i = 0; i < LONG_IDS; i++)
		cr_assert_eq(position(zk, job, ids[i], NULL), 1000 + i, "split %d", i);
	// Set again, all of them; then refused, all of them, once deposed.
	for (int i = 0; i < LONG_IDS; i++)
		pos[i].pp_position = 5000 + i;
	cr_assert_eq(rl_progress_write(p, pos, LONG_IDS, err, sizeof(err)), RL_OK, "%s", err);
	bump_epoch(zk, job);
	for (int i = 0; i < LONG_IDS; i++)
		pos[i].pp_position = 9000 + i;
	rl_err rv = rl_progress_write(p, pos, LONG_IDS, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	for (int i = 0; i < LONG_IDS; i++)
		cr_assert_eq(position(zk, job, ids[i], NULL), 5000 + i, "split %d", i);
	for (int i = 0; i < LONG_IDS; i++)
		rl_free(ids[i]);
	rl_free(ids);
	rl_free(pos);
	rl_progress_close(p);
	char path[192];
	snprintf(path, sizeof(path), "/rill/jobs/%s", job);
	cr_expect_eq(rl_zk_delete(zk, path, true, err, sizeof(err)), RL_OK, "%s", err);
	rl_zk_close(zk);
}

Test(progress, nodes_deleted_or_made_by_others_meanwhile_are_written_all_the_same)
{
	rl_zk          *zk = session();
	const char     *job = fresh_job(zk, "others");
	rl_progress    *p = open_progress(zk, job, bump_epoch(zk, job));
	char            err[512] = "", path[256];
	rl_progress_pos first[] = { { "t/0", 1 }, { "t/1", 1 } };
	cr_assert_eq(rl_progress_write(p, first, 2, err, sizeof(err)), RL_OK, "%s", err);
	// Someone deletes t/0 and makes t/2, and a whole topic's parent.
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets/t/0", job);
	cr_assert_eq(rl_zk_delete(zk, path, false, err, sizeof(err)), RL_OK, "%s", err);
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets/t/2", job);
	cr_assert_eq(rl_zk_set(zk, path, "x", 1, err, sizeof(err)), RL_OK, "%s", err);
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets/u", job);
	cr_assert_eq(rl_zk_set(zk, path, "", 0, err, sizeof(err)), RL_OK, "%s", err);
	rl_progress_pos next[] = { { "t/0", 2 }, { "t/1", 2 }, { "t/2", 2 }, { "u/0", 2 } };
	cr_assert_eq(rl_progress_write(p, next, 4, err, sizeof(err)), RL_OK, "%s", err);
	for (size_t i = 0; i < 4; i++)
		cr_expect_eq(position(zk, job, next[i].pp_id, NULL), 2, "%s", next[i].pp_id);
	// And the whole offsets node, while this writer thinks it knows it.
	snprintf(path, sizeof(path), "/rill/jobs/%s/offsets", job);
	cr_assert_eq(rl_zk_delete(zk, path, true, err, sizeof(err)), RL_OK, "%s", err);
	for (size_t i = 0; i < 4; i++)
		next[i].pp_position = 3;
	cr_assert_eq(rl_progress_write(p, next, 4, err, sizeof(err)), RL_OK, "%s", err);
	for (size_t i = 0; i < 4; i++)
		cr_expect_eq(position(zk, job, next[i].pp_id, NULL), 3, "%s", next[i].pp_id);
	rl_progress_close(p);
	rl_zk_close(zk);
}

Test(progress, split_ids_that_cannot_name_a_node_are_refused_and_nothing_is_written)
{
	rl_zk       *zk = session();
	const char  *job = fresh_job(zk, "badid");
	rl_progress *p = open_progress(zk, job, bump_epoch(zk, job));
	const char  *bad[] = { "", "/t/0", "t//0", "t/0/", "t/..", "./0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char            err[512] = "";
		rl_progress_pos pos[] = { { "good/0", 1 }, { bad[i], 1 } };
		rl_err          rv = rl_progress_write(p, pos, 2, err, sizeof(err));
		cr_expect_eq(rv, RL_ERR_INVAL, "'%s': %s", bad[i], rl_errname(rv));
		char want[64];
		snprintf(want, sizeof(want), "split id '%s' cannot name a node", bad[i]);
		cr_expect_not_null(strstr(err, want), "%s", err);
		cr_expect_eq(position(zk, job, "good/0", NULL), -1, "written beside '%s'", bad[i]);
	}
	char         err[512] = "";
	rl_progress *q = NULL;
	cr_expect_eq(rl_progress_open(zk, "a/b", 1, &q, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_eq(rl_progress_open(zk, job, -1, &q, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_null(q);
	rl_progress_close(p);
	rl_zk_close(zk);
}

Test(progress, a_claimed_epoch_fences_every_earlier_writer)
{
	rl_zk      *zk = session();
	const char *job = fresh_job(zk, "claim");
	char        err[1024] = "";
	int32_t     first = -1, second = -1;
	// No epoch node yet: the claim makes it.
	cr_assert_eq(rl_fence_claim(zk, job, &first, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_eq(first, 1);
	rl_progress *p = open_progress(zk, job, first);
	cr_assert_eq(write1(p, "t/0", 7, err, sizeof(err)), RL_OK, "%s", err);
	// An elected leader's epoch is newer still; a claim after it, newer again.
	int32_t elected = bump_epoch(zk, job);
	cr_expect_gt(elected, first);
	cr_assert_eq(rl_fence_claim(zk, job, &second, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_gt(second, elected);
	rl_progress *by_leader = open_progress(zk, job, elected);
	cr_expect_eq(write1(by_leader, "t/0", 8, err, sizeof(err)), RL_ERR_STALE_EPOCH, "%s", err);
	cr_expect_eq(write1(p, "t/0", 9, err, sizeof(err)), RL_ERR_STALE_EPOCH, "%s", err);
	cr_expect_eq(position(zk, job, "t/0", NULL), 7);
	rl_progress *q = open_progress(zk, job, second);
	cr_expect_eq(write1(q, "t/0", 10, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_eq(position(zk, job, "t/0", NULL), 10);
	rl_progress_close(q);
	rl_progress_close(by_leader);
	rl_progress_close(p);
	rl_zk_close(zk);
}
