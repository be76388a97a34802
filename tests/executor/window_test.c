// SPDX-License-Identifier: Apache-2.0
// Batch-time windows (executor/window.c): slot arithmetic, an inverse and a
// folding window against a brute-force reference over the same batches, a
// restore from the changelog records a window wrote, and the records window.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "executor/shuffle.h"
#include "executor/state.h"
#include "executor/window.h"

Test(window, slots_are_batch_indexes_modulo_the_length)
{
	cr_assert_eq(rl_window_nslots(30000, 10000), 3);
	cr_assert_eq(rl_window_slot_of(1700000000000, 100, 5), (17000000000ull % 5));
	cr_assert_eq(rl_window_slot_of(700, 100, 3), 1);
	cr_assert_eq(rl_window_slot_of(800, 100, 3), 2);
	cr_assert_eq(rl_window_slot_of(900, 100, 3), 0);
	// Batch T and batch T + length share a slot: the newer replaces the older.
	cr_assert_eq(rl_window_slot_of(500, 100, 3), rl_window_slot_of(800, 100, 3));
}

Test(window, emits_at_multiples_of_the_slide)
{
	cr_assert(rl_window_emits(3000, 1000));
	cr_assert(rl_window_emits(3000, 300));
	cr_assert_not(rl_window_emits(3100, 300));
	cr_assert(rl_window_emits(3300, 300));
}

Test(window, leaving_slots_follow_the_gap_up_to_the_window)
{
	cr_assert_eq(rl_window_leaving(0, 500, 100, 3), 0, "no state: nothing to drop");
	cr_assert_eq(rl_window_leaving(400, 500, 100, 3), 1);
	cr_assert_eq(rl_window_leaving(300, 500, 100, 3), 2, "a batch skipped");
	cr_assert_eq(rl_window_leaving(100, 500, 100, 3), 3);
	cr_assert_eq(rl_window_leaving(100, 90000, 100, 3), 3, "never more than the window");
	cr_assert_eq(rl_window_leaving(500, 500, 100, 3), 0);
}

// A changelog as a list of records, in the order written.
typedef struct log_rec {
	uint8_t  key[64];
	size_t   key_len;
	uint8_t *value; // malloc'd
	size_t   value_len;
	bool     tomb;
} log_rec;

typedef struct clog {
	log_rec *recs;
	size_t   n, cap;
	size_t   puts, tombs;
} clog;

static rl_err
capture(void *arg, const void *key, size_t key_len, const void *value, size_t value_len)
{
	clog *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->recs = realloc(l->recs, l->cap * sizeof(log_rec));
	}
	log_rec *r = &l->recs[l->n++];
	cr_assert_leq(key_len, sizeof(r->key));
	cr_assert_leq(value_len, (size_t)RL_WINDOW_CHUNK);
	memcpy(r->key, key, key_len);
	r->key_len = key_len;
	r->tomb = value == NULL;
	r->value_len = value != NULL ? value_len : 0;
	r->value = malloc(r->value_len + 1);
	if (value != NULL)
		memcpy(r->value, value, value_len);
	l->puts += value != NULL;
	l->tombs += value == NULL;
	return RL_OK;
}

static void
clog_free(clog *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->recs[i].value);
	free(l->recs);
}

static void
log_marker(clog *l, int64_t batch_ms)
{
	uint8_t v[8];
	rl_be64_put(v, (uint64_t)batch_ms);
	capture(l, RL_STATE_LOG_MARKER, 1, v, sizeof(v));
}

#define NKEYS 40
#define BATCH 100

// The reference: per batch index, per key, the partial (0: none).
static int64_t ref[400][NKEYS];
static bool    has[400][NKEYS];

static void
make_batch(rl_arena *a, rl_combiner *c, int k, unsigned *seed)
{
	rl_combiner_init(c, RL_FN_SUM, a);
	for (int key = 0; key < NKEYS; key++) {
		has[k][key] = false;
		if (rand_r(seed) % 3 != 0)
			continue;
		int64_t v = (int64_t)(rand_r(seed) % 7) - 2; // some partials are 0 or negative
		char    name[16];
		int     len = snprintf(name, sizeof(name), "k%d", key);
		rl_combiner_put(c, (const uint8_t *)name, (size_t)len, v);
		ref[k][key] = v;
		has[k][key] = true;
	}
}

