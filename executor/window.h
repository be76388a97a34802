// SPDX-License-Identifier: Apache-2.0
// Batch-time windows (window, reduce_by_key_and_window, count_by_window): one
// state partition's data per batch of the window (its slots), the running
// aggregate of an inverse reduce, and how both go to and come back from the
// state changelog. Design: docs/windows.md.
#ifndef RL_WINDOW_H
#define RL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "executor/combine.h"
#include "executor/record.h"

// ---- slot arithmetic (pure) ----
// A window of length L over batches of interval B has L/B slots; batch T
// (a multiple of B) lives in slot (T/B) mod (L/B) while it is in the window,
// that is while the batch being run is T, T+B, …, T+L-B.

static inline uint32_t
rl_window_nslots(int64_t length_ms, int64_t batch_ms)
{
	return (uint32_t)(length_ms / batch_ms);
}

static inline uint32_t
rl_window_slot_of(int64_t time_ms, int64_t batch_ms, uint32_t nslots)
{
	return (uint32_t)((uint64_t)(time_ms / batch_ms) % nslots);
}

// rl_window_emits says whether batch time_ms is one whose output is the
// window's (a multiple of the slide, counted from the epoch).
static inline bool
rl_window_emits(int64_t time_ms, int64_t slide_ms)
{
	return time_ms % slide_ms == 0;
}

// rl_window_leaving is how many slots leave the window when the state of
// batch read_ms (0: none, an empty window) moves on to batch time_ms: those
// of batches time_ms, time_ms - B, …, that many (never more than nslots,
// whatever the gap between the two batches).
uint32_t rl_window_leaving(int64_t read_ms, int64_t time_ms, int64_t batch_ms, uint32_t nslots);

// ---- a state partition's window ----

typedef enum rl_window_kind {
	RL_WINDOW_RECORDS, // window: every record of the window, again at each slide
	RL_WINDOW_REDUCE, // reduce_by_key_and_window, count_by_window: a value per key
} rl_window_kind;

// Changelog record keys of a window (beside state.h's "m" marker): one byte
// of kind, the slot (u32 BE), then
// RL_WINDOW_LOG_PARTIAL: the user key; value: its partial of the slot's
// batch (8 bytes BE), or none (tombstone: the slot left the window);
// RL_WINDOW_LOG_CHUNK: the chunk number (u32 BE); value: up to
// RL_WINDOW_CHUNK bytes of the slot's records (shuffle-block encoded,
// split anywhere), or none (tombstone).
#define RL_WINDOW_LOG_PARTIAL "s"
#define RL_WINDOW_LOG_CHUNK "r"
#define RL_WINDOW_CHUNK (256 * 1024)
// The slot number of a count_by_window key's record that says the key was
// seen (value 0), so that a restored window emits its 0 count as well.
#define RL_WINDOW_KEPT_SLOT 0xffffffffu

typedef struct rl_window_slot {
	int64_t     ws_pane; // event time: the pane it holds (see below)
	size_t      ws_logged; // event time, RECORDS: bytes of ws_records logged
	bool        ws_used; // holds a batch's data
	rl_arena    ws_keys; // ws_table's keys, released when the slot leaves
	rl_combiner ws_table; // REDUCE: key -> the batch's partial (made when used)
	rl_buf      ws_records; // RECORDS: the batch's records, shuffle-block encoded
	uint32_t    ws_chunks; // RECORDS: changelog chunks it was written as
	rl_buf     *ws_restore; // RECORDS, during a restore: the chunks read so far
	uint32_t    ws_nrestore;
} rl_window_slot;

typedef struct rl_window {
	rl_window_kind w_kind;
	// Event time (rl_window_create_event): the data lives in panes, not in
	// batch slots; w_panes is sorted by pane, each allocated on its own.
	bool             w_event;
	int64_t          w_length_ms, w_slide_ms, w_pane_ms;
	rl_window_slot **w_panes;
	size_t           w_npanes, w_panes_cap;
	rl_buf           w_outkey; // an emitted record's key, reused
	int64_t          w_batch_ms;
	uint32_t         w_nslots;
	bool             w_inverse; // REDUCE: keep a running sum (sum|count only)
	bool             w_keep_zero; // count_by_window: the key stays at 0
	rl_window_slot  *w_slots;
	// w_inverse: key -> the window's sum; e_aux = how many slots hold the
	// key (0: none, the key goes unless w_keep_zero)
	rl_arena    w_run_keys;
	rl_combiner w_running;
	size_t      w_run_live; // bytes of the keys still in w_running
	rl_buf      w_logkey; // a changelog key, reused
} rl_window;

// rl_window_create makes an empty window of length_ms over batches of
// batch_ms (a multiple of it); rl_window_destroy frees it (NULL: no-op).
rl_window *rl_window_create(
    rl_window_kind kind, int64_t length_ms, int64_t batch_ms, bool inverse, bool keep_zero);
void rl_window_destroy(rl_window *w);

// rl_window_clear empties every slot and the running aggregate.
void rl_window_clear(rl_window *w);

// Where a window's changes go: key = value (value NULL: a tombstone).
typedef rl_err (*rl_window_log_fn)(
    void *arg, const void *key, size_t key_len, const void *value, size_t value_len);

