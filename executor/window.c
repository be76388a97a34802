// SPDX-License-Identifier: Apache-2.0
// A state partition's batch-time window: slots, running sum, changelog records.
#include "executor/window.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "executor/shuffle.h"
#include "executor/state.h"

// back_slot is the slot of the batch i batches before batch index k (i < n).
static uint32_t
back_slot(uint64_t k, uint32_t i, uint32_t n)
{
	return (uint32_t)((k % n + n - i) % n);
}

uint32_t
rl_window_leaving(int64_t read_ms, int64_t time_ms, int64_t batch_ms, uint32_t nslots)
{
	if (read_ms <= 0 || time_ms <= read_ms)
		return 0;
	int64_t gap = (time_ms - read_ms) / batch_ms;
	return gap >= (int64_t)nslots ? nslots : (uint32_t)gap;
}

rl_window *
rl_window_create(
    rl_window_kind kind, int64_t length_ms, int64_t batch_ms, bool inverse, bool keep_zero)
{
	rl_window *w = RL_NEW(rl_window);
	w->w_kind = kind;
	w->w_batch_ms = batch_ms;
	w->w_nslots = rl_window_nslots(length_ms, batch_ms);
	if (w->w_nslots == 0)
		w->w_nslots = 1;
	w->w_inverse = kind == RL_WINDOW_REDUCE && inverse;
	w->w_keep_zero = keep_zero;
	w->w_slots = rl_calloc(w->w_nslots, sizeof(rl_window_slot));
	for (uint32_t j = 0; j < w->w_nslots; j++)
		rl_arena_init(&w->w_slots[j].ws_keys, 4096);
	rl_arena_init(&w->w_run_keys, 64 * 1024);
	if (w->w_inverse)
		rl_combiner_init(&w->w_running, RL_FN_SUM, &w->w_run_keys);
	return w;
}

static void
restore_chunks_free(rl_window_slot *s)
{
	for (uint32_t c = 0; c < s->ws_nrestore; c++)
		rl_buf_fini(&s->ws_restore[c]);
	rl_free(s->ws_restore);
	s->ws_restore = NULL;
	s->ws_nrestore = 0;
}

// restore_chunk keeps chunk c of slot s's records during a restore (value
// NULL or empty: a tombstone).
static void
restore_chunk(rl_window_slot *s, uint32_t c, const uint8_t *value, size_t value_len)
{
	if (c >= s->ws_nrestore) {
		s->ws_restore = rl_realloc(s->ws_restore, (c + 1) * sizeof(rl_buf));
		memset(
		    s->ws_restore + s->ws_nrestore, 0, (c + 1 - s->ws_nrestore) * sizeof(rl_buf));
		s->ws_nrestore = c + 1;
	}
	s->ws_restore[c].b_len = 0;
	if (value != NULL && value_len > 0)
		rl_buf_append(&s->ws_restore[c], value, value_len);
}

// slot_empty forgets what slot s holds (nothing logged).
static void
slot_empty(rl_window_slot *s)
{
	if (s->ws_table.c_slots != NULL)
		rl_combiner_fini(&s->ws_table);
	rl_arena_reset(&s->ws_keys);
	s->ws_records.b_len = 0;
	s->ws_chunks = 0;
	s->ws_used = false;
}

static void panes_free(rl_window *w);

void
rl_window_clear(rl_window *w)
{
	panes_free(w);
	for (uint32_t j = 0; j < w->w_nslots; j++) {
		slot_empty(&w->w_slots[j]);
		restore_chunks_free(&w->w_slots[j]);
	}
	if (w->w_inverse) {
		rl_combiner_fini(&w->w_running);
		rl_arena_fini(&w->w_run_keys);
		rl_arena_init(&w->w_run_keys, 64 * 1024);
		rl_combiner_init(&w->w_running, RL_FN_SUM, &w->w_run_keys);
		w->w_run_live = 0;
	}
}

void
rl_window_destroy(rl_window *w)
{
	if (w == NULL)
		return;
	for (uint32_t j = 0; j < w->w_nslots; j++) {
		rl_window_slot *s = &w->w_slots[j];
		if (s->ws_table.c_slots != NULL)
			rl_combiner_fini(&s->ws_table);
		rl_arena_fini(&s->ws_keys);
		rl_buf_fini(&s->ws_records);
		restore_chunks_free(s);
	}
	rl_free(w->w_slots);
	panes_free(w);
	rl_free(w->w_panes);
	rl_buf_fini(&w->w_outkey);
	if (w->w_inverse)
		rl_combiner_fini(&w->w_running);
	rl_arena_fini(&w->w_run_keys);
	rl_buf_fini(&w->w_logkey);
	rl_free(w);
}