typedef struct got {
	int64_t value[NKEYS];
	bool    present[NKEYS];
	int     n;
} got;

static rl_err
collect(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	got *g = arg;
	char name[16];
	cr_assert_lt(key_len, sizeof(name));
	memcpy(name, key, key_len);
	name[key_len] = '\0';
	int k = atoi(name + 1);
	cr_assert_not(g->present[k], "key %s twice", name);
	g->present[k] = true;
	g->value[k] = value;
	g->n++;
	return RL_OK;
}

// expect_window compares a window's output at batch index k (present: the
// batches k-n+1..k that ran) with the reference.
static void
expect_window(rl_window *w, int k, int n, const bool *ran, const char *what)
{
	got         g = { 0 };
	rl_arena    a;
	rl_combiner scratch;
	rl_arena_init(&a, 4096);
	rl_combiner_init(&scratch, RL_FN_SUM, &a);
	cr_assert_eq(rl_window_each_value(w, (int64_t)k * BATCH, &scratch, collect, &g), RL_OK);
	int want_n = 0;
	for (int key = 0; key < NKEYS; key++) {
		int64_t sum = 0;
		bool    any = false;
		for (int b = k - n + 1; b <= k; b++)
			if (b >= 0 && ran[b] && has[b][key]) {
				sum += ref[b][key];
				any = true;
			}
		want_n += any;
		cr_assert_eq(g.present[key], any, "%s: batch %d key k%d present %d, want %d", what,
		    k, key, g.present[key], any);
		if (any)
			cr_assert_eq(g.value[key], sum, "%s: batch %d key k%d = %lld, want %lld",
			    what, k, key, (long long)g.value[key], (long long)sum);
	}
	cr_assert_eq(g.n, want_n);
	rl_combiner_fini(&scratch);
	rl_arena_fini(&a);
}

static rl_window *
replay(const clog *l, int n, bool inverse, int64_t *ret_reflects)
{
	rl_window *w
	    = rl_window_create(RL_WINDOW_REDUCE, (int64_t)n * BATCH, BATCH, inverse, false);
	*ret_reflects = 0;
	for (size_t i = 0; i < l->n; i++) {
		const log_rec *r = &l->recs[i];
		cr_assert_eq(rl_window_replay(w, r->key, r->key_len, r->tomb ? NULL : r->value,
		                 r->value_len, ret_reflects),
		    RL_OK);
	}
	rl_window_replay_done(w);
	return w;
}

// Batches 1..300 (some skipped: a gap, as catch_up: latest makes), a window
// of 7 batches: the inverse window, the folding one and a window restored
// from the inverse one's changelog after every 37th batch all give the
// reference at every batch.
Test(window, inverse_and_fold_equal_the_reference_and_a_restore)
{
	const int  n = 7;
	unsigned   seed = 42;
	bool       ran[400] = { 0 };
	clog       l = { 0 };
	rl_window *inv = rl_window_create(RL_WINDOW_REDUCE, n * BATCH, BATCH, true, false);
	rl_window *fold = rl_window_create(RL_WINDOW_REDUCE, n * BATCH, BATCH, false, false);
	int64_t    read_ms = 0;
	size_t     max_tombs = 0;
	for (int k = 1; k <= 300; k++) {
		if (k % 50 >= 40 && k % 50 < 43)
			continue; // skipped batches
		rl_arena    a;
		rl_combiner c;
		rl_arena_init(&a, 4096);
		make_batch(&a, &c, k, &seed);
		ran[k] = true;
		size_t          tombs = l.tombs;
		rl_window_batch b = {
			.wb_read_ms = read_ms,
			.wb_time_ms = (int64_t)k * BATCH,
			.wb_partials = &c,
			.wb_log = capture,
			.wb_log_arg = &l,
		};
		cr_assert_eq(rl_window_add(inv, &b), RL_OK);
		log_marker(&l, b.wb_time_ms);
		b.wb_log = NULL;
		cr_assert_eq(rl_window_add(fold, &b), RL_OK);
		// Per batch: tombstones for the keys of the slots that left only.
		if (l.tombs - tombs > max_tombs)
			max_tombs = l.tombs - tombs;
		read_ms = b.wb_time_ms;
		expect_window(inv, k, n, ran, "inverse");
		expect_window(fold, k, n, ran, "fold");
		if (k % 37 == 0) {
			int64_t    reflects;
			rl_window *back = replay(&l, n, true, &reflects);
			cr_assert_eq(reflects, b.wb_time_ms);
			expect_window(back, k, n, ran, "restored");
			rl_window_destroy(inv);
			inv = back; // go on from the restored window
		}
		rl_combiner_fini(&c);
		rl_arena_fini(&a);
	}
	// A gap of 3 batches drops up to 4 slots at once, never more than the
	// window holds: NKEYS keys a slot at most.
	cr_assert_leq(max_tombs, (size_t)(n * NKEYS));
	rl_window_destroy(inv);
	rl_window_destroy(fold);
	clog_free(&l);
}

