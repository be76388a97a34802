// SPDX-License-Identifier: Apache-2.0
// Shuffle block encoding, bucketed writer and the refcounted in-memory store.
#include "executor/shuffle.h"

#include <pthread.h>
#include <string.h>

#include "common/alloc.h"
#include "common/hash.h"

// ---- encoding ----

void
rl_block_put(rl_buf *block, const rl_rec *rec)
{
	if (rec->r_key != NULL) {
		rl_buf_put_uvarint(block, (uint64_t)rec->r_key_len + 1);
		rl_buf_append(block, rec->r_key, rec->r_key_len);
	} else {
		rl_buf_put_uvarint(block, 0);
	}
	if (rec->r_is_num) {
		rl_buf_putc(block, 0);
		rl_buf_put_svarint(block, rec->r_num);
	} else {
		rl_buf_putc(block, 1);
		rl_buf_put_uvarint(block, rec->r_val_len);
		rl_buf_append(block, rec->r_val, rec->r_val_len);
	}
}

void
rl_block_put_kv(rl_buf *block, const uint8_t *key, size_t key_len, int64_t value)
{
	rl_buf_put_uvarint(block, (uint64_t)key_len + 1);
	rl_buf_append(block, key, key_len);
	rl_buf_putc(block, 0);
	rl_buf_put_svarint(block, value);
}

int
rl_block_next(rl_reader *r, rl_rec *rec)
{
	if (rl_reader_done(r))
		return 0;
	uint64_t klen, vlen;
	uint8_t  kind;
	memset(rec, 0, sizeof(*rec));
	if (!rl_get_uvarint(r, &klen))
		return -1;
	if (klen > 0) {
		rec->r_key_len = (size_t)(klen - 1);
		if (klen - 1 > SIZE_MAX || !rl_get_bytes(r, rec->r_key_len, &rec->r_key))
			return -1;
	}
	if (!rl_get_u8(r, &kind))
		return -1;
	if (kind == 0) {
		rec->r_is_num = true;
		return rl_get_svarint(r, &rec->r_num) ? 1 : -1;
	}
	if (kind != 1 || !rl_get_uvarint(r, &vlen) || !rl_get_bytes(r, (size_t)vlen, &rec->r_val))
		return -1;
	rec->r_val_len = (size_t)vlen;
	return 1;
}

// ---- writer ----

void
rl_shuffle_writer_init(rl_shuffle_writer *w, uint32_t nparts)
{
	w->w_nparts = nparts;
	w->w_buckets = rl_calloc(nparts, sizeof(rl_buf));
	w->w_records = rl_calloc(nparts, sizeof(uint64_t));
}

void
rl_shuffle_writer_fini(rl_shuffle_writer *w)
{
	for (uint32_t i = 0; w->w_buckets != NULL && i < w->w_nparts; i++)
		rl_buf_fini(&w->w_buckets[i]);
	rl_free(w->w_buckets);
	rl_free(w->w_records);
	memset(w, 0, sizeof(*w));
}

void
rl_shuffle_writer_add(
    rl_shuffle_writer *w, uint64_t key_hash, const uint8_t *key, size_t key_len, int64_t value)
{
	uint32_t part = rl_partition_of(key_hash, w->w_nparts);
	rl_block_put_kv(&w->w_buckets[part], key, key_len, value);
	w->w_records[part]++;
}

void
rl_shuffle_writer_put(rl_shuffle_writer *w, uint32_t part, const rl_rec *rec)
{
	rl_block_put(&w->w_buckets[part], rec);
	w->w_records[part]++;
}

// ---- store ----

typedef struct map_output map_output;

struct map_output {
	map_output       *o_next;
	char             *o_job;
	int64_t           o_batch_ms;
	uint32_t          o_stage;
	uint32_t          o_map_partition;
	rl_shuffle_writer o_data;
	int               o_refs; // the store's own (while listed) + one per acquired block
};

struct rl_shuffle_store {
	pthread_mutex_t s_mu;
	map_output     *s_outputs;
	uint64_t        s_bytes;
};

rl_shuffle_store *
rl_shuffle_store_create(void)
{
	rl_shuffle_store *s = RL_NEW(rl_shuffle_store);
	pthread_mutex_init(&s->s_mu, NULL);
	return s;
}

