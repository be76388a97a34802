// SPDX-License-Identifier: Apache-2.0
// One task from input to output, records in arenas, no allocation per record.
#include "executor/task.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/connector.h"
#include "common/hash.h"
#include "common/histogram.h"
#include "common/json.h"
#include "common/kafka_state.h"
#include "common/layout.h"
#include "common/log.h"
#include "common/sources/kafka.h"
#include "common/time.h"
#include "executor/combine.h"
#include "executor/join.h"
#include "executor/operator.h"
#include "executor/sink.h"
#include "executor/state.h"
#include "executor/window.h"

typedef struct task {
	const rl_task_ctx      *ctx;
	const Rill__TaskLaunch *launch;
	const rl_stage         *stage;
	rl_arena               *result_arena;
	rl_arena                keys; // distinct keys of the combiners
	rl_arena                scratch; // per input record
	rl_chain                chain;
	// output: one of
	rl_combiner        combine;
	bool               has_combine;
	rl_shuffle_writer  spilled; // combine's partials written out early
	bool               has_spilled;
	rl_arena_mark      combine_mark; // keys before combine's first
	bool               combine_marked;
	rl_shuffle_writer  writer; // a shuffle without combine: records as they are
	bool               has_writer;
	uint32_t           deal_next; // the writer's next bucket (round robin)
	const rl_step     *keyed_for; // by key (join): the join step, for messages
	const rl_sink_ops *sink;
	void              *sink_state;
	bool               sink_open;
	// input side of a shuffle stage
	rl_combiner merge;
	bool        has_merge;
	// join: both sides' blocks, and which map outputs are the right side's
	rl_join   join;
	bool      has_join;
	uint32_t *right_maps; // sorted, in scratch
	size_t    nright_maps;
	// A stateful stage (update_state_by_key): merge holds the batch's
	// values only; state is the partition's state, folded in place, or,
	// with an update function ({udf: F} of kind update), the state before
	// the batch and state_after the one it builds. Their tables
	// (state_in, lent to state; state_out, lent to state_after) stay warm
	// on the executor when the task succeeds.
	bool            stateful;
	const rl_step  *update;
	rl_combiner     state, state_after;
	rl_state_table *state_in, *state_out;
	bool            state_done; // the state already includes this batch
	bool            mws; // map_with_state: emits the keys seen, expires idle ones
	int64_t         mws_timeout; // ms, 0: keys never expire
	// A window stage (window, reduce_by_key_and_window, count_by_window):
	// its step; the window lives in state_in->st_window. win_records holds
	// the batch's records (window), merge its partials (the others).
	const rl_step *win_step;
	rl_buf         win_records;
	size_t         state_held; // table bytes told to the cache (rl_state_cache_hold)
	bool           txn_open; // a changelog transaction is open
	rl_buf         log_key; // a changelog record's key, reused
	uint64_t       in_records, in_bytes, out_records, shuffle_read;
	uint32_t       combine_spills; // times combine wrote its partials out early
	int64_t        fetch_wait_us;
	rl_hist        age; // stage 0: records' ages when the batch was planned
	// Stage 0 of a job with an event-time window (ev_step): the current
	// source record's event time and pane, what goes before each key in
	// the shuffle (ev_key), the greatest event time, the late records.
	const rl_step *ev_step;
	rl_json        ev_json; // time: {json: PATH}
	int64_t        ev_pane, ev_max;
	uint64_t       ev_late;
	rl_buf         ev_key;
	// the window's `late:` sink, if it names one: its writer for this task
	const rl_sink_ops *late_sink;
	void              *late_state;
	bool               late_open;
	rl_err             late_failed; // a write to it failed (t->err says how)
	char               err[512];
} task;

static rl_err combiner_init_for(task *t, rl_combiner *c, rl_fn fn, const rl_step *step);

// ---- output ----

// A map task's combiner holds at most COMBINE_KEYS_MAX distinct keys: past
// that its partials go to the shuffle output as they are and it starts
// again (the reducers merge partials anyway). Word counts never get there;
// keys that are nearly all distinct (ids, sessions) gain nothing from the
// combine and made each map task hold its whole share of the batch.
#ifndef COMBINE_KEYS_MAX
#define COMBINE_KEYS_MAX 16384
#endif

// write_partials puts every entry of c into w's buckets. Keys that start
// with an event-time pane (skip bytes) go to the bucket of the rest of the
// key, so that every pane of a key meets in one window partition.
static void
write_partials(const rl_combiner *c, rl_shuffle_writer *w, size_t skip)
{
	for (size_t i = 0; i < c->c_cap; i++) {
		const rl_combine_entry *e = &c->c_slots[i];
		if (e->e_key == NULL)
			continue;
		uint64_t h = skip == 0 || e->e_key_len < skip
		    ? e->e_hash
		    : rl_hash64(e->e_key + skip, e->e_key_len - skip);
		rl_shuffle_writer_add(w, h, e->e_key, e->e_key_len, e->e_acc);
	}
}

// pane_skip is how many bytes of a shuffle key are an event-time pane.
static size_t
pane_skip(const task *t)
{
	return t->ev_step != NULL ? RL_WINDOW_PANE_LEN : 0;
}

// combine_spill moves the combiner's partials into the spilled buckets and
// frees its keys (everything t->keys got since combine's first key).
static void
combine_spill(task *t)
{
	if (!t->has_spilled) {
		rl_shuffle_writer_init(&t->spilled, t->launch->num_output_partitions);
		t->has_spilled = true;
	}
	write_partials(&t->combine, &t->spilled, pane_skip(t));
	rl_combiner_clear(&t->combine);
	rl_arena_restore(&t->keys, t->combine_mark);
	t->combine_spills++;
}

static rl_err
to_combiner(void *arg, rl_rec *rec)
{
	task *t = arg;
	if (!t->combine_marked) {
		t->combine_mark = rl_arena_save(&t->keys);
		t->combine_marked = true;
	}
	rl_err rv = rl_combiner_add(&t->combine, rec, t->err, sizeof(t->err));
	// Only combine's keys may come after the mark: a stateful, joining or
	// windowing task keeps other tables in t->keys.
	if (rv == RL_OK && rl_combiner_count(&t->combine) >= COMBINE_KEYS_MAX && !t->stateful
	    && !t->has_join && t->win_step == NULL)
		combine_spill(t);
	return rv;
}

// to_writer deals records round robin over the buckets (repartition).
static rl_err
to_writer(void *arg, rl_rec *rec)
{
	task    *t = arg;
	uint32_t p = t->deal_next;
	t->deal_next = p + 1 == t->writer.w_nparts ? 0 : p + 1;
	rl_shuffle_writer_put(&t->writer, p, rec);
	return RL_OK;
}

// to_keyed_writer puts each record into its key's bucket (join: both
// sides hash the same way into the same width, so equal keys meet).
static rl_err
to_keyed_writer(void *arg, rl_rec *rec)
{
	task *t = arg;
	if (rec->r_key == NULL) {
		snprintf(t->err, sizeof(t->err),
		    "join (line %d, column %d of the job file) needs keyed records on both "
		    "sides: put key_by or map_values %s",
		    t->keyed_for->s_loc.line, t->keyed_for->s_loc.col,
		    t->launch->input == t->ctx->t_plan->p_stages[t->launch->stage + 1].st_join_input
		        ? "in the join's pipeline"
		        : "before the join");
		return RL_ERR_INVAL;
	}
	uint32_t p = rl_partition_of(rl_hash64(rec->r_key, rec->r_key_len), t->writer.w_nparts);
	rl_shuffle_writer_put(&t->writer, p, rec);
	return RL_OK;
}

// to_event_combiner and to_event_writer put the record's event-time pane
// before its key (the writer's records, a byte more: whether a key follows).
// event_key puts the current record's pane, then (writer) whether a key
// follows, then rec's key into ev_key, and points out at it.
static void
event_key(task *t, const rl_rec *rec, bool flag, rl_rec *out)
{
	uint8_t head[RL_WINDOW_PANE_LEN + 1];
	rl_window_pane_put(head, t->ev_pane);
	head[RL_WINDOW_PANE_LEN] = rec->r_key != NULL;
	t->ev_key.b_len = 0;
	rl_buf_append(&t->ev_key, head, flag ? sizeof(head) : RL_WINDOW_PANE_LEN);
	if (rec->r_key != NULL)
		rl_buf_append(&t->ev_key, rec->r_key, rec->r_key_len);
	*out = *rec;
	out->r_key = t->ev_key.b_data;
	out->r_key_len = t->ev_key.b_len;
}

static rl_err
to_event_combiner(void *arg, rl_rec *rec)
{
	if (rec->r_key == NULL)
		return to_combiner(arg, rec); // says what is wrong
	rl_rec out;
	event_key(arg, rec, false, &out);
	return to_combiner(arg, &out);
}

static rl_err
to_event_writer(void *arg, rl_rec *rec)
{
	rl_rec out;
	event_key(arg, rec, true, &out);
	return to_writer(arg, &out);
}

static rl_err
to_sink(void *arg, rl_rec *rec)
{
	task *t = arg;
	t->out_records++;
	rl_err rv = t->sink->s_write(t->sink_state, rec);
	if (rv != RL_OK)
		snprintf(t->err, sizeof(t->err), "sink %s: %s", t->launch->job, rl_strerror(rv));
	return rv;
}