static rl_err
count_records(void *arg, rl_rec *rec)
{
	int64_t *sum = arg;
	cr_assert(rec->r_is_num);
	*sum += rec->r_num;
	return RL_OK;
}

// The records window keeps each batch's records (chunked in the changelog
// past RL_WINDOW_CHUNK bytes) and gives the window's records at each batch,
// also once restored.
Test(window, records_window_keeps_each_batch_and_restores_chunked)
{
	const int  n = 3;
	rl_window *w = rl_window_create(RL_WINDOW_RECORDS, n * BATCH, BATCH, false, false);
	clog       l = { 0 };
	int64_t    per[10] = { 0 };
	int64_t    read_ms = 0;
	for (int k = 1; k < 10; k++) {
		rl_buf b = RL_BUF_INIT;
		// Batch 4: big enough for several chunks.
		int records = k == 4 ? 60000 : k * 10;
		for (int i = 0; i < records; i++) {
			rl_rec rec = { .r_key = (const uint8_t *)"key-of-some-length",
				.r_key_len = 18,
				.r_num = k,
				.r_is_num = true };
			rl_block_put(&b, &rec);
		}
		per[k] = (int64_t)records * k;
		rl_window_batch wb = {
			.wb_read_ms = read_ms,
			.wb_time_ms = (int64_t)k * BATCH,
			.wb_records = b.b_data,
			.wb_records_len = b.b_len,
			.wb_log = capture,
			.wb_log_arg = &l,
		};
		cr_assert_eq(rl_window_add(w, &wb), RL_OK);
		log_marker(&l, wb.wb_time_ms);
		read_ms = wb.wb_time_ms;
		rl_buf_fini(&b);
		int64_t want = 0, sum = 0;
		for (int j = k - n + 1; j <= k; j++)
			want += j > 0 ? per[j] : 0;
		cr_assert_eq(rl_window_each_record(w, read_ms, count_records, &sum), RL_OK);
		cr_assert_eq(sum, want, "batch %d", k);
		if (k == 5 || k == 8) {
			rl_window *back
			    = rl_window_create(RL_WINDOW_RECORDS, n * BATCH, BATCH, false, false);
			int64_t reflects = 0;
			for (size_t i = 0; i < l.n; i++)
				cr_assert_eq(
				    rl_window_replay(back, l.recs[i].key, l.recs[i].key_len,
				        l.recs[i].tomb ? NULL : l.recs[i].value,
				        l.recs[i].value_len, &reflects),
				    RL_OK);
			rl_window_replay_done(back);
			cr_assert_eq(reflects, read_ms);
			sum = 0;
			cr_assert_eq(
			    rl_window_each_record(back, read_ms, count_records, &sum), RL_OK);
			cr_assert_eq(sum, want, "restored at batch %d", k);
			rl_window_destroy(w);
			w = back;
		}
	}
	rl_window_destroy(w);
	clog_free(&l);
}