// One batch for rl_window_add.
typedef struct rl_window_batch {
	int64_t            wb_read_ms; // the batch the window holds now (0: none)
	int64_t            wb_time_ms; // the batch to add, after read_ms
	const rl_combiner *wb_partials; // REDUCE: the batch's value per key, or NULL
	const uint8_t     *wb_records; // RECORDS: the batch's records (block-encoded)
	size_t             wb_records_len;
	rl_window_log_fn   wb_log; // NULL: no changelog
	void              *wb_log_arg;
	// Event time: the watermark the batch starts from (0: none; the panes
	// all of whose windows end at or before it leave first), and the fold
	// of a REDUCE window's panes (its function; the table is not touched).
	int64_t            wb_watermark_before_ms;
	const rl_combiner *wb_fold;
} rl_window_batch;

// rl_window_add moves the window from batch wb_read_ms to wb_time_ms: the
// slots of the batches that leave it are dropped (tombstones for their keys
// or chunks logged, their partials taken off the running sum) and the
// batch's partials or records go into its slot (logged). Its cost is the
// batch's data and the dropped slots' keys, not the window's length. A log
// error is returned as it is (the window is then half-moved: drop it).
rl_err rl_window_add(rl_window *w, const rl_window_batch *b);

// rl_window_each_value calls fn with every key of a REDUCE window and its
// value over the window. Inverse: the running sum; otherwise the slots'
// partials are folded into scratch (empty, initialised by the caller with
// the step's fold), in batch order, then given.
typedef rl_err (*rl_window_value_fn)(void *arg, const uint8_t *key, size_t key_len, int64_t value);
rl_err rl_window_each_value(
    rl_window *w, int64_t time_ms, rl_combiner *scratch, rl_window_value_fn fn, void *arg);

// rl_window_each_record calls fn with every record of a RECORDS window as
// it is in batch time_ms's window, oldest batch first. RL_ERR_PARSE for a
// slot whose bytes do not decode (a corrupt changelog).
rl_err rl_window_each_record(
    rl_window *w, int64_t time_ms, rl_err (*fn)(void *arg, rl_rec *rec), void *arg);

// rl_window_replay applies one changelog record (in offset order) to an
// empty window being restored: a window record, or the marker, whose batch
// goes to *ret_reflects. Another record is RL_ERR_PARSE. Once every record
// is in, rl_window_replay_done puts the records' chunks together and
// rebuilds the running sum from the slots.
rl_err rl_window_replay(rl_window *w, const uint8_t *key, size_t key_len, const uint8_t *value,
    size_t value_len, int64_t *ret_reflects);
void   rl_window_replay_done(rl_window *w);

// ---- event time ----
// An event-time window of length L sliding by S keeps its data in panes of
// G = gcd(L, S) ms of event time: pane p holds the records whose event time
// t has t / G = p, and a window [start, start + L), start a multiple of S,
// is the panes start / G … (start + L) / G - 1. The map side prefixes each
// record's key with its pane (RL_WINDOW_PANE_LEN bytes, big-endian), and
// for records (window) with one more byte saying whether a key follows.
#define RL_WINDOW_PANE_LEN 8
// Changelog record keys of an event-time window: kind, the pane (8 bytes
// BE), then as for the batch-time kinds (a user key, or a chunk number).
#define RL_WINDOW_LOG_EVENT_PARTIAL "e"
#define RL_WINDOW_LOG_EVENT_CHUNK "q"

static inline int64_t
rl_window_gcd(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

// rl_window_last_end is the end of the last window that holds pane p: once
// the watermark is there, p is in no window still to be emitted.
static inline int64_t
rl_window_last_end(int64_t pane, int64_t pane_ms, int64_t slide_ms, int64_t length_ms)
{
	return pane * pane_ms / slide_ms * slide_ms + length_ms;
}

static inline void
rl_window_pane_put(uint8_t *dst, int64_t pane)
{
	for (int i = 7; i >= 0; i--, pane >>= 8)
		dst[i] = (uint8_t)pane;
}

static inline int64_t
rl_window_pane_get(const uint8_t *src)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | src[i];
	return (int64_t)v;
}

// rl_window_create_event makes an empty event-time window.
rl_window *rl_window_create_event(
    rl_window_kind kind, int64_t length_ms, int64_t slide_ms, bool count);

// rl_window_emit calls value_fn (REDUCE) or record_fn (RECORDS) with the
// contents of every window of an event-time window whose end is after
// watermark_before_ms and at or before watermark_ms (each window once, in
// the order of their ends; windows without data are not there). The key of
// what it gives is the window's start (ms since the epoch, decimal), a
// space and the record's key; count_by_window's and keyless records' is the
// start alone. scratch is as for rl_window_each_value (cleared per window).
rl_err rl_window_emit(rl_window *w, int64_t watermark_before_ms, int64_t watermark_ms,
    rl_combiner *scratch, rl_window_value_fn value_fn, rl_err (*record_fn)(void *, rl_rec *),
    void *arg);

// rl_window_keys is how many (slot, key) partials or records a window holds.
size_t rl_window_keys(const rl_window *w);

#endif