// ---- input ----

// event_time finds the source record's event time and pane: its Kafka
// timestamp, or the number at the window's JSON path in its value (ms since
// the epoch). False, counted, for a record without one (missing, or not a
// positive integer: malformed) or a late one: every window that would hold
// it ends at or before the watermark the batch started from.
static bool
event_time(task *t, const rl_source_record *sr)
{
	const rl_step *s = t->ev_step;
	int64_t        ts = sr->r_timestamp_ms;
	if (s->s_time_path != NULL) {
		rl_json_value v;
		switch (
		    rl_json_get(&t->ev_json, sr->r_value, sr->r_value_len, s->s_time_path, &v)) {
		case RL_JSON_FOUND:
			if (v.v_escaped || !rl_parse_int64(v.v, v.v_len, &ts) || ts <= 0) {
				t->chain.c_malformed++;
				return false;
			}
			break;
		case RL_JSON_MISSING:
			t->chain.c_missing++;
			return false;
		default:
			t->chain.c_malformed++;
			return false;
		}
	} else if (ts <= 0) {
		t->chain.c_missing++;
		return false;
	}
	if (ts > t->ev_max)
		t->ev_max = ts;
	int64_t g = rl_window_gcd(s->s_length_ms, s->s_slide_ms);
	t->ev_pane = ts / g;
	int64_t wm = t->launch->watermark_before_ms;
	if (wm > 0 && rl_window_last_end(t->ev_pane, g, s->s_slide_ms, s->s_length_ms) <= wm) {
		t->ev_late++;
		if (t->late_open) {
			rl_rec rec = {
				.r_key = sr->r_key,
				.r_key_len = sr->r_key_len,
				.r_val = sr->r_value,
				.r_val_len = sr->r_value_len,
			};
			rl_err rv = t->late_sink->s_write(t->late_state, &rec);
			if (rv != RL_OK) {
				snprintf(t->err, sizeof(t->err), "late sink %s: %s",
				    t->late_sink->s_name, rl_strerror(rv));
				t->late_failed = rv;
			}
		}
		return false;
	}
	return true;
}

static rl_err
from_source(void *arg, const rl_source_record *sr)
{
	task  *t = arg;
	rl_rec rec = {
		.r_key = sr->r_key,
		.r_key_len = sr->r_key_len,
		.r_val = sr->r_value,
		.r_val_len = sr->r_value_len,
	};
	t->in_records++;
	t->in_bytes += sr->r_value_len + sr->r_key_len;
	if (sr->r_timestamp_ms > 0 && t->launch->plan_time_ms > 0)
		rl_hist_add(&t->age, t->launch->plan_time_ms - sr->r_timestamp_ms, 1);
	if (t->ev_step != NULL && !event_time(t, sr))
		return t->late_failed; // dropped: late, or without an event time (counted)
	return rl_chain_push(&t->chain, &rec);
}

// read_range reads one range of a split through the source's executor half,
// with read (se_read_size bytes, zeroed here) as the read's state.
static rl_err
read_range(task *t, const Rill__Split *sp, void *read)
{
	const rl_task_ctx *ctx = t->ctx;
	if (sp == NULL || sp->id == NULL || sp->id[0] == '\0') {
		snprintf(t->err, sizeof(t->err), "stage 0 task without a split range");
		return RL_ERR_PROTO;
	}
	if (ctx->t_source == NULL || sp->kind == NULL
	    || strcmp(sp->kind, ctx->t_source->se_name) != 0) {
		snprintf(t->err, sizeof(t->err), "split of source '%s', but the job reads '%s'",
		    sp->kind != NULL ? sp->kind : "",
		    ctx->t_source != NULL ? ctx->t_source->se_name : "");
		return RL_ERR_PROTO;
	}
	rl_split_range range = rl_source_range(sp);
	memset(read, 0, ctx->t_source->se_read_size);
	rl_err rv
	    = ctx->t_source->se_open(read, ctx->t_source_shared, &range, t->err, sizeof(t->err));
	if (rv == RL_OK) {
		rv = ctx->t_source->se_read(
		    read, ctx->t_source_idle_timeout_ms, from_source, t, t->err, sizeof(t->err));
		ctx->t_source->se_close(read);
	}
	return rv;
}

// How many ranges ahead of the one being read a task starts: cold ranges
// each wait a fetch round trip, which read-ahead overlaps with the reads.
#ifndef READ_AHEAD
#define READ_AHEAD 2
#endif

// read_ahead asks the source to start fetching the range the task reads
// next (if its budget allows), so that its first records are on their way
// while this one is read. A range it cannot warm is read cold: the read
// says what is wrong, not this.
static void
read_ahead(task *t, const Rill__Split *sp)
{
	const rl_task_ctx *ctx = t->ctx;
	if (ctx->t_source == NULL || ctx->t_source->se_warm == NULL || sp == NULL || sp->id == NULL
	    || sp->kind == NULL || strcmp(sp->kind, ctx->t_source->se_name) != 0)
		return;
	// A warm-up's range ends where the split ended (what waits there).
	rl_split_range range = rl_source_range(sp);
	range.sr_until = sp->end_seen > sp->until ? sp->end_seen : sp->until;
	range.sr_read_next = true;
	char why[256];
	(void)ctx->t_source->se_warm(ctx->t_source_shared, &range, why, sizeof(why));
}

// read_source reads the launch's range, or its ranges one after the other
// (small ranges the driver grouped into one task).
static rl_err
read_source(task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	if (tl->n_splits > 0 && tl->split != NULL) {
		snprintf(
		    t->err, sizeof(t->err), "stage 0 task with both a split and a list of them");
		return RL_ERR_PROTO;
	}
	// One read state for the task, whatever its number of ranges.
	size_t size = t->ctx->t_source != NULL ? t->ctx->t_source->se_read_size : 0;
	void  *read = rl_arena_alloc(&t->scratch, size + 1);
	if (tl->n_splits == 0)
		return read_range(t, tl->split, read);
	rl_err rv = RL_OK;
	for (size_t i = 0; i < READ_AHEAD && i + 1 < tl->n_splits; i++)
		read_ahead(t, tl->splits[i + 1]);
	for (size_t i = 0; i < tl->n_splits && rv == RL_OK; i++) {
		if (i + 1 + READ_AHEAD < tl->n_splits)
			read_ahead(t, tl->splits[i + 1 + READ_AHEAD]);
		rv = read_range(t, tl->splits[i], read);
	}
	return rv;
}

// each_block_record decodes a shuffle block, counting its bytes and
// records, and calls fn (if any) with each record. A block that does not
// decode is RL_ERR_PROTO. Inline: each caller's fn is known.
static inline rl_err
each_block_record(task *t, const uint8_t *data, size_t len, rl_err (*fn)(task *, rl_rec *))
{
	rl_reader r = rl_reader_make(data, len);
	rl_rec    rec;
	int       more;
	rl_err    rv;
	t->shuffle_read += len;
	while ((more = rl_block_next(&r, &rec)) == 1) {
		t->in_records++;
		if (fn != NULL && (rv = fn(t, &rec)) != RL_OK)
			return rv;
	}
	if (more < 0) {
		snprintf(t->err, sizeof(t->err), "malformed shuffle block (%zu bytes)", len);
		return RL_ERR_PROTO;
	}
	return RL_OK;
}

static inline rl_err
merge_record(task *t, rl_rec *rec)
{
	if (rec->r_key == NULL || !rec->r_is_num) {
		snprintf(
		    t->err, sizeof(t->err), "shuffle block holds a record without a key or count");
		return RL_ERR_PROTO;
	}
	rl_combiner_merge(&t->merge, rec->r_key, rec->r_key_len, rec->r_num);
	return RL_OK;
}

static rl_err
merge_block(void *arg, uint32_t map_partition, const uint8_t *data, size_t len)
{
	(void)map_partition;
	return each_block_record(arg, data, len, merge_record);
}

static inline rl_err
push_record(task *t, rl_rec *rec)
{
	return rl_chain_push(&t->chain, rec);
}

// pass_block pushes every record of a block, as it was written, through the
// stage's operators (a shuffle without combine: repartition).
static rl_err
pass_block(void *arg, uint32_t map_partition, const uint8_t *data, size_t len)
{
	(void)map_partition;
	return each_block_record(arg, data, len, push_record);
}

// join_block keeps a block for the join, on the side its map output is from.
static rl_err
join_block(void *arg, uint32_t map_partition, const uint8_t *data, size_t len)
{
	task  *t = arg;
	size_t lo = 0, hi = t->nright_maps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->right_maps[mid] < map_partition)
			lo = mid + 1;
		else
			hi = mid;
	}
	t->shuffle_read += len;
	rl_join_add_block(
	    &t->join, lo < t->nright_maps && t->right_maps[lo] == map_partition, data, len);
	return RL_OK;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