// ---- changelog keys ----

static void
log_key(rl_window *w, const char *kind, uint32_t slot, const void *rest, size_t rest_len)
{
	uint8_t j[4];
	rl_be32_put(j, slot);
	w->w_logkey.b_len = 0;
	rl_buf_append(&w->w_logkey, kind, 1);
	rl_buf_append(&w->w_logkey, j, 4);
	if (rest_len > 0)
		rl_buf_append(&w->w_logkey, rest, rest_len);
}

static rl_err
log_partial(rl_window *w, const rl_window_batch *b, uint32_t slot, const uint8_t *key,
    size_t key_len, const int64_t *value)
{
	if (b->wb_log == NULL)
		return RL_OK;
	uint8_t v[8];
	if (value != NULL)
		rl_be64_put(v, (uint64_t)*value);
	log_key(w, RL_WINDOW_LOG_PARTIAL, slot, key, key_len);
	return b->wb_log(b->wb_log_arg, w->w_logkey.b_data, w->w_logkey.b_len,
	    value != NULL ? v : NULL, sizeof(v));
}

static rl_err
log_chunk(rl_window *w, const rl_window_batch *b, uint32_t slot, uint32_t chunk,
    const uint8_t *bytes, size_t len)
{
	if (b->wb_log == NULL)
		return RL_OK;
	uint8_t c[4];
	rl_be32_put(c, chunk);
	log_key(w, RL_WINDOW_LOG_CHUNK, slot, c, sizeof(c));
	return b->wb_log(b->wb_log_arg, w->w_logkey.b_data, w->w_logkey.b_len, bytes, len);
}

// ---- the running sum ----

// running_add adds (sign +1) or takes off (-1) a slot's partial of key.
// A key new to a window that keeps its keys at 0 is logged once, under
// RL_WINDOW_KEPT_SLOT, so that a restored window keeps it too.
static rl_err
running_add(rl_window *w, const rl_window_batch *b, const uint8_t *key, size_t key_len,
    int64_t partial, int sign)
{
	bool              fresh;
	rl_combine_entry *e = rl_combiner_entry(&w->w_running, key, key_len, &fresh);
	if (fresh)
		w->w_run_live += key_len;
	if (fresh && w->w_keep_zero && b != NULL) {
		int64_t zero = 0;
		rl_err  rv = log_partial(w, b, RL_WINDOW_KEPT_SLOT, key, key_len, &zero);
		if (rv != RL_OK)
			return rv;
	}
	e->e_acc += sign > 0 ? partial : -partial;
	e->e_aux += sign;
	if (e->e_aux <= 0 && !w->w_keep_zero) {
		// No slot holds the key: its sum is the identity, and it goes
		// (Spark's filterFunc on an inverse reduce).
		w->w_run_live -= key_len;
		rl_combiner_remove(&w->w_running, key, key_len);
	}
	return RL_OK;
}

// running_compact copies the running sum's keys into a fresh arena once the
// keys of removed entries take more room than the live ones (amortised: a
// copy of n keys follows at least n removals).
static void
running_compact(rl_window *w)
{
	if (rl_arena_reserved(&w->w_run_keys) <= 2 * w->w_run_live + (1u << 20))
		return;
	rl_arena    keys;
	rl_combiner table;
	rl_arena_init(&keys, 64 * 1024);
	rl_combiner_init(&table, RL_FN_SUM, &keys);
	for (size_t i = 0; i < w->w_running.c_cap; i++) {
		const rl_combine_entry *e = &w->w_running.c_slots[i];
		if (e->e_key == NULL)
			continue;
		bool              fresh;
		rl_combine_entry *n = rl_combiner_entry(&table, e->e_key, e->e_key_len, &fresh);
		n->e_acc = e->e_acc;
		n->e_aux = e->e_aux;
	}
	rl_combiner_fini(&w->w_running);
	rl_arena_fini(&w->w_run_keys);
	w->w_run_keys = keys;
	w->w_running = table;
	w->w_running.c_arena = &w->w_run_keys;
}

// ---- moving the window ----