static uint64_t
output_bytes(const map_output *o)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < o->o_data.w_nparts; i++)
		n += o->o_data.w_buckets[i].b_len;
	return n;
}

static void
output_free(map_output *o)
{
	rl_shuffle_writer_fini(&o->o_data);
	rl_free(o->o_job);
	rl_free(o);
}

// unref drops one reference; the caller holds s_mu.
static void
unref(rl_shuffle_store *s, map_output *o)
{
	if (--o->o_refs == 0) {
		s->s_bytes -= output_bytes(o);
		output_free(o);
	}
}

void
rl_shuffle_store_destroy(rl_shuffle_store *s)
{
	if (s == NULL)
		return;
	map_output *o = s->s_outputs;
	while (o != NULL) {
		map_output *next = o->o_next;
		output_free(o);
		o = next;
	}
	pthread_mutex_destroy(&s->s_mu);
	rl_free(s);
}

static bool
same_id(const map_output *o, const rl_map_output_id *id)
{
	return o->o_batch_ms == id->batch_ms && o->o_stage == id->stage
	    && o->o_map_partition == id->map_partition && strcmp(o->o_job, id->job) == 0;
}

// detach takes the output at *link out of the list; the caller holds s_mu.
static void
detach(rl_shuffle_store *s, map_output **link)
{
	map_output *o = *link;
	*link = o->o_next;
	unref(s, o);
}

void
rl_shuffle_store_put(rl_shuffle_store *s, const rl_map_output_id *id, rl_shuffle_writer *w)
{
	map_output *o = RL_NEW(map_output);
	o->o_job = rl_strdup(id->job);
	o->o_batch_ms = id->batch_ms;
	o->o_stage = id->stage;
	o->o_map_partition = id->map_partition;
	o->o_data = *w;
	o->o_refs = 1;
	memset(w, 0, sizeof(*w));

	pthread_mutex_lock(&s->s_mu);
	for (map_output **link = &s->s_outputs; *link != NULL; link = &(*link)->o_next) {
		if (same_id(*link, id)) {
			detach(s, link);
			break;
		}
	}
	o->o_next = s->s_outputs;
	s->s_outputs = o;
	s->s_bytes += output_bytes(o);
	pthread_mutex_unlock(&s->s_mu);
}

bool
rl_shuffle_acquire(
    rl_shuffle_store *s, const rl_map_output_id *id, uint32_t reduce_partition, rl_block_ref *ret)
{
	bool found = false;
	pthread_mutex_lock(&s->s_mu);
	for (map_output *o = s->s_outputs; o != NULL; o = o->o_next) {
		if (!same_id(o, id))
			continue;
		if (reduce_partition < o->o_data.w_nparts) {
			const rl_buf *b = &o->o_data.w_buckets[reduce_partition];
			o->o_refs++;
			*ret = (rl_block_ref) {
				.b_data = b->b_data,
				.b_len = b->b_len,
				.b_records = o->o_data.w_records[reduce_partition],
				.b_owner = o,
			};
			found = true;
		}
		break;
	}
	pthread_mutex_unlock(&s->s_mu);
	return found;
}

void
rl_shuffle_release(rl_shuffle_store *s, rl_block_ref *ref)
{
	if (ref->b_owner == NULL)
		return;
	pthread_mutex_lock(&s->s_mu);
	unref(s, ref->b_owner);
	pthread_mutex_unlock(&s->s_mu);
	ref->b_owner = NULL;
}

void
rl_shuffle_drop_before(rl_shuffle_store *s, const char *job, int64_t batch_ms)
{
	pthread_mutex_lock(&s->s_mu);
	map_output **link = &s->s_outputs;
	while (*link != NULL) {
		if ((*link)->o_batch_ms < batch_ms && strcmp((*link)->o_job, job) == 0)
			detach(s, link);
		else
			link = &(*link)->o_next;
	}
	pthread_mutex_unlock(&s->s_mu);
}

uint64_t
rl_shuffle_bytes(rl_shuffle_store *s)
{
	pthread_mutex_lock(&s->s_mu);
	uint64_t n = s->s_bytes;
	pthread_mutex_unlock(&s->s_mu);
	return n;
}
