// SPDX-License-Identifier: Apache-2.0
// The reduce side of join: pairs of equal keys, numbers in decimal, left
// records without a match, blocks copied out of the fetch's buffer, bad
// blocks refused; a random join against a nested-loop reference.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "executor/join.h"
#include "executor/shuffle.h"

typedef struct collected {
	char  *lines[65536];
	size_t n;
} collected;

static rl_err
collect(void *arg, rl_rec *rec)
{
	collected *c = arg;
	cr_assert_lt(c->n, 65536);
	uint8_t *buf = rl_malloc(rl_rec_format_max(rec) + 1);
	size_t   len = rl_rec_format(rec, '|', buf);
	buf[len] = '\0';
	c->lines[c->n++] = (char *)buf;
	return RL_OK;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
collected_fini(collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		rl_free(c->lines[i]);
	c->n = 0;
}

static rl_rec
bytes_rec(const char *key, const char *val)
{
	return (rl_rec) { .r_key = (const uint8_t *)key,
		.r_key_len = key != NULL ? strlen(key) : 0,
		.r_val = (const uint8_t *)val,
		.r_val_len = strlen(val) };
}

// add_block encodes recs as one block, hands it to the join and scribbles
// over the encoding: the join must have kept a copy.
static void
add_block(rl_join *j, bool right, const rl_rec *recs, size_t n)
{
	rl_buf b = RL_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		rl_block_put(&b, &recs[i]);
	rl_join_add_block(j, right, b.b_data, b.b_len);
	memset(b.b_data, 0xff, b.b_len);
	rl_buf_fini(&b);
}

// run_join joins the blocks given and returns the sorted "key|value" lines.
static rl_err
run_join(rl_join *j, collected *c, uint64_t *records, char *err, size_t errlen)
{
	rl_arena scratch;
	rl_arena_init(&scratch, 256);
	rl_chain chain;
	cr_assert_eq(rl_chain_init(&chain, NULL, 0, &scratch, collect, c, err, errlen), RL_OK);
	rl_err rv = rl_join_run(j, &chain, records, err, errlen);
	rl_chain_fini(&chain);
	rl_arena_fini(&scratch);
	qsort(c->lines, c->n, sizeof(char *), cmp_str);
	return rv;
}

static void
assert_lines(const collected *c, const char *const *want, size_t n)
{
	cr_assert_eq(c->n, n, "%zu lines, want %zu", c->n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(c->lines[i], want[i]);
}

Test(join, pairs_every_record_of_a_key_with_every_other_sides_record)
{
	rl_arena arena;
	rl_arena_init(&arena, 64);
	for (int left = 0; left < 2; left++) {
		rl_join j;
		rl_join_init(&j, &arena, left);
		rl_rec l1[] = { bytes_rec("a", "x1"), bytes_rec("b", "y"),
			{ .r_key = (const uint8_t *)"c",
			    .r_key_len = 1,
			    .r_num = -7,
			    .r_is_num = true } };
		rl_rec r1[] = { bytes_rec("a", "A1"), bytes_rec("z", "Z") };
		rl_rec l2[] = { bytes_rec("a", "x2"), bytes_rec("", "e") };
		rl_rec r2[] = { bytes_rec("a", "A2"),
			{ .r_key = (const uint8_t *)"c",
			    .r_key_len = 1,
			    .r_num = 42,
			    .r_is_num = true },
			bytes_rec("", "E"), bytes_rec("c", "") };
		// The sides' blocks come in any order.
		add_block(&j, false, l1, 3);
		add_block(&j, true, r1, 2);
		add_block(&j, false, l2, 2);
		add_block(&j, true, r2, 4);
		collected *c = rl_calloc(1, sizeof(*c));
		uint64_t   records = 0;
		char       err[256] = "";
		cr_assert_eq(run_join(&j, c, &records, err, sizeof(err)), RL_OK, "%s", err);
		cr_assert_eq(records, 11);
		// b has no match: kept by left only, with an empty right; z has no
		// left record: never out.
		const char *inner[] = { "a|x1\tA1", "a|x1\tA2", "a|x2\tA1", "a|x2\tA2", "c|-7\t",
			"c|-7\t42", "|e\tE" };
		const char *outer[] = { "a|x1\tA1", "a|x1\tA2", "a|x2\tA1", "a|x2\tA2", "b|y\t",
			"c|-7\t", "c|-7\t42", "|e\tE" };
		qsort(inner, 7, sizeof(char *), cmp_str);
		qsort(outer, 8, sizeof(char *), cmp_str);
		if (left)
			assert_lines(c, outer, 8);
		else
			assert_lines(c, inner, 7);
		collected_fini(c);
		rl_free(c);
		rl_join_fini(&j);
	}
	rl_arena_fini(&arena);
}

Test(join, refuses_keyless_records_and_malformed_blocks)
{
	rl_arena arena;
	rl_arena_init(&arena, 64);
	rl_join j;
	rl_join_init(&j, &arena, false);
	rl_rec keyless = { .r_val = (const uint8_t *)"v", .r_val_len = 1 };
	add_block(&j, true, &keyless, 1);
	collected *c = rl_calloc(1, sizeof(*c));
	uint64_t   records = 0;
	char       err[256] = "";
	cr_assert_eq(run_join(&j, c, &records, err, sizeof(err)), RL_ERR_PROTO);
	cr_assert_not_null(strstr(err, "without a key"), "%s", err);
	rl_join_fini(&j);
	rl_join_init(&j, &arena, true);
	const uint8_t torn[] = { 4, 'a', 'b' }; // a key of 3 bytes, 2 there
	rl_join_add_block(&j, false, torn, sizeof(torn));
	cr_assert_eq(run_join(&j, c, &records, err, sizeof(err)), RL_ERR_PROTO);
	cr_assert_not_null(strstr(err, "malformed join shuffle block (3 bytes)"), "%s", err);
	cr_assert_eq(c->n, 0);
	rl_free(c);
	rl_join_fini(&j);
	rl_arena_fini(&arena);
}

// Thousands of records on few keys (the table grows past its first size on
// the right side) against the nested loop over the same records.
Test(join, random_records_match_a_nested_loop)
{
	enum { NL = 3000, NR = 2500 };
	static char   lk[NL][8], lv[NL][8], rk[NR][8], rv[NR][8];
	static rl_rec l[NL], r[NR];
	srand(11);
	for (int i = 0; i < NL; i++) {
		snprintf(lk[i], sizeof(lk[i]), "k%d", rand() % 1400);
		snprintf(lv[i], sizeof(lv[i]), "l%d", i);
		l[i] = bytes_rec(lk[i], lv[i]);
	}
	for (int i = 0; i < NR; i++) {
		snprintf(rk[i], sizeof(rk[i]), "k%d", 700 + rand() % 1400);
		snprintf(rv[i], sizeof(rv[i]), "r%d", i);
		r[i] = bytes_rec(rk[i], rv[i]);
	}
	rl_arena arena;
	rl_arena_init(&arena, 4096);
	rl_join j;
	rl_join_init(&j, &arena, true);
	for (int i = 0; i < NR; i += 500)
		add_block(&j, true, r + i, 500);
	for (int i = 0; i < NL; i += 1000)
		add_block(&j, false, l + i, 1000);
	collected *c = rl_calloc(1, sizeof(*c)), *want = rl_calloc(1, sizeof(*want));
	uint64_t   records = 0;
	char       err[256] = "";
	cr_assert_eq(run_join(&j, c, &records, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(records, NL + NR);
	for (int i = 0; i < NL; i++) {
		bool matched = false;
		for (int k = 0; k < NR; k++) {
			if (strcmp(lk[i], rk[k]) != 0)
				continue;
			matched = true;
			want->lines[want->n++] = rl_strdup_printf("%s|%s\t%s", lk[i], lv[i], rv[k]);
		}
		if (!matched)
			want->lines[want->n++] = rl_strdup_printf("%s|%s\t", lk[i], lv[i]);
	}
	qsort(want->lines, want->n, sizeof(char *), cmp_str);
	cr_assert_gt(want->n, NL, "some keys repeat on the right");
	assert_lines(c, (const char *const *)want->lines, want->n);
	collected_fini(c);
	collected_fini(want);
	rl_free(c);
	rl_free(want);
	rl_join_fini(&j);
	rl_arena_fini(&arena);
}