// slot_drop takes slot j out of the window: tombstones for what it logged,
// its partials off the running sum.
static rl_err
slot_drop(rl_window *w, const rl_window_batch *b, uint32_t j)
{
	rl_window_slot *s = &w->w_slots[j];
	rl_err          rv;
	if (!s->ws_used)
		return RL_OK;
	if (w->w_kind == RL_WINDOW_REDUCE) {
		for (size_t i = 0; i < s->ws_table.c_cap; i++) {
			const rl_combine_entry *e = &s->ws_table.c_slots[i];
			if (e->e_key == NULL)
				continue;
			if ((rv = log_partial(w, b, j, e->e_key, e->e_key_len, NULL)) != RL_OK)
				return rv;
			if (w->w_inverse
			    && (rv = running_add(w, b, e->e_key, e->e_key_len, e->e_acc, -1))
			        != RL_OK)
				return rv;
		}
	} else {
		for (uint32_t c = 0; c < s->ws_chunks; c++)
			if ((rv = log_chunk(w, b, j, c, NULL, 0)) != RL_OK)
				return rv;
	}
	slot_empty(s);
	return RL_OK;
}

static rl_err
slot_fill(rl_window *w, const rl_window_batch *b, uint32_t j)
{
	rl_window_slot *s = &w->w_slots[j];
	rl_err          rv;
	if (w->w_kind == RL_WINDOW_RECORDS) {
		if (b->wb_records_len == 0)
			return RL_OK;
		rl_buf_append(&s->ws_records, b->wb_records, b->wb_records_len);
		s->ws_used = true;
		for (size_t off = 0; off < s->ws_records.b_len; off += RL_WINDOW_CHUNK) {
			size_t len = s->ws_records.b_len - off;
			if (len > RL_WINDOW_CHUNK)
				len = RL_WINDOW_CHUNK;
			if ((rv = log_chunk(w, b, j, s->ws_chunks, s->ws_records.b_data + off, len))
			    != RL_OK)
				return rv;
			s->ws_chunks++;
		}
		return RL_OK;
	}
	const rl_combiner *p = b->wb_partials;
	if (p == NULL || rl_combiner_count(p) == 0)
		return RL_OK;
	rl_combiner_init(&s->ws_table, RL_FN_SUM, &s->ws_keys);
	s->ws_used = true;
	for (size_t i = 0; i < p->c_cap; i++) {
		const rl_combine_entry *e = &p->c_slots[i];
		if (e->e_key == NULL)
			continue;
		rl_combiner_put(&s->ws_table, e->e_key, e->e_key_len, e->e_acc);
		if ((rv = log_partial(w, b, j, e->e_key, e->e_key_len, &e->e_acc)) != RL_OK)
			return rv;
		if (w->w_inverse
		    && (rv = running_add(w, b, e->e_key, e->e_key_len, e->e_acc, +1)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

static rl_err event_add(rl_window *w, const rl_window_batch *b);

rl_err
rl_window_add(rl_window *w, const rl_window_batch *b)
{
	if (w->w_event)
		return event_add(w, b);
	uint32_t n = w->w_nslots;
	uint32_t leaving = rl_window_leaving(b->wb_read_ms, b->wb_time_ms, w->w_batch_ms, n);
	uint64_t k = (uint64_t)(b->wb_time_ms / w->w_batch_ms);
	rl_err   rv;
	for (uint32_t i = 0; i < leaving; i++)
		if ((rv = slot_drop(w, b, back_slot(k, i, n))) != RL_OK)
			return rv;
	uint32_t j = rl_window_slot_of(b->wb_time_ms, w->w_batch_ms, n);
	if (w->w_slots[j].ws_used && (rv = slot_drop(w, b, j)) != RL_OK)
		return rv; // cannot be: its batch left the window above
	if ((rv = slot_fill(w, b, j)) != RL_OK)
		return rv;
	if (w->w_inverse)
		running_compact(w);
	return RL_OK;
}

// ---- event time ----

rl_window *
rl_window_create_event(rl_window_kind kind, int64_t length_ms, int64_t slide_ms, bool count)
{
	rl_window *w = RL_NEW(rl_window);
	w->w_kind = kind;
	w->w_event = true;
	w->w_length_ms = length_ms;
	w->w_slide_ms = slide_ms;
	w->w_pane_ms = rl_window_gcd(length_ms, slide_ms);
	w->w_batch_ms = slide_ms;
	w->w_keep_zero = count; // here: count_by_window, whose output has no key
	rl_arena_init(&w->w_run_keys, 4096);
	return w;
}

static void
pane_free(rl_window_slot *s)
{
	if (s->ws_table.c_slots != NULL)
		rl_combiner_fini(&s->ws_table);
	rl_arena_fini(&s->ws_keys);
	rl_buf_fini(&s->ws_records);
	restore_chunks_free(s);
	rl_free(s);
}

static void
panes_free(rl_window *w)
{
	for (size_t i = 0; i < w->w_npanes; i++)
		pane_free(w->w_panes[i]);
	w->w_npanes = 0;
}

// pane_at finds pane p, or (create) makes it, empty, in its place.
static rl_window_slot *
pane_at(rl_window *w, int64_t p, bool create)
{
	size_t lo = 0, hi = w->w_npanes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->w_panes[mid]->ws_pane < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < w->w_npanes && w->w_panes[lo]->ws_pane == p)
		return w->w_panes[lo];
	if (!create)
		return NULL;
	if (w->w_npanes == w->w_panes_cap) {
		w->w_panes_cap = w->w_panes_cap ? 2 * w->w_panes_cap : 16;
		w->w_panes = rl_realloc(w->w_panes, w->w_panes_cap * sizeof(*w->w_panes));
	}
	memmove(w->w_panes + lo + 1, w->w_panes + lo, (w->w_npanes - lo) * sizeof(*w->w_panes));
	rl_window_slot *s = RL_NEW(rl_window_slot);
	s->ws_pane = p;
	rl_arena_init(&s->ws_keys, 4096);
	w->w_panes[lo] = s;
	w->w_npanes++;
	return s;
}

static void
event_log_key(rl_window *w, const char *kind, int64_t pane, const void *rest, size_t rest_len)
{
	uint8_t p[RL_WINDOW_PANE_LEN];
	rl_window_pane_put(p, pane);
	w->w_logkey.b_len = 0;
	rl_buf_append(&w->w_logkey, kind, 1);
	rl_buf_append(&w->w_logkey, p, sizeof(p));
	if (rest_len > 0)
		rl_buf_append(&w->w_logkey, rest, rest_len);
}

static rl_err
event_log(rl_window *w, const rl_window_batch *b, const void *value, size_t value_len)
{
	return b->wb_log == NULL
	    ? RL_OK
	    : b->wb_log(b->wb_log_arg, w->w_logkey.b_data, w->w_logkey.b_len, value, value_len);
}

// pane_drop logs the tombstones of pane s (it is then freed by the caller).
static rl_err
pane_drop(rl_window *w, const rl_window_batch *b, const rl_window_slot *s)
{
	rl_err rv;
	for (size_t i = 0; s->ws_table.c_slots != NULL && i < s->ws_table.c_cap; i++) {
		const rl_combine_entry *e = &s->ws_table.c_slots[i];
		if (e->e_key == NULL)
			continue;
		event_log_key(w, RL_WINDOW_LOG_EVENT_PARTIAL, s->ws_pane, e->e_key, e->e_key_len);
		if ((rv = event_log(w, b, NULL, 0)) != RL_OK)
			return rv;
	}
	for (uint32_t c = 0; c < s->ws_chunks; c++) {
		uint8_t cb[4];
		rl_be32_put(cb, c);
		event_log_key(w, RL_WINDOW_LOG_EVENT_CHUNK, s->ws_pane, cb, sizeof(cb));
		if ((rv = event_log(w, b, NULL, 0)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

// pane_fold makes pane s's table fold as the step does (set at every batch:
// a restored pane's table was made before the fold was known).
static void
pane_fold(rl_window_slot *s, const rl_combiner *fold)
{
	if (s->ws_table.c_slots == NULL)
		rl_combiner_init(&s->ws_table, fold != NULL ? fold->c_fn : RL_FN_SUM, &s->ws_keys);
	if (fold != NULL) {
		s->ws_table.c_fn = fold->c_fn;
		s->ws_table.c_udf = fold->c_udf;
		s->ws_table.c_udf_data = fold->c_udf_data;
		s->ws_table.c_udf_name = fold->c_udf_name;
	}
	s->ws_used = true;
}

// event_fill_records files the batch's records by pane (their keys lose the
// pane prefix) and logs what each pane gained: its chunks from the first
// one that changed (the last, partly written, is written again whole).
static rl_err
event_fill_records(rl_window *w, const rl_window_batch *b)
{
	rl_reader r = rl_reader_make(b->wb_records, b->wb_records_len);
	rl_rec    rec;
	int       more;
	rl_err    rv;
	while ((more = rl_block_next(&r, &rec)) == 1) {
		if (rec.r_key == NULL || rec.r_key_len < RL_WINDOW_PANE_LEN + 1)
			return RL_ERR_PROTO;
		rl_window_slot *s = pane_at(w, rl_window_pane_get(rec.r_key), true);
		bool            keyed = rec.r_key[RL_WINDOW_PANE_LEN] != 0;
		rl_rec          out = rec;
		out.r_key = keyed ? rec.r_key + RL_WINDOW_PANE_LEN + 1 : NULL;
		out.r_key_len = keyed ? rec.r_key_len - RL_WINDOW_PANE_LEN - 1 : 0;
		rl_block_put(&s->ws_records, &out);
		s->ws_used = true;
	}
	if (more < 0)
		return RL_ERR_PROTO;
	for (size_t i = 0; i < w->w_npanes; i++) {
		rl_window_slot *s = w->w_panes[i];
		if (s->ws_records.b_len == s->ws_logged)
			continue;
		uint32_t c = (uint32_t)(s->ws_logged / RL_WINDOW_CHUNK);
		for (size_t off = (size_t)c * RL_WINDOW_CHUNK; off < s->ws_records.b_len;
		     off += RL_WINDOW_CHUNK, c++) {
			size_t  len = s->ws_records.b_len - off;
			uint8_t cb[4];
			if (len > RL_WINDOW_CHUNK)
				len = RL_WINDOW_CHUNK;
			rl_be32_put(cb, c);
			event_log_key(w, RL_WINDOW_LOG_EVENT_CHUNK, s->ws_pane, cb, sizeof(cb));
			if ((rv = event_log(w, b, s->ws_records.b_data + off, len)) != RL_OK)
				return rv;
		}
		s->ws_chunks = c;
		s->ws_logged = s->ws_records.b_len;
	}
	return RL_OK;
}

// event_add moves an event-time window on by a batch: the panes that no
// window still to be emitted holds leave (tombstones), then the batch's
// partials or records go into their panes (logged).
static rl_err
event_add(rl_window *w, const rl_window_batch *b)
{
	rl_err rv = RL_OK;
	size_t keep = 0;
	for (size_t i = 0; i < w->w_npanes; i++) {
		rl_window_slot *s = w->w_panes[i];
		if (rv == RL_OK && b->wb_watermark_before_ms > 0
		    && rl_window_last_end(s->ws_pane, w->w_pane_ms, w->w_slide_ms, w->w_length_ms)
		        <= b->wb_watermark_before_ms
		    && (rv = pane_drop(w, b, s)) == RL_OK) {
			pane_free(s);
			continue;
		}
		w->w_panes[keep++] = s;
	}
	w->w_npanes = keep;
	if (rv != RL_OK)
		return rv;
	if (w->w_kind == RL_WINDOW_RECORDS)
		return b->wb_records_len > 0 ? event_fill_records(w, b) : RL_OK;
	const rl_combiner *p = b->wb_partials;
	if (p == NULL)
		return RL_OK;
	uint8_t v[8];
	for (size_t i = 0; i < p->c_cap; i++) {
		const rl_combine_entry *e = &p->c_slots[i];
		if (e->e_key == NULL)
			continue;
		if (e->e_key_len < RL_WINDOW_PANE_LEN)
			return RL_ERR_PROTO;
		int64_t         pane = rl_window_pane_get(e->e_key);
		rl_window_slot *s = pane_at(w, pane, true);
		pane_fold(s, b->wb_fold);
		const uint8_t *key = e->e_key + RL_WINDOW_PANE_LEN;
		size_t         key_len = e->e_key_len - RL_WINDOW_PANE_LEN;
		int64_t        now = rl_combiner_merge(&s->ws_table, key, key_len, e->e_acc);
		rl_be64_put(v, (uint64_t)now);
		event_log_key(w, RL_WINDOW_LOG_EVENT_PARTIAL, pane, key, key_len);
		if ((rv = event_log(w, b, v, sizeof(v))) != RL_OK)
			return rv;
	}
	return RL_OK;
}

// floor_div is a / b rounded down (b > 0).
static int64_t
floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// out_key makes "START KEY" (or "START" without a key) in w_outkey.
static void
out_key(rl_window *w, int64_t start, const uint8_t *key, size_t key_len)
{
	char num[24];
	int  n = snprintf(num, sizeof(num), "%" PRId64, start);
	w->w_outkey.b_len = 0;
	rl_buf_append(&w->w_outkey, num, (size_t)n);
	if (key != NULL) {
		rl_buf_append(&w->w_outkey, " ", 1);
		rl_buf_append(&w->w_outkey, key, key_len);
	}
}

// emit_one gives window [start, start + L) over panes w_panes[first …] up
// to pane hi.
static rl_err
emit_one(rl_window *w, int64_t start, size_t first, int64_t hi, rl_combiner *scratch,
    rl_window_value_fn value_fn, rl_err (*record_fn)(void *, rl_rec *), void *arg)
{
	rl_err rv;
	if (w->w_kind == RL_WINDOW_RECORDS) {
		for (size_t i = first; i < w->w_npanes && w->w_panes[i]->ws_pane <= hi; i++) {
			const rl_window_slot *s = w->w_panes[i];
			rl_reader r = rl_reader_make(s->ws_records.b_data, s->ws_records.b_len);
			rl_rec    rec;
			int       more;
			while ((more = rl_block_next(&r, &rec)) == 1) {
				out_key(w, start, rec.r_key, rec.r_key_len);
				rec.r_key = w->w_outkey.b_data;
				rec.r_key_len = w->w_outkey.b_len;
				if ((rv = record_fn(arg, &rec)) != RL_OK)
					return rv;
			}
			if (more < 0)
				return RL_ERR_PARSE;
		}
		return RL_OK;
	}
	rl_combiner_clear(scratch);
	for (size_t i = first; i < w->w_npanes && w->w_panes[i]->ws_pane <= hi; i++) {
		const rl_combiner *t = &w->w_panes[i]->ws_table;
		for (size_t k = 0; t->c_slots != NULL && k < t->c_cap; k++) {
			const rl_combine_entry *e = &t->c_slots[k];
			if (e->e_key != NULL)
				rl_combiner_merge(scratch, e->e_key, e->e_key_len, e->e_acc);
		}
	}
	for (size_t k = 0; k < scratch->c_cap; k++) {
		const rl_combine_entry *e = &scratch->c_slots[k];
		if (e->e_key == NULL)
			continue;
		out_key(w, start, w->w_keep_zero ? NULL : e->e_key, e->e_key_len);
		if ((rv = value_fn(arg, w->w_outkey.b_data, w->w_outkey.b_len, e->e_acc)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

rl_err
rl_window_emit(rl_window *w, int64_t watermark_before_ms, int64_t watermark_ms,
    rl_combiner *scratch, rl_window_value_fn value_fn, rl_err (*record_fn)(void *, rl_rec *),
    void *arg)
{
	int64_t L = w->w_length_ms, S = w->w_slide_ms, G = w->w_pane_ms;
	if (watermark_ms <= 0 || watermark_ms <= watermark_before_ms || w->w_npanes == 0)
		return RL_OK;
	// The first window that holds the first pane, and that ends after the
	// watermark the batch started from.
	int64_t start = (floor_div(w->w_panes[0]->ws_pane * G - L, S) + 1) * S;
	if (watermark_before_ms > 0) {
		int64_t after = (floor_div(watermark_before_ms - L, S) + 1) * S;
		if (after > start)
			start = after;
	}
	size_t first = 0;
	rl_err rv;
	while (start + L <= watermark_ms) {
		int64_t lo = floor_div(start, G), hi = floor_div(start + L, G) - 1;
		while (first < w->w_npanes && w->w_panes[first]->ws_pane < lo)
			first++;
		if (first == w->w_npanes)
			break;
		int64_t p = w->w_panes[first]->ws_pane;
		if (p > hi) { // no data here: on to the first window that holds p
			int64_t next = (floor_div(p * G - L, S) + 1) * S;
			start = next > start ? next : start + S;
			continue;
		}
		if ((rv = emit_one(w, start, first, hi, scratch, value_fn, record_fn, arg))
		    != RL_OK)
			return rv;
		start += S;
	}
	return RL_OK;
}

// event_replay applies one changelog record to an event-time window.
static rl_err
event_replay(
    rl_window *w, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
	if (key_len < 1 + RL_WINDOW_PANE_LEN)
		return RL_ERR_PARSE;
	int64_t pane = rl_window_pane_get(key + 1);
	if (key[0] == RL_WINDOW_LOG_EVENT_PARTIAL[0] && w->w_kind == RL_WINDOW_REDUCE
	    && (value == NULL || value_len == 8)) {
		const uint8_t  *k = key + 1 + RL_WINDOW_PANE_LEN;
		size_t          k_len = key_len - 1 - RL_WINDOW_PANE_LEN;
		rl_window_slot *s = pane_at(w, pane, value != NULL);
		if (value == NULL) {
			if (s != NULL && s->ws_table.c_slots != NULL)
				rl_combiner_remove(&s->ws_table, k, k_len);
			return RL_OK;
		}
		pane_fold(s, NULL);
		rl_combiner_put(&s->ws_table, k, k_len, (int64_t)rl_be64_get(value));
		return RL_OK;
	}
	if (key[0] == RL_WINDOW_LOG_EVENT_CHUNK[0] && w->w_kind == RL_WINDOW_RECORDS
	    && key_len == 1 + RL_WINDOW_PANE_LEN + 4) {
		uint32_t c = rl_be32_get(key + 1 + RL_WINDOW_PANE_LEN);
		if (c >= 1u << 20)
			return RL_ERR_PARSE;
		restore_chunk(pane_at(w, pane, true), c, value, value_len);
		return RL_OK;
	}
	return RL_ERR_PARSE;
}

// event_replay_done puts each pane's chunks together and forgets the panes
// that hold nothing.
static void
event_replay_done(rl_window *w)
{
	size_t keep = 0;
	for (size_t i = 0; i < w->w_npanes; i++) {
		rl_window_slot *s = w->w_panes[i];
		if (w->w_kind == RL_WINDOW_RECORDS) {
			s->ws_records.b_len = 0;
			s->ws_chunks = 0;
			for (uint32_t c = 0; c < s->ws_nrestore && s->ws_restore[c].b_len > 0;
			     c++) {
				rl_buf_append(&s->ws_records, s->ws_restore[c].b_data,
				    s->ws_restore[c].b_len);
				s->ws_chunks++;
			}
			s->ws_logged = s->ws_records.b_len;
			restore_chunks_free(s);
		}
		bool empty = w->w_kind == RL_WINDOW_RECORDS
		    ? s->ws_records.b_len == 0
		    : s->ws_table.c_slots == NULL || rl_combiner_count(&s->ws_table) == 0;
		if (empty) {
			pane_free(s);
			continue;
		}
		s->ws_used = true;
		w->w_panes[keep++] = s;
	}
	w->w_npanes = keep;
}

// ---- output ----

rl_err
rl_window_each_value(
    rl_window *w, int64_t time_ms, rl_combiner *scratch, rl_window_value_fn fn, void *arg)
{
	rl_err             rv;
	const rl_combiner *out = &w->w_running;
	if (!w->w_inverse) {
		uint64_t k = (uint64_t)(time_ms / w->w_batch_ms);
		for (uint32_t i = w->w_nslots; i-- > 0;) { // oldest batch first
			const rl_window_slot *s = &w->w_slots[back_slot(k, i, w->w_nslots)];
			if (!s->ws_used)
				continue;
			for (size_t e = 0; e < s->ws_table.c_cap; e++) {
				const rl_combine_entry *en = &s->ws_table.c_slots[e];
				if (en->e_key != NULL)
					rl_combiner_merge(
					    scratch, en->e_key, en->e_key_len, en->e_acc);
			}
		}
		out = scratch;
	}
	for (size_t i = 0; i < out->c_cap; i++) {
		const rl_combine_entry *e = &out->c_slots[i];
		if (e->e_key != NULL && (rv = fn(arg, e->e_key, e->e_key_len, e->e_acc)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

rl_err
rl_window_each_record(
    rl_window *w, int64_t time_ms, rl_err (*fn)(void *arg, rl_rec *rec), void *arg)
{
	uint64_t k = (uint64_t)(time_ms / w->w_batch_ms);
	rl_err   rv;
	for (uint32_t i = w->w_nslots; i-- > 0;) { // oldest batch first
		const rl_window_slot *s = &w->w_slots[back_slot(k, i, w->w_nslots)];
		if (!s->ws_used)
			continue;
		rl_reader r = rl_reader_make(s->ws_records.b_data, s->ws_records.b_len);
		rl_rec    rec;
		int       more;
		while ((more = rl_block_next(&r, &rec)) == 1)
			if ((rv = fn(arg, &rec)) != RL_OK)
				return rv;
		if (more < 0)
			return RL_ERR_PARSE;
	}
	return RL_OK;
}

size_t
rl_window_keys(const rl_window *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->w_npanes; i++)
		n += w->w_panes[i]->ws_table.c_slots != NULL
		    ? rl_combiner_count(&w->w_panes[i]->ws_table)
		    : 0;
	for (uint32_t j = 0; j < w->w_nslots; j++)
		n += w->w_slots[j].ws_table.c_slots != NULL
		    ? rl_combiner_count(&w->w_slots[j].ws_table)
		    : 0;
	return n;
}

// ---- restore ----

rl_err
rl_window_replay(rl_window *w, const uint8_t *key, size_t key_len, const uint8_t *value,
    size_t value_len, int64_t *ret_reflects)
{
	if (key_len == 1 && key[0] == RL_STATE_LOG_MARKER[0] && value != NULL && value_len == 8) {
		*ret_reflects = (int64_t)rl_be64_get(value);
		return RL_OK;
	}
	if (w->w_event)
		return event_replay(w, key, key_len, value, value_len);
	if (key_len < 5)
		return RL_ERR_PARSE;
	uint32_t j = rl_be32_get(key + 1);
	if (j == RL_WINDOW_KEPT_SLOT && key[0] == RL_WINDOW_LOG_PARTIAL[0] && w->w_keep_zero
	    && value != NULL && value_len == 8) {
		bool fresh;
		(void)rl_combiner_entry(&w->w_running, key + 5, key_len - 5, &fresh);
		if (fresh)
			w->w_run_live += key_len - 5;
		return RL_OK;
	}
	if (j >= w->w_nslots)
		return RL_ERR_PARSE; // written for a window of another length
	rl_window_slot *s = &w->w_slots[j];
	if (key[0] == RL_WINDOW_LOG_PARTIAL[0] && w->w_kind == RL_WINDOW_REDUCE
	    && (value == NULL || value_len == 8)) {
		if (value == NULL) {
			if (s->ws_used)
				rl_combiner_remove(&s->ws_table, key + 5, key_len - 5);
			return RL_OK;
		}
		if (!s->ws_used) {
			rl_combiner_init(&s->ws_table, RL_FN_SUM, &s->ws_keys);
			s->ws_used = true;
		}
		rl_combiner_put(&s->ws_table, key + 5, key_len - 5, (int64_t)rl_be64_get(value));
		return RL_OK;
	}
	if (key[0] == RL_WINDOW_LOG_CHUNK[0] && w->w_kind == RL_WINDOW_RECORDS && key_len == 9) {
		uint32_t c = rl_be32_get(key + 5);
		if (c >= 1u << 20)
			return RL_ERR_PARSE;
		restore_chunk(s, c, value, value_len);
		return RL_OK;
	}
	return RL_ERR_PARSE;
}

void
rl_window_replay_done(rl_window *w)
{
	if (w->w_event) {
		event_replay_done(w);
		return;
	}
	for (uint32_t j = 0; j < w->w_nslots; j++) {
		rl_window_slot *s = &w->w_slots[j];
		if (w->w_kind == RL_WINDOW_RECORDS) {
			// The chunks of the slot's last write, in order, up to the
			// first missing one (a tombstone, or never written).
			s->ws_records.b_len = 0;
			s->ws_chunks = 0;
			for (uint32_t c = 0; c < s->ws_nrestore && s->ws_restore[c].b_len > 0;
			     c++) {
				rl_buf_append(&s->ws_records, s->ws_restore[c].b_data,
				    s->ws_restore[c].b_len);
				s->ws_chunks++;
			}
			s->ws_used = s->ws_chunks > 0;
			restore_chunks_free(s);
			continue;
		}
		if (!s->ws_used)
			continue;
		if (rl_combiner_count(&s->ws_table) == 0) {
			slot_empty(s);
			continue;
		}
		for (size_t i = 0; w->w_inverse && i < s->ws_table.c_cap; i++) {
			const rl_combine_entry *e = &s->ws_table.c_slots[i];
			if (e->e_key != NULL)
				(void)running_add(w, NULL, e->e_key, e->e_key_len, e->e_acc, +1);
		}
	}
}