// setup_join finds which of the launch's map outputs are the join's other
// side: those of the map tasks of its input (fetch_inputs, beside fetch_maps).
static rl_err
setup_join(task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	if (tl->n_fetch_inputs != tl->n_fetch_maps) {
		snprintf(t->err, sizeof(t->err),
		    "stage %" PRIu32 " task %" PRIu32
		    " joins %zu map outputs but the launch says the input of %zu",
		    tl->stage, tl->partition, tl->n_fetch_maps, tl->n_fetch_inputs);
		return RL_ERR_PROTO;
	}
	t->right_maps = rl_arena_alloc(&t->keys, (tl->n_fetch_maps + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < tl->n_fetch_maps; i++)
		if (tl->fetch_inputs[i] == t->stage->st_join_input)
			t->right_maps[t->nright_maps++] = tl->fetch_maps[i];
	qsort(t->right_maps, t->nright_maps, sizeof(uint32_t), cmp_u32);
	rl_join_init(&t->join, &t->keys, t->stage->st_join_step->s_left);
	t->has_join = true;
	return RL_OK;
}

static bool
uses_changelog(const task *t)
{
	return t->launch->state_changelog != NULL && t->launch->state_changelog[0] != '\0';
}

// in_db says whether the partition's state lives in RocksDB (past the
// job's state memory budget) rather than in the table lent to t->state.
static bool
in_db(const task *t)
{
	return t->state_in != NULL && t->state_in->st_db != NULL;
}

// spill_dir writes where the partition's RocksDB store goes: under the
// executor's work directory, by changelog topic, stage and partition.
static void
spill_dir(const task *t, char *buf, size_t len)
{
	const Rill__TaskLaunch *tl = t->launch;
	snprintf(buf, len, "%s/%s-%" PRIu32 "-%" PRIu32, t->ctx->t_spill_dir, tl->state_changelog,
	    tl->stage, tl->partition);
}

// memory_left is what the job's state budget leaves this partition (0: no
// budget; a job whose state is in files has none).
static size_t
memory_left(const task *t)
{
	int64_t budget = t->ctx->t_job->j_state_memory;
	if (budget <= 0 || !uses_changelog(t) || t->ctx->t_spill_dir == NULL || t->mws
	    || t->win_step != NULL)
		return 0;
	size_t used
	    = t->ctx->t_state != NULL ? rl_state_cache_memory(t->ctx->t_state, t->launch->job) : 0;
	used -= used >= t->state_held ? t->state_held : used; // its own table is not in the way
	return used < (size_t)budget ? (size_t)budget - used : 1;
}

// hold_state tells the cache the bytes of the table t folds into, out of it.
static void
hold_state(task *t, size_t bytes)
{
	if (t->ctx->t_state != NULL)
		rl_state_cache_hold(t->ctx->t_state, t->launch->job, &t->state_held, bytes);
}

static rl_state_key
state_key(const task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	return (rl_state_key) {
		.sk_job = tl->job,
		.sk_store = uses_changelog(t) ? tl->state_changelog
		    : tl->state_dir != NULL   ? tl->state_dir
		                              : "",
		.sk_stage = tl->stage,
		.sk_partition = tl->partition,
		.sk_code = tl->spec_hash
		    ^ (tl->artifact_sha256 != NULL
		            ? rl_hash64(tl->artifact_sha256, strlen(tl->artifact_sha256))
		            : 0),
	};
}

// lend moves tbl's table into into, which keeps its own function (bound for
// this task: a user's reduce may have been loaded anew) and drops its slots.
static void
lend(rl_state_table *tbl, rl_combiner *into)
{
	rl_combiner table = tbl->st_table;
	memset(&tbl->st_table, 0, sizeof(tbl->st_table));
	table.c_fn = into->c_fn;
	table.c_udf = into->c_udf;
	table.c_udf_data = into->c_udf_data;
	table.c_udf_name = into->c_udf_name;
	rl_combiner_fini(into);
	*into = table;
}

// load_snapshot reads the state of batch state_read_ms from its snapshot.
static rl_err
load_snapshot(task *t, rl_combiner *into, int64_t *ret_reflects)
{
	const Rill__TaskLaunch *tl = t->launch;
	char                    path[4096];
	if (tl->state_dir == NULL || tl->state_dir[0] == '\0') {
		snprintf(t->err, sizeof(t->err),
		    "stage %" PRIu32 " keeps state but the launch has no state directory",
		    tl->stage);
		return RL_ERR_PROTO;
	}
	if (tl->state_read_ms <= 0) {
		*ret_reflects = 0; // the first batch: empty state
		return RL_OK;
	}
	rl_state_snapshot_path(
	    tl->state_dir, tl->stage, tl->partition, tl->state_read_ms, path, sizeof(path));
	rl_err rv = rl_state_load(path, into, t->err, sizeof(t->err));
	if (rv == RL_OK)
		*ret_reflects = tl->state_read_ms;
	return rv;
}

typedef struct window_replay {
	rl_window *wr_window;
	int64_t    wr_reflects;
	uint64_t   wr_records;
	char      *wr_err;
	size_t     wr_errlen;
} window_replay;

static rl_err
replay_window_record(
    void *arg, const void *key, size_t key_len, const void *value, size_t value_len)
{
	window_replay *wr = arg;
	wr->wr_records++;
	rl_err rv
	    = rl_window_replay(wr->wr_window, key, key_len, value, value_len, &wr->wr_reflects);
	if (rv != RL_OK)
		snprintf(wr->wr_err, wr->wr_errlen,
		    "record %" PRIu64 " (key of %zu bytes, value of %zu) is not a record of "
		    "this window (another step's state, or a window of another length)",
		    wr->wr_records, key_len, value_len);
	return rv;
}

// restore_window reads the partition's changelog into w, empty, and writes
// the batch it reflects (0: an empty changelog).
static rl_err
restore_window(
    task *t, const char *brokers, const rl_kafka_props *props, rl_window *w, int64_t *ret_reflects)
{
	const Rill__TaskLaunch *tl = t->launch;
	char                    why[400] = "";
	window_replay           wr = { .wr_window = w, .wr_err = why, .wr_errlen = sizeof(why) };
	uint64_t                records;
	rl_err                  rv = rl_kafka_changelog_restore(brokers, props, tl->state_changelog,
	                     (int32_t)tl->state_changelog_partition, 30000, replay_window_record, &wr, &records,
	                     t->err, sizeof(t->err));
	if (rv == RL_ERR_PARSE)
		snprintf(t->err, sizeof(t->err), "state changelog %s/%" PRIu32 ": %s",
		    tl->state_changelog, tl->state_changelog_partition, why);
	if (rv != RL_OK)
		return rv;
	rl_window_replay_done(w);
	*ret_reflects = wr.wr_reflects;
	return RL_OK;
}

// load_changelog opens the partition's changelog writer (which fences an
// earlier one and lets a commit it started finish) and restores the table
// from the changelog. The changelog may be one batch ahead of the batch log
// (this batch ran before and committed its changes, and the batch did not
// finish); it is never behind, but a commit just made elsewhere may take a
// moment to become readable: a restore short of the batch the task starts
// from is tried again for a while.
static rl_err
load_changelog(task *t, rl_state_table *tbl, rl_combiner *into, int64_t *ret_reflects)
{
	const Rill__TaskLaunch *tl = t->launch;
	const rl_job           *job = t->ctx->t_job;
	if (strcmp(rl_job_source_kind(job), "kafka") != 0) {
		snprintf(t->err, sizeof(t->err),
		    "state changelog %s: the job's source is not Kafka, whose brokers hold it",
		    tl->state_changelog);
		return RL_ERR_PROTO;
	}
	const rl_kafka_source *src = job->j_source.c_conf;
	rl_kafka_props         props = { src->k_prop_names, src->k_prop_values, src->k_nprops };
	rl_err                 rv;
	if (tbl->st_writer == NULL) {
		char txn_id[512];
		snprintf(txn_id, sizeof(txn_id), "%s-%" PRIu32, tl->state_changelog,
		    tl->state_changelog_partition);
		if ((rv = rl_kafka_changelog_open(src->k_brokers, &props, txn_id,
		         tl->state_changelog, (int32_t)tl->state_changelog_partition, 30000,
		         &tbl->st_writer, t->err, sizeof(t->err)))
		    != RL_OK)
			return rv;
	}
	char dir[4096];
	spill_dir(t, dir, sizeof(dir));
	for (int round = 0;; round++) {
		int64_t reflects = 0;
		rv = tbl->st_window != NULL
		    ? restore_window(t, src->k_brokers, &props, tbl->st_window, &reflects)
		    : rl_state_restore(src->k_brokers, &props, tl->state_changelog,
		        (int32_t)tl->state_changelog_partition, tbl, into, memory_left(t), dir,
		        &reflects, t->err, sizeof(t->err));
		if (rv != RL_OK)
			return rv;
		if (reflects >= tl->state_read_ms || round == 20) {
			*ret_reflects = reflects;
			return RL_OK;
		}
		// Short of the batch it starts from: empty the table, read again.
		if (tbl->st_window != NULL)
			rl_window_clear(tbl->st_window);
		rl_state_db_destroy(tbl->st_db);
		tbl->st_db = NULL;
		rl_combiner_clear(into);
		rl_arena_fini(&tbl->st_keys);
		rl_arena_init(&tbl->st_keys, 64 * 1024);
		rl_sleep_ms(250);
	}
}

static bool
is_window(rl_op_kind kind)
{
	return kind == RL_OP_WINDOW || kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW
	    || kind == RL_OP_COUNT_BY_WINDOW;
}

// new_window makes the empty window of the stage's step.
static rl_window *
new_window(const task *t)
{
	const rl_step *s = t->win_step;
	bool           count = s->s_kind == RL_OP_COUNT_BY_WINDOW;
	if (s->s_event)
		return rl_window_create_event(
		    s->s_kind == RL_OP_WINDOW ? RL_WINDOW_RECORDS : RL_WINDOW_REDUCE,
		    s->s_length_ms, s->s_slide_ms, count);
	return rl_window_create(s->s_kind == RL_OP_WINDOW ? RL_WINDOW_RECORDS : RL_WINDOW_REDUCE,
	    s->s_length_ms, t->ctx->t_job->j_batch_ms, s->s_inverse || count, count);
}

// open_state starts a stateful stage's fold from the state of the batch the
// launch names (state_read_ms): the executor's warm table when it reflects
// that batch, else the partition's changelog (or, for a job whose state is
// in files, that batch's snapshot); the first batch starts empty.
static rl_err
open_state(task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	rl_state_key            key = state_key(t);
	if (tl->state_read_ms > 0 && t->ctx->t_state != NULL)
		t->state_in = rl_state_cache_take(t->ctx->t_state, &key, tl->state_read_ms);
	bool    warm = t->state_in != NULL;
	int64_t reflects = tl->state_read_ms;
	rl_err  rv = RL_OK;
	if (!warm)
		t->state_in = rl_state_table_create();
	lend(t->state_in, &t->state);
	if (t->win_step != NULL && !uses_changelog(t)) {
		snprintf(t->err, sizeof(t->err),
		    "%s keeps its state in a Kafka changelog, and the launch names none",
		    rl_op_name(t->win_step->s_kind));
		return RL_ERR_PROTO;
	}
	if (t->win_step != NULL && t->state_in->st_window == NULL)
		t->state_in->st_window = new_window(t);
	if (!warm) {
		int64_t t0 = rl_mono_us();
		rv = uses_changelog(t) ? load_changelog(t, t->state_in, &t->state, &reflects)
		                       : load_snapshot(t, &t->state, &reflects);
		if (rv != RL_OK)
			return rv;
		if (tl->state_read_ms > 0 || reflects > 0)
			rl_info("executor", "state loaded",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " batch_ms=%" PRId64
			    " read_ms=%" PRId64 " reflects_ms=%" PRId64 " from=%s keys=%zu ms=%.3f",
			    tl->job, tl->stage, tl->partition, tl->batch_time_ms, tl->state_read_ms,
			    reflects, uses_changelog(t) ? "changelog" : "snapshot",
			    in_db(t)                  ? (size_t)rl_state_db_keys(t->state_in->st_db)
			        : t->win_step != NULL ? rl_window_keys(t->state_in->st_window)
			                              : rl_combiner_count(&t->state),
			    (double)(rl_mono_us() - t0) / 1000);
		if (in_db(t))
			rl_info("executor", "state spilled",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32
			    " reason=\"restored past the job's state_memory\"",
			    tl->job, tl->stage, tl->partition);
	}
	if (reflects == tl->batch_time_ms && reflects > 0) {
		t->state_done = true; // an earlier run of this batch committed it
		rl_info("executor", "state already has the batch",
		    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " batch_ms=%" PRId64
		    " reason=\"an earlier run of the batch committed its changes\"",
		    tl->job, tl->stage, tl->partition, tl->batch_time_ms);
	} else if (reflects != tl->state_read_ms) {
		snprintf(t->err, sizeof(t->err),
		    "state partition %" PRIu32 " of stage %" PRIu32
		    " holds the state of batch %" PRId64 " in %s, but batch %" PRId64
		    " starts from batch %" PRId64
		    " (state lost, or written by another run of the job)",
		    tl->partition, tl->stage, reflects,
		    uses_changelog(t) ? tl->state_changelog : tl->state_dir, tl->batch_time_ms,
		    tl->state_read_ms);
		return RL_ERR_INVAL;
	}
	if (t->update != NULL && !t->state_done && !in_db(t)) {
		t->state_out = rl_state_table_create();
		lend(t->state_out, &t->state_after);
	}
	return RL_OK;
}

// log_put adds key's record (value NULL: a tombstone) to the batch's
// changelog transaction; nothing for a job whose state is in files.
static rl_err
log_put(task *t, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
	if (!t->txn_open)
		return RL_OK;
	t->log_key.b_len = 0;
	rl_buf_append(&t->log_key, RL_STATE_LOG_KEY, 1);
	rl_buf_append(&t->log_key, key, key_len);
	return rl_kafka_changelog_put(t->state_in->st_writer, t->log_key.b_data, t->log_key.b_len,
	    value, value_len, t->err, sizeof(t->err));
}

// log_change logs one key's new state (NULL: removed).
static rl_err
log_change(task *t, const uint8_t *key, size_t key_len, const int64_t *value)
{
	uint8_t v[8];
	if (value != NULL)
		rl_be64_put(v, (uint64_t)*value);
	return log_put(t, key, key_len, value != NULL ? v : NULL, sizeof(v));
}

static rl_err
begin_changes(task *t)
{
	if (!uses_changelog(t))
		return RL_OK;
	rl_err rv = rl_kafka_changelog_begin(t->state_in->st_writer, t->err, sizeof(t->err));
	t->txn_open = rv == RL_OK;
	return rv;
}

// commit_changes makes the batch's changes durable before anything
// downstream sees them: a snapshot of the whole state, or the changelog
// transaction with the batch's marker (the batch the partition's state
// reflects once it commits).
static rl_err
commit_changes(task *t, const rl_combiner *result)
{
	const Rill__TaskLaunch *tl = t->launch;
	if (!uses_changelog(t)) {
		char path[4096];
		rl_state_snapshot_path(
		    tl->state_dir, tl->stage, tl->partition, tl->batch_time_ms, path, sizeof(path));
		return rl_state_save(path, result, t->err, sizeof(t->err));
	}
	uint8_t v[8];
	rl_be64_put(v, (uint64_t)tl->batch_time_ms);
	rl_kafka_changelog *w = t->state_in->st_writer;
	rl_err              rv = rl_kafka_changelog_put(
	                 w, RL_STATE_LOG_MARKER, 1, v, sizeof(v), t->err, sizeof(t->err));
	if (rv == RL_OK)
		rv = rl_kafka_changelog_commit(w, 60000, t->err, sizeof(t->err));
	if (rv == RL_OK)
		t->txn_open = false;
	if (rv == RL_OK && in_db(t)) // committed: the store follows
		rv = rl_state_db_apply(t->state_in->st_db, t->err, sizeof(t->err));
	return rv;
}

// keep_state gives the batch's new state (the table result was lent) back to
// its table and keeps it warm for the partition's next batch; after the
// task succeeded, so that a failed task leaves nothing half-folded behind.
// The changelog writer goes with the table.
static void
keep_state(task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	bool                    after = t->state_out != NULL; // open_state made it
	rl_state_table        **tbl = after ? &t->state_out : &t->state_in;
	rl_combiner            *result = after ? &t->state_after : &t->state;
	if (*tbl == NULL || t->ctx->t_state == NULL)
		return;
	if (after) {
		t->state_out->st_writer = t->state_in->st_writer;
		t->state_in->st_writer = NULL;
	}
	(*tbl)->st_table = *result;
	memset(result, 0, sizeof(*result));
	(*tbl)->st_batch_ms = tl->batch_time_ms;
	// Past the job's budget, the table moves to RocksDB (for good).
	hold_state(t, 0); // the cache counts it from here
	size_t left = memory_left(t);
	if (left > 0 && rl_state_table_bytes(*tbl, &(*tbl)->st_table) > left) {
		char dir[4096], why[512];
		spill_dir(t, dir, sizeof(dir));
		size_t keys = rl_combiner_count(&(*tbl)->st_table);
		if (rl_state_table_spill(*tbl, &(*tbl)->st_table, dir, why, sizeof(why)) == RL_OK)
			rl_info("executor", "state spilled",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " keys=%zu dir=%s",
			    tl->job, tl->stage, tl->partition, keys, dir);
		else
			rl_warn("executor", "cannot spill state to disk",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " error=\"%s\"", tl->job,
			    tl->stage, tl->partition, why);
	}
	rl_state_key key = state_key(t);
	rl_state_cache_put(t->ctx->t_state, &key, *tbl);
	*tbl = NULL;
}

// apply_update runs the update function for one key; a kept state goes to
// state_after, and a changed or removed one to the changelog.
static rl_err
apply_update(task *t, const rill_udf *u, rill_update_in *in)
{
	int64_t next = 0;
	int     rc = u->update(t->update->s_udf_data, in, &next);
	if (rc < 0) {
		snprintf(t->err, sizeof(t->err),
		    "update_state_by_key: {udf: %s} failed (returned %d) for key '%.*s'", u->name,
		    rc, (int)(in->key.len > 40 ? 40 : in->key.len), (const char *)in->key.ptr);
		return RL_ERR_INVAL;
	}
	bool changed = rc != RILL_REMOVE ? !in->has_state || next != in->state : in->has_state;
	if (in_db(t) && changed && rc != RILL_REMOVE)
		rl_state_db_put(t->state_in->st_db, in->key.ptr, in->key.len, next);
	else if (in_db(t) && changed)
		rl_state_db_del(t->state_in->st_db, in->key.ptr, in->key.len);
	else if (rc != RILL_REMOVE)
		rl_combiner_put(&t->state_after, in->key.ptr, in->key.len, next);
	if (!changed)
		return RL_OK;
	return log_change(t, in->key.ptr, in->key.len, rc != RILL_REMOVE ? &next : NULL);
}

typedef struct update_walk {
	task           *w_t;
	const rill_udf *w_u;
	rill_update_in *w_in;
} update_walk;

// update_state_only runs the update function for a key of the store that
// has no value this batch.
static rl_err
update_state_only(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	update_walk *w = arg;
	int64_t      v;
	if (rl_combiner_get(&w->w_t->merge, key, key_len, &v))
		return RL_OK;
	w->w_in->key = (rill_slice) { key, key_len };
	w->w_in->has_value = 0;
	w->w_in->value = 0;
	w->w_in->has_state = 1;
	w->w_in->state = value;
	return apply_update(w->w_t, w->w_u, w->w_in);
}

// run_update folds the batch into the state with the user's update
// function: once for every key that has values this batch, then once for
// every key that has only state.
static rl_err
run_update(task *t)
{
	const rill_udf *u = t->update->s_udf;
	rill_update_in  in = { .batch_ms = t->launch->batch_time_ms };
	rl_err          rv;
	for (size_t i = 0; i < t->merge.c_cap; i++) {
		const rl_combine_entry *e = &t->merge.c_slots[i];
		if (e->e_key == NULL)
			continue;
		in.key = (rill_slice) { e->e_key, e->e_key_len };
		in.has_value = 1;
		in.value = e->e_acc;
		in.has_state = in_db(t)
		    ? rl_state_db_get(t->state_in->st_db, e->e_key, e->e_key_len, &in.state)
		    : rl_combiner_get(&t->state, e->e_key, e->e_key_len, &in.state);
		if (!in.has_state)
			in.state = 0;
		if ((rv = apply_update(t, u, &in)) != RL_OK)
			return rv;
	}
	update_walk w = { t, u, &in };
	if (in_db(t))
		return rl_state_db_each(
		    t->state_in->st_db, update_state_only, &w, t->err, sizeof(t->err));
	for (size_t i = 0; i < t->state.c_cap; i++) {
		const rl_combine_entry *e = &t->state.c_slots[i];
		if (e->e_key != NULL
		    && (rv = update_state_only(&w, e->e_key, e->e_key_len, e->e_acc)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

// fold_batch folds the batch's values (merge) into the state with the
// step's reduction, logging every key it changed.
static rl_err
fold_batch(task *t)
{
	size_t folded = 0;
	for (size_t i = 0; i < t->merge.c_cap; i++) {
		const rl_combine_entry *e = &t->merge.c_slots[i];
		if (e->e_key == NULL)
			continue;
		// A table that would outgrow the budget mid-batch moves to
		// RocksDB now (a failed task drops the store with the table),
		// before it doubles rather than after. The budget is the
		// executor's: the tables other tasks fold into at the same time
		// count.
		size_t bytes = 0;
		bool   grows = !in_db(t) && rl_combiner_grows(&t->state);
		if (grows || (!in_db(t) && (++folded & 63) == 0)) {
			bytes = rl_state_table_bytes(t->state_in, &t->state);
			if (grows)
				bytes += 2 * t->state.c_cap * sizeof(rl_combine_entry);
			hold_state(t, bytes);
		}
		size_t left = bytes > 0 ? memory_left(t) : 0;
		if (left > 0 && bytes > left) {
			hold_state(t, 0);
			char   dir[4096];
			size_t keys = rl_combiner_count(&t->state);
			spill_dir(t, dir, sizeof(dir));
			rl_err rv = rl_state_table_spill(
			    t->state_in, &t->state, dir, t->err, sizeof(t->err));
			if (rv != RL_OK)
				return rv;
			rl_info("executor", "state spilled",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " keys=%zu dir=%s"
			    " reason=\"past the job's state_memory while folding a batch\"",
			    t->launch->job, t->launch->stage, t->launch->partition, keys, dir);
		}
		int64_t v;
		if (!in_db(t)) {
			v = rl_combiner_merge(&t->state, e->e_key, e->e_key_len, e->e_acc);
		} else if (rl_state_db_get(t->state_in->st_db, e->e_key, e->e_key_len, &v)) {
			v = rl_combiner_fold(&t->state, v, e->e_acc);
			rl_state_db_put(t->state_in->st_db, e->e_key, e->e_key_len, v);
		} else {
			v = e->e_acc;
			rl_state_db_put(t->state_in->st_db, e->e_key, e->e_key_len, v);
		}
		rl_err rv = log_change(t, e->e_key, e->e_key_len, &v);
		if (rv != RL_OK)
			return rv;
	}
	return RL_OK;
}

// log_seen adds a map_with_state key's state and when it was last seen
// (minus the batch it expired in) to the changelog transaction.
static rl_err
log_seen(task *t, const uint8_t *key, size_t key_len, int64_t value, int64_t seen)
{
	uint8_t v[16];
	rl_be64_put(v, (uint64_t)value);
	rl_be64_put(v + 8, (uint64_t)seen);
	return log_put(t, key, key_len, v, sizeof(v));
}

// fold_mws is map_with_state's fold: every key seen this batch gets the
// batch's values folded into its state (a key back after it expired starts
// afresh) and is marked seen now; a key idle for the timeout expires now
// (kept one batch, marked with minus this batch, to be emitted once as
// expired, also by a re-run of this batch), and keys that expired in an
// earlier batch go.
static rl_err
fold_mws(task *t)
{
	int64_t now = t->launch->batch_time_ms;
	rl_err  rv;
	for (size_t i = 0; i < t->merge.c_cap; i++) {
		const rl_combine_entry *e = &t->merge.c_slots[i];
		if (e->e_key == NULL)
			continue;
		bool              fresh;
		rl_combine_entry *st = rl_combiner_entry(&t->state, e->e_key, e->e_key_len, &fresh);
		st->e_acc = fresh || st->e_aux < 0
		    ? e->e_acc
		    : rl_combiner_fold(&t->state, st->e_acc, e->e_acc);
		st->e_aux = now;
		if ((rv = log_seen(t, st->e_key, st->e_key_len, st->e_acc, now)) != RL_OK)
			return rv;
	}
	const uint8_t **gone = NULL;
	size_t         *gone_len = NULL, ngone = 0;
	for (size_t i = 0; i < t->state.c_cap; i++) {
		rl_combine_entry *e = &t->state.c_slots[i];
		if (e->e_key == NULL)
			continue;
		if (e->e_aux < 0) { // expired in an earlier batch: emitted then, gone now
			if (gone == NULL) {
				gone
				    = rl_arena_alloc(&t->scratch, t->state.c_count * sizeof(*gone));
				gone_len = rl_arena_alloc(
				    &t->scratch, t->state.c_count * sizeof(*gone_len));
			}
			gone[ngone] = e->e_key;
			gone_len[ngone++] = e->e_key_len;
		} else if (t->mws_timeout > 0 && e->e_aux + t->mws_timeout <= now) {
			e->e_aux = -now;
			if ((rv = log_seen(t, e->e_key, e->e_key_len, e->e_acc, -now)) != RL_OK)
				return rv;
		}
	}
	for (size_t k = 0; k < ngone; k++) {
		rl_combiner_remove(&t->state, gone[k], gone_len[k]);
		if ((rv = log_change(t, gone[k], gone_len[k], NULL)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

// emit_mws pushes map_with_state's output: every key seen this batch with
// its state, and every key that expired in this batch, once, with its last.
static rl_err
emit_mws(task *t)
{
	int64_t now = t->launch->batch_time_ms;
	rl_err  rv;
	for (int pass = 0; pass < 2; pass++) {
		const rl_combiner *c = pass == 0 ? &t->merge : &t->state;
		for (size_t i = 0; i < c->c_cap; i++) {
			const rl_combine_entry *e = &c->c_slots[i];
			int64_t                 v;
			if (e->e_key == NULL)
				continue;
			if (pass == 0 && !rl_combiner_get(&t->state, e->e_key, e->e_key_len, &v))
				continue; // cannot be: a key seen is in the state
			if (pass == 1 && e->e_aux != -now)
				continue;
			rl_rec rec = {
				.r_key = e->e_key,
				.r_key_len = e->e_key_len,
				.r_num = pass == 0 ? v : e->e_acc,
				.r_is_num = true,
			};
			if ((rv = rl_chain_push(&t->chain, &rec)) != RL_OK)
				return rv;
		}
	}
	return RL_OK;
}

// run_state gives the stage's result: the partition's state after the
// batch, durable before this returns.
static rl_err
run_state(task *t, const rl_combiner **ret)
{
	if (t->state_done) { // committed by an earlier run of the batch: as it is
		*ret = &t->state;
		return RL_OK;
	}
	rl_err rv = begin_changes(t);
	if (rv == RL_OK)
		rv = t->mws ? fold_mws(t) : t->update != NULL ? run_update(t) : fold_batch(t);
	const rl_combiner *result = t->state_out != NULL ? &t->state_after : &t->state;
	if (rv == RL_OK)
		rv = commit_changes(t, result);
	if (rv == RL_OK)
		*ret = result;
	return rv;
}

static rl_err
emit_state(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	task  *t = arg;
	rl_rec rec = {
		.r_key = key,
		.r_key_len = key_len,
		.r_num = value,
		.r_is_num = true,
	};
	return rl_chain_push(&t->chain, &rec);
}

// window_log adds a window's change to the batch's changelog transaction.
static rl_err
window_log(void *arg, const void *key, size_t key_len, const void *value, size_t value_len)
{
	task *t = arg;
	if (!t->txn_open)
		return RL_OK;
	return rl_kafka_changelog_put(
	    t->state_in->st_writer, key, key_len, value, value_len, t->err, sizeof(t->err));
}

// window_block keeps a block's records (window) for the batch's slot, once
// it decodes.
static rl_err
window_block(void *arg, uint32_t map_partition, const uint8_t *data, size_t len)
{
	task  *t = arg;
	rl_err rv = each_block_record(t, data, len, NULL);
	(void)map_partition;
	if (rv == RL_OK)
		rl_buf_append(&t->win_records, data, len);
	return rv;
}

static rl_err
push_window_record(void *arg, rl_rec *rec)
{
	task *t = arg;
	return rl_chain_push(&t->chain, rec);
}

// push_window_value pushes a key's value over the window; count_by_window's
// one count goes on without its key.
static rl_err
push_window_value(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	task  *t = arg;
	bool   count = t->win_step->s_kind == RL_OP_COUNT_BY_WINDOW;
	rl_rec rec = {
		.r_key = count ? NULL : key,
		.r_key_len = count ? 0 : key_len,
		.r_num = value,
		.r_is_num = true,
	};
	return rl_chain_push(&t->chain, &rec);
}

// push_event_value pushes a key's value over an event-time window (its key
// already holds the window's start).
static rl_err
push_event_value(void *arg, const uint8_t *key, size_t key_len, int64_t value)
{
	task  *t = arg;
	rl_rec rec = { .r_key = key, .r_key_len = key_len, .r_num = value, .r_is_num = true };
	return rl_chain_push(&t->chain, &rec);
}

// run_event_window moves an event-time window on by this batch (unless an
// earlier run of the batch committed that): panes past the watermark the
// batch started from leave, the batch's data goes into its panes; then it
// emits the windows the batch's watermark closed, each once.
static rl_err
run_event_window(task *t, rl_window *w)
{
	const Rill__TaskLaunch *tl = t->launch;
	rl_err                  rv;
	if (!t->state_done) {
		if ((rv = begin_changes(t)) != RL_OK)
			return rv;
		rl_window_batch b = {
			.wb_read_ms = tl->state_read_ms,
			.wb_time_ms = tl->batch_time_ms,
			.wb_partials = t->has_merge ? &t->merge : NULL,
			.wb_records = t->win_records.b_data,
			.wb_records_len = t->win_records.b_len,
			.wb_log = window_log,
			.wb_log_arg = t,
			.wb_watermark_before_ms = tl->watermark_before_ms,
			.wb_fold = t->has_merge ? &t->merge : NULL,
		};
		if ((rv = rl_window_add(w, &b)) != RL_OK) {
			if (rv == RL_ERR_PROTO)
				snprintf(t->err, sizeof(t->err),
				    "stage %" PRIu32 " partition %" PRIu32
				    ": a shuffle record without its event-time pane",
				    tl->stage, tl->partition);
			return rv;
		}
		if ((rv = commit_changes(t, &t->state)) != RL_OK)
			return rv;
	}
	rl_combiner scratch = { 0 };
	if (w->w_kind == RL_WINDOW_REDUCE
	    && (rv = combiner_init_for(t, &scratch, t->stage->st_merge, t->stage->st_merge_step))
	        != RL_OK)
		return rv;
	rv = rl_window_emit(w, tl->watermark_before_ms, tl->watermark_ms, &scratch,
	    push_event_value, push_window_record, t);
	if (w->w_kind == RL_WINDOW_REDUCE)
		rl_combiner_fini(&scratch);
	if (rv == RL_ERR_PARSE)
		snprintf(t->err, sizeof(t->err),
		    "window of stage %" PRIu32 " partition %" PRIu32
		    " holds records that do not decode (state changelog %s)",
		    tl->stage, tl->partition, tl->state_changelog);
	return rv;
}

// run_window moves the partition's window on to this batch (unless an
// earlier run of the batch committed that), durably, then at a batch on the
// slide emits the window: its records, or every key's value over it.
static rl_err
run_window(task *t)
{
	const Rill__TaskLaunch *tl = t->launch;
	rl_window              *w = t->state_in->st_window;
	rl_err                  rv;
	if (w->w_event)
		return run_event_window(t, w);
	if (!t->state_done) {
		if ((rv = begin_changes(t)) != RL_OK)
			return rv;
		rl_window_batch b = {
			.wb_read_ms = tl->state_read_ms,
			.wb_time_ms = tl->batch_time_ms,
			.wb_partials = t->has_merge ? &t->merge : NULL,
			.wb_records = t->win_records.b_data,
			.wb_records_len = t->win_records.b_len,
			.wb_log = window_log,
			.wb_log_arg = t,
		};
		if ((rv = rl_window_add(w, &b)) != RL_OK)
			return rv;
		if ((rv = commit_changes(t, &t->state)) != RL_OK)
			return rv;
	}
	if (!rl_window_emits(tl->batch_time_ms, t->win_step->s_slide_ms))
		return RL_OK;
	if (w->w_kind == RL_WINDOW_RECORDS) {
		rv = rl_window_each_record(w, tl->batch_time_ms, push_window_record, t);
		if (rv == RL_ERR_PARSE)
			snprintf(t->err, sizeof(t->err),
			    "window of stage %" PRIu32 " partition %" PRIu32
			    " holds records that do not decode (state changelog %s)",
			    tl->stage, tl->partition, tl->state_changelog);
		return rv;
	}
	rl_combiner scratch = { 0 };
	if (!w->w_inverse
	    && (rv = combiner_init_for(t, &scratch, t->stage->st_merge, t->stage->st_merge_step))
	        != RL_OK)
		return rv;
	rv = rl_window_each_value(w, tl->batch_time_ms, &scratch, push_window_value, t);
	rl_combiner_fini(&scratch);
	return rv;
}

static rl_err
read_shuffle(task *t, uint32_t *failed_map)
{
	const Rill__TaskLaunch *tl = t->launch;
	rl_map_output_id        id = {
		       .job = tl->job,
		       .batch_ms = tl->batch_time_ms,
		       .stage = tl->stage - 1,
	};
	rl_err rv;
	if (t->stateful && (rv = open_state(t)) != RL_OK)
		return rv;
	// One request to each executor that holds some of the inputs.
	if (tl->n_fetch_counts != tl->n_fetch_urls) {
		snprintf(t->err, sizeof(t->err),
		    "stage %" PRIu32 " task %" PRIu32 ": %zu fetch URLs but %zu counts", tl->stage,
		    tl->partition, tl->n_fetch_urls, tl->n_fetch_counts);
		return RL_ERR_PROTO;
	}
	rl_fetch_group *groups
	    = rl_arena_alloc(&t->scratch, (tl->n_fetch_urls + 1) * sizeof(*groups));
	size_t ngroups = 0, first = 0;
	for (size_t i = 0; i < tl->n_fetch_urls; i++) {
		uint32_t count = tl->fetch_counts[i];
		if (count > tl->n_fetch_maps - first) {
			snprintf(t->err, sizeof(t->err),
			    "stage %" PRIu32 " task %" PRIu32
			    ": fetch counts add up to more than the %zu map outputs",
			    tl->stage, tl->partition, tl->n_fetch_maps);
			return RL_ERR_PROTO;
		}
		if (count > 0)
			groups[ngroups++] = (rl_fetch_group) {
				.g_url = tl->fetch_urls[i],
				.g_maps = &tl->fetch_maps[first],
				.g_nmaps = count,
			};
		first += count;
	}
	int64_t t0 = rl_mono_us();
	if (t->state_done && !t->mws)
		ngroups = 0; // the state already has the batch's values
	rl_block_cb cb = t->has_join ? join_block
	    : t->has_merge           ? merge_block
	    : t->win_step != NULL    ? window_block
	                             : pass_block;
	rv = t->ctx->t_fetch(t->ctx->t_fetch_arg, groups, ngroups, &id, tl->partition, cb, t,
	    failed_map, t->err, sizeof(t->err));
	t->fetch_wait_us += rl_mono_us() - t0;
	if (rv == RL_OK && t->has_join)
		return rl_join_run(&t->join, &t->chain, &t->in_records, t->err, sizeof(t->err));
	if (rv == RL_OK && t->win_step != NULL)
		return run_window(t);
	if (rv != RL_OK || !t->has_merge)
		return rv;
	const rl_combiner *result = &t->merge;
	if (t->stateful && (rv = run_state(t, &result)) != RL_OK)
		return rv;
	if (t->stateful && t->mws)
		return emit_mws(t);
	if (t->stateful && in_db(t)) // every key's state, from the store
		return rl_state_db_each(t->state_in->st_db, emit_state, t, t->err, sizeof(t->err));
	// Every key's merged value (with state: every key's state) goes on.
	for (size_t i = 0; i < result->c_cap; i++) {
		const rl_combine_entry *e = &result->c_slots[i];
		if (e->e_key == NULL)
			continue;
		rl_rec rec = {
			.r_key = e->e_key,
			.r_key_len = e->e_key_len,
			.r_num = e->e_acc,
			.r_is_num = true,
		};
		if ((rv = rl_chain_push(&t->chain, &rec)) != RL_OK)
			return rv;
	}
	return RL_OK;
}

// ---- result ----

static void
set_failure(task *t, Rill__TaskResult *res, Rill__TaskResult__Status status, rl_err code)
{
	res->status = status;
	res->code = (uint32_t)code;
	res->error = rl_arena_memdup(t->result_arena, t->err, strlen(t->err) + 1);
}

static void
finish_shuffle(task *t, Rill__TaskResult *res)
{
	const Rill__TaskLaunch *tl = t->launch;
	rl_shuffle_writer       w;
	if (t->has_writer) {
		w = t->writer;
		memset(&t->writer, 0, sizeof(t->writer));
	} else {
		if (t->has_spilled) {
			rl_debug("executor", "combiner spilled",
			    "job=%s stage=%" PRIu32 " partition=%" PRIu32 " times=%" PRIu32,
			    tl->job, tl->stage, tl->partition, t->combine_spills);
			w = t->spilled;
			t->has_spilled = false;
		} else {
			rl_shuffle_writer_init(&w, tl->num_output_partitions);
		}
		write_partials(&t->combine, &w, pane_skip(t));
	}
	size_t   nonempty = 0;
	uint64_t bytes = 0;
	for (uint32_t p = 0; p < w.w_nparts; p++)
		nonempty += w.w_records[p] > 0;
	res->output_partitions
	    = rl_arena_alloc(t->result_arena, (nonempty + 1) * sizeof(*res->output_partitions));
	res->output_bytes
	    = rl_arena_alloc(t->result_arena, (nonempty + 1) * sizeof(*res->output_bytes));
	res->output_records
	    = rl_arena_alloc(t->result_arena, (nonempty + 1) * sizeof(*res->output_records));
	size_t n = 0;
	for (uint32_t p = 0; p < w.w_nparts; p++) {
		if (w.w_records[p] == 0)
			continue;
		res->output_partitions[n] = p;
		res->output_bytes[n] = w.w_buckets[p].b_len;
		res->output_records[n] = w.w_records[p];
		bytes += w.w_buckets[p].b_len;
		t->out_records += w.w_records[p];
		n++;
	}
	res->n_output_partitions = res->n_output_bytes = res->n_output_records = n;
	res->metrics->shuffle_write_bytes = bytes;
	rl_map_output_id id = {
		.job = tl->job,
		.batch_ms = tl->batch_time_ms,
		.stage = tl->stage,
		.map_partition = tl->partition,
	};
	rl_shuffle_store_put(t->ctx->t_shuffle, &id, &w);
	rl_shuffle_writer_fini(&w);
}

static rl_err
finish_sink(task *t, Rill__TaskResult *res)
{
	rl_sink_result sr = { 0 };
	rl_err         rv = t->sink->s_commit(t->sink_state, &sr, t->err, sizeof(t->err));
	if (rv != RL_OK)
		return rv;
	t->sink_open = false;
	if (sr.r_nsamples > 0) {
		res->sample = rl_arena_alloc(t->result_arena, sr.r_nsamples * sizeof(*res->sample));
		for (size_t i = 0; i < sr.r_nsamples; i++)
			res->sample[i] = (ProtobufCBinaryData) {
				.data = (uint8_t *)(uintptr_t)sr.r_samples[i],
				.len = sr.r_sample_lens[i],
			};
		res->n_sample = sr.r_nsamples;
	}
	return RL_OK;
}

// ---- the task ----

// combiner_init_for starts c for fn; a {udf: F} step's function folds with
// its reduce (an update function's own reduce, or a sum when it has none).
static rl_err
combiner_init_for(task *t, rl_combiner *c, rl_fn fn, const rl_step *step)
{
	if (fn != RL_FN_UDF) {
		rl_combiner_init(c, fn, &t->keys);
		return RL_OK;
	}
	const rill_udf *u = step != NULL ? step->s_udf : NULL;
	if (u == NULL) {
		snprintf(t->err, sizeof(t->err), "%s: {udf: %s} is not bound to the job's artifact",
		    step != NULL ? rl_op_name(step->s_kind) : "reduce",
		    step != NULL && step->s_arg != NULL ? step->s_arg : "");
		return RL_ERR_INTERNAL;
	}
	if (u->reduce != NULL)
		rl_combiner_init_udf(c, u->reduce, step->s_udf_data, u->name, &t->keys);
	else
		rl_combiner_init(c, RL_FN_SUM, &t->keys);
	return RL_OK;
}

// open_late_sink opens this stage-0 task's writer of the event-time
// window's `late:` sink (the map task's partition names its part).
static rl_err
open_late_sink(task *t)
{
	const rl_connector_conf *late = t->ev_step->s_late;
	const rl_task_ctx       *ctx = t->ctx;
	t->late_sink = rl_sink_exec_find(late->c_kind);
	if (t->late_sink == NULL || t->late_sink->s_version != RL_SINK_OPS_VERSION) {
		snprintf(t->err, sizeof(t->err),
		    "late: sink '%s' is not supported by this executor", late->c_kind);
		return RL_ERR_NOTSUP;
	}
	t->late_state = rl_calloc(1, t->late_sink->s_state_size + 1);
	rl_sink_task stask = {
		.t_job = ctx->t_job,
		.t_batch_ms = t->launch->batch_time_ms,
		.t_partition = t->launch->partition,
		.t_attempt = t->launch->attempt,
		.t_arena = t->result_arena,
		.t_shared = rl_sink_shared_get(ctx->t_sinks, t->late_sink),
	};
	rl_err rv
	    = t->late_sink->s_open(t->late_state, late->c_conf, &stask, t->err, sizeof(t->err));
	if (rv == RL_OK)
		t->late_open = true;
	return rv;
}

// finish_late commits the late sink's writer, its samples (print) in res.
static rl_err
finish_late(task *t, Rill__TaskResult *res)
{
	rl_sink_result sr = { 0 };
	rl_err         rv = t->late_sink->s_commit(t->late_state, &sr, t->err, sizeof(t->err));
	t->late_open = false;
	if (rv != RL_OK)
		return rv;
	if (sr.r_nsamples > 0) {
		res->sample = rl_arena_alloc(t->result_arena, sr.r_nsamples * sizeof(*res->sample));
		for (size_t i = 0; i < sr.r_nsamples; i++)
			res->sample[i] = (ProtobufCBinaryData) {
				.data = (uint8_t *)(uintptr_t)sr.r_samples[i],
				.len = sr.r_sample_lens[i],
			};
		res->n_sample = sr.r_nsamples;
	}
	return RL_OK;
}

static rl_err
setup(task *t)
{
	const rl_task_ctx      *ctx = t->ctx;
	const Rill__TaskLaunch *tl = t->launch;
	const rl_stage         *st = t->stage;
	rl_emit_fn              out;
	if (st->st_output == RL_OUTPUT_SHUFFLE) {
		if (tl->num_output_partitions == 0
		    || tl->num_output_partitions > RL_PARTITIONS_MAX) {
			snprintf(t->err, sizeof(t->err),
			    "stage %" PRIu32 " shuffles into %" PRIu32
			    " partitions (the launch must give 1 to %d)",
			    tl->stage, tl->num_output_partitions, RL_PARTITIONS_MAX);
			return RL_ERR_PROTO;
		}
		if (st->st_combine == RL_FN_NONE && st->st_by_key) {
			rl_shuffle_writer_init(&t->writer, tl->num_output_partitions);
			t->has_writer = true;
			t->keyed_for = st->st_shuffle_step;
			out = to_keyed_writer;
		} else if (st->st_combine == RL_FN_NONE) {
			rl_shuffle_writer_init(&t->writer, tl->num_output_partitions);
			t->has_writer = true;
			// Each map task starts dealing at a bucket of its own, so
			// that small tasks do not all fill bucket 0 (Spark's
			// repartition starts at a random one, seeded by the task).
			t->deal_next = (uint32_t)(rl_hash64(&tl->partition, sizeof(tl->partition))
			    % tl->num_output_partitions);
			out = to_writer;
			if (st->st_input == RL_INPUT_SOURCE
			    && (t->ev_step = rl_plan_event_window(ctx->t_plan)) != NULL)
				out = to_event_writer;
		} else {
			rl_err rv = combiner_init_for(
			    t, &t->combine, st->st_combine, st->st_shuffle_step);
			if (rv != RL_OK)
				return rv;
			t->has_combine = true;
			out = to_combiner;
			if (st->st_input == RL_INPUT_SOURCE
			    && (t->ev_step = rl_plan_event_window(ctx->t_plan)) != NULL)
				out = to_event_combiner;
		}
	} else {
		const char *kind = rl_job_sink_kind(ctx->t_job);
		t->sink = rl_sink_exec_find(kind);
		if (t->sink == NULL || t->sink->s_version != RL_SINK_OPS_VERSION) {
			snprintf(t->err, sizeof(t->err),
			    "sink '%s' is not supported by this executor", kind);
			return RL_ERR_NOTSUP;
		}
		t->sink_state = rl_calloc(1, t->sink->s_state_size);
		rl_sink_task stask = {
			.t_job = ctx->t_job,
			.t_batch_ms = tl->batch_time_ms,
			.t_partition = tl->partition,
			.t_attempt = tl->attempt,
			.t_arena = t->result_arena,
			.t_shared = rl_sink_shared_get(ctx->t_sinks, t->sink),
		};
		rl_err rv = t->sink->s_open(
		    t->sink_state, ctx->t_job->j_sink.c_conf, &stask, t->err, sizeof(t->err));
		if (rv != RL_OK)
			return rv;
		t->sink_open = true;
		out = to_sink;
	}
	if (st->st_input == RL_INPUT_SHUFFLE && st->st_merge != RL_FN_NONE) {
		rl_err rv = combiner_init_for(t, &t->merge, st->st_merge, st->st_merge_step);
		if (rv != RL_OK)
			return rv;
		t->has_merge = true;
		const rl_step *ss = st->st_state_step;
		t->stateful = ss != NULL;
		t->mws = ss != NULL && ss->s_kind == RL_OP_MAP_WITH_STATE;
		t->mws_timeout = t->mws ? ss->s_num : 0;
		if (ss != NULL && ss->s_fn == RL_FN_UDF && ss->s_udf->kind == RILL_UPDATE) {
			t->update = ss;
			rl_combiner_init(&t->state, RL_FN_SUM, &t->keys);
			rl_combiner_init(&t->state_after, RL_FN_SUM, &t->keys);
		} else if (ss != NULL
		    && (rv = combiner_init_for(t, &t->state, st->st_merge, st->st_merge_step))
		        != RL_OK) {
			return rv;
		}
	}
	if (st->st_state_step != NULL && is_window(st->st_state_step->s_kind)) {
		t->win_step = st->st_state_step;
		t->stateful = true;
		if (!t->has_merge) // window: records, no fold
			rl_combiner_init(&t->state, RL_FN_SUM, &t->keys);
	}
	if (st->st_join_step != NULL) {
		rl_err rv = setup_join(t);
		if (rv != RL_OK)
			return rv;
	}
	// A stage-0 task of a union's input runs the steps after the union, of
	// a join's input the join's pipeline.
	const rl_step *const *steps = st->st_steps;
	size_t                nsteps = st->st_nsteps;
	if (st->st_input == RL_INPUT_SOURCE && tl->input > 0) {
		if (tl->input >= ctx->t_plan->p_ninputs) {
			snprintf(t->err, sizeof(t->err),
			    "stage 0 task of input %" PRIu32 ", but the job has %zu inputs",
			    tl->input, ctx->t_plan->p_ninputs);
			return RL_ERR_PROTO;
		}
		steps = ctx->t_plan->p_inputs[tl->input].pi_steps;
		nsteps = ctx->t_plan->p_inputs[tl->input].pi_nsteps;
	}
	if (t->ev_step != NULL && t->ev_step->s_late != NULL) {
		rl_err rv = open_late_sink(t);
		if (rv != RL_OK)
			return rv;
	}
	return rl_chain_init(&t->chain, steps, nsteps, &t->scratch, out, t, t->err, sizeof(t->err));
}

static void
teardown(task *t)
{
	rl_chain_fini(&t->chain);
	if (t->sink_open)
		t->sink->s_abort(t->sink_state);
	rl_free(t->sink_state);
	if (t->late_open)
		t->late_sink->s_abort(t->late_state);
	rl_free(t->late_state);
	if (t->has_combine)
		rl_combiner_fini(&t->combine);
	if (t->has_spilled)
		rl_shuffle_writer_fini(&t->spilled);
	if (t->has_writer)
		rl_shuffle_writer_fini(&t->writer);
	if (t->has_merge)
		rl_combiner_fini(&t->merge);
	if (t->has_join)
		rl_join_fini(&t->join);
	if (t->stateful) {
		rl_combiner_fini(&t->state);
		rl_combiner_fini(&t->state_after);
	}
	// Tables not kept (the task failed): their combiners, lent, are gone;
	// an open changelog transaction is aborted with its writer.
	if (t->txn_open && t->state_in->st_writer != NULL) {
		char why[256];
		if (rl_kafka_changelog_abort(t->state_in->st_writer, 10000, why, sizeof(why))
		    != RL_OK)
			rl_warn("executor", "cannot abort a state changelog transaction",
			    "job=%s error=\"%s\"", t->launch->job, why);
	}
	hold_state(t, 0);
	rl_state_table_destroy(t->state_in);
	rl_state_table_destroy(t->state_out);
	rl_buf_fini(&t->log_key);
	rl_buf_fini(&t->win_records);
	rl_buf_fini(&t->ev_key);
	rl_json_fini(&t->ev_json);
	rl_arena_fini(&t->keys);
	rl_arena_fini(&t->scratch);
}

void
rl_task_run(
    const rl_task_ctx *ctx, const Rill__TaskLaunch *tl, rl_arena *arena, Rill__TaskResult *res)
{
	int64_t t0 = rl_mono_us();
	task    t = { .ctx = ctx, .launch = tl, .result_arena = arena };
	rl_arena_init(&t.keys, 64 * 1024);
	rl_arena_init(&t.scratch, 4096);
	rl_json_init(&t.ev_json);
	res->metrics = rl_arena_alloc(arena, sizeof(*res->metrics));
	rill__task_metrics__init(res->metrics);

	rl_err rv;
	if (tl->stage >= ctx->t_plan->p_nstages || tl->num_stages != ctx->t_plan->p_nstages) {
		snprintf(t.err, sizeof(t.err),
		    "stage %" PRIu32 " of %" PRIu32 " does not match this job's plan of %zu stages",
		    tl->stage, tl->num_stages, ctx->t_plan->p_nstages);
		set_failure(&t, res, RILL__TASK_RESULT__STATUS__FAILED, RL_ERR_PROTO);
		goto out;
	}
	t.stage = &ctx->t_plan->p_stages[tl->stage];
	if ((rv = setup(&t)) != RL_OK) {
		set_failure(&t, res, RILL__TASK_RESULT__STATUS__FAILED, rv);
		goto out;
	}
	if (t.stage->st_input == RL_INPUT_SOURCE) {
		rv = read_source(&t);
	} else {
		uint32_t failed_map = 0;
		rv = read_shuffle(&t, &failed_map);
		if (rv == RL_ERR_FETCH_FAILED) {
			res->failed_map_partition = failed_map;
			set_failure(&t, res, RILL__TASK_RESULT__STATUS__FETCH_FAILED, rv);
			goto out;
		}
	}
	if (rv != RL_OK) {
		set_failure(&t, res, RILL__TASK_RESULT__STATUS__FAILED, rv);
		goto out;
	}
	if (t.late_open && (rv = finish_late(&t, res)) != RL_OK) {
		set_failure(&t, res, RILL__TASK_RESULT__STATUS__FAILED, rv);
		goto out;
	}
	if (t.stage->st_output == RL_OUTPUT_SHUFFLE) {
		finish_shuffle(&t, res);
	} else if ((rv = finish_sink(&t, res)) != RL_OK) {
		set_failure(&t, res, RILL__TASK_RESULT__STATUS__FAILED, rv);
		goto out;
	}
	if (t.stateful)
		keep_state(&t);
	res->status = RILL__TASK_RESULT__STATUS__OK;
out:
	res->metrics->missing_records = t.chain.c_missing;
	res->metrics->malformed_records = t.chain.c_malformed;
	res->metrics->event_time_max_ms = t.ev_max;
	res->metrics->late_records = t.ev_late;
	teardown(&t);
	res->metrics->input_records = t.in_records;
	res->metrics->input_bytes = t.in_bytes;
	res->metrics->output_records = t.out_records;
	res->metrics->shuffle_read_bytes = t.shuffle_read;
	res->metrics->fetch_wait_us = (uint64_t)t.fetch_wait_us;
	size_t nbuckets = 0;
	for (uint32_t b = 0; b < RL_HIST_BUCKETS; b++)
		nbuckets += t.age.h_counts[b] > 0;
	if (nbuckets > 0) {
		res->metrics->record_age = rl_arena_alloc(arena, nbuckets * sizeof(void *));
		Rill__HistBucket *buckets = rl_arena_alloc(arena, nbuckets * sizeof(*buckets));
		for (uint32_t b = 0; b < RL_HIST_BUCKETS; b++) {
			if (t.age.h_counts[b] == 0)
				continue;
			Rill__HistBucket *hb = &buckets[res->metrics->n_record_age];
			rill__hist_bucket__init(hb);
			hb->bucket = b;
			hb->count = t.age.h_counts[b];
			res->metrics->record_age[res->metrics->n_record_age++] = hb;
		}
	}
	res->metrics->run_us = (uint64_t)(rl_mono_us() - t0);
}