// count_by_window's key stays at 0 once its records left the window, also
// in a window restored from the changelog.
Test(window, a_kept_key_stays_at_zero_after_a_restore)
{
	rl_window  *w = rl_window_create(RL_WINDOW_REDUCE, 2 * BATCH, BATCH, true, true);
	clog        l = { 0 };
	rl_arena    a;
	rl_combiner c;
	rl_arena_init(&a, 4096);
	rl_combiner_init(&c, RL_FN_SUM, &a);
	rl_combiner_put(&c, (const uint8_t *)"k1", 2, 5);
	rl_window_batch b
	    = { .wb_time_ms = BATCH, .wb_partials = &c, .wb_log = capture, .wb_log_arg = &l };
	cr_assert_eq(rl_window_add(w, &b), RL_OK);
	log_marker(&l, BATCH);
	for (int k = 2; k <= 4; k++) {
		rl_window_batch e = { .wb_read_ms = (k - 1) * BATCH,
			.wb_time_ms = k * BATCH,
			.wb_log = capture,
			.wb_log_arg = &l };
		cr_assert_eq(rl_window_add(w, &e), RL_OK);
		log_marker(&l, k * BATCH);
	}
	got g = { 0 };
	cr_assert_eq(rl_window_each_value(w, 4 * BATCH, NULL, collect, &g), RL_OK);
	cr_assert(g.present[1]);
	cr_assert_eq(g.value[1], 0);
	int64_t    reflects;
	rl_window *back = rl_window_create(RL_WINDOW_REDUCE, 2 * BATCH, BATCH, true, true);
	for (size_t i = 0; i < l.n; i++)
		cr_assert_eq(
		    rl_window_replay(back, l.recs[i].key, l.recs[i].key_len,
		        l.recs[i].tomb ? NULL : l.recs[i].value, l.recs[i].value_len, &reflects),
		    RL_OK);
	rl_window_replay_done(back);
	got h = { 0 };
	cr_assert_eq(rl_window_each_value(back, 4 * BATCH, NULL, collect, &h), RL_OK);
	cr_assert(h.present[1]);
	cr_assert_eq(h.value[1], 0);
	rl_window_destroy(back);
	rl_window_destroy(w);
	rl_combiner_fini(&c);
	rl_arena_fini(&a);
	clog_free(&l);
}

// A restore refuses records of a window of another length.
Test(window, replay_refuses_a_slot_past_the_window)
{
	rl_window *w = rl_window_create(RL_WINDOW_REDUCE, 2 * BATCH, BATCH, false, false);
	uint8_t    key[7] = { 's', 0, 0, 0, 5, 'a', 'b' }, v[8] = { 0 };
	int64_t    reflects = 0;
	cr_assert_eq(rl_window_replay(w, key, sizeof(key), v, sizeof(v), &reflects), RL_ERR_PARSE);
	key[4] = 1;
	cr_assert_eq(rl_window_replay(w, key, sizeof(key), v, sizeof(v), &reflects), RL_OK);
	rl_window_destroy(w);
}

static rl_err
count_keys(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	int64_t *n = arg;
	(void)key;
	(void)key_len;
	cr_assert_eq(value, 3);
	(*n)++;
	return RL_OK;
}

// Keys that come once and leave: the running sum's key arena is compacted,
// so it stays the size of the live keys, and the window stays exact.
Test(window, running_sum_keys_of_departed_keys_are_reclaimed)
{
	rl_window *w = rl_window_create(RL_WINDOW_REDUCE, 2 * BATCH, BATCH, true, false);
	size_t     most = 0;
	for (int k = 1; k <= 120; k++) {
		rl_arena    a;
		rl_combiner c;
		rl_arena_init(&a, 64 * 1024);
		rl_combiner_init(&c, RL_FN_SUM, &a);
		for (int i = 0; i < 4000; i++) {
			char name[48];
			int  len = snprintf(name, sizeof(name), "batch-%d-key-%d-padding", k, i);
			rl_combiner_put(&c, (const uint8_t *)name, (size_t)len, 3);
		}
		rl_window_batch b = {
			.wb_read_ms = (k - 1) * BATCH,
			.wb_time_ms = k * BATCH,
			.wb_partials = &c,
		};
		cr_assert_eq(rl_window_add(w, &b), RL_OK);
		int64_t n = 0;
		cr_assert_eq(rl_window_each_value(w, k * BATCH, NULL, count_keys, &n), RL_OK);
		cr_assert_eq(n, k == 1 ? 4000 : 8000, "batch %d", k);
		if (rl_arena_reserved(&w->w_run_keys) > most)
			most = rl_arena_reserved(&w->w_run_keys);
		rl_combiner_fini(&c);
		rl_arena_fini(&a);
	}
	// 120 batches of 4000 new keys (~13 MB of keys in all); 8000 live.
	cr_assert_lt(most, (size_t)4 << 20, "the running keys' arena grew to %zu bytes", most);
	rl_window_destroy(w);
}
