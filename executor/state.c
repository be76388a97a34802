// SPDX-License-Identifier: Apache-2.0
// Reading and writing state snapshot files.
#include "executor/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "executor/shuffle.h"
#include "executor/window.h"

#define MAGIC "RILLSTA1"
#define HEADER 16

rl_err
rl_state_load(const char *path, rl_combiner *c, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "state snapshot %s: %s", path, strerror(errno));
		return errno == ENOENT ? RL_ERR_NOENT : RL_ERR_IO;
	}
	struct stat st;
	rl_err      rv = RL_OK;
	uint8_t    *data = NULL;
	if (fstat(fd, &st) != 0) {
		snprintf(errbuf, errlen, "state snapshot %s: %s", path, strerror(errno));
		rv = RL_ERR_IO;
		goto out;
	}
	size_t size = (size_t)st.st_size;
	data = rl_malloc(size + 1);
	if (rl_read_all(fd, data, size) != 0) {
		snprintf(errbuf, errlen, "state snapshot %s: %s", path,
		    errno != 0 ? strerror(errno) : "shorter than its size");
		rv = RL_ERR_IO;
		goto out;
	}
	if (size < HEADER || memcmp(data, MAGIC, 8) != 0
	    || rl_be32_get(data + 8) != size - HEADER) {
		snprintf(errbuf, errlen, "state snapshot %s: torn or not a snapshot (%zu bytes)",
		    path, size);
		rv = RL_ERR_PARSE;
		goto out;
	}
	if (rl_crc32c(data + HEADER, size - HEADER) != rl_be32_get(data + 12)) {
		snprintf(errbuf, errlen, "state snapshot %s: CRC32C mismatch", path);
		rv = RL_ERR_PARSE;
		goto out;
	}
	rl_reader r = rl_reader_make(data + HEADER, size - HEADER);
	rl_rec    rec;
	int       more;
	while ((more = rl_block_next(&r, &rec)) == 1) {
		if (rec.r_key == NULL || !rec.r_is_num) {
			more = -1;
			break;
		}
		rl_combiner_merge(c, rec.r_key, rec.r_key_len, rec.r_num);
	}
	if (more < 0) {
		snprintf(errbuf, errlen, "state snapshot %s: malformed records", path);
		rv = RL_ERR_PARSE;
	}
out:
	rl_free(data);
	close(fd);
	return rv;
}

rl_err
rl_state_save(const char *path, const rl_combiner *c, char *errbuf, size_t errlen)
{
	rl_buf b = RL_BUF_INIT;
	rl_buf_append(&b, MAGIC, 8);
	rl_buf_append(&b, "\0\0\0\0\0\0\0\0", 8); // length and CRC, below
	for (size_t i = 0; i < c->c_cap; i++) {
		const rl_combine_entry *e = &c->c_slots[i];
		if (e->e_key != NULL)
			rl_block_put_kv(&b, e->e_key, e->e_key_len, e->e_acc);
	}
	rl_be32_put(b.b_data + 8, (uint32_t)(b.b_len - HEADER));
	rl_be32_put(b.b_data + 12, rl_crc32c(b.b_data + HEADER, b.b_len - HEADER));

	char dir[4096], tmp[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rl_err        rv = RL_OK;
	rl_write_step step = RL_WRITE_DONE;
	if (rl_mkdir_p(dirname(dir)) != 0
	    || (step = rl_write_durable(tmp, path, b.b_data, b.b_len)) != RL_WRITE_DONE) {
		snprintf(errbuf, errlen, "state snapshot %s: %s: %s", path,
		    step != RL_WRITE_DONE ? rl_write_step_name(step) : "create directory",
		    strerror(errno));
		rv = RL_ERR_IO;
	}
	rl_buf_fini(&b);
	return rv;
}

size_t
rl_state_table_bytes(const rl_state_table *t, const rl_combiner *table)
{
	if (t->st_db != NULL)
		return 0;
	return table->c_cap * sizeof(rl_combine_entry) + rl_arena_reserved(&t->st_keys);
}

rl_err
rl_state_table_spill(
    rl_state_table *t, rl_combiner *table, const char *dir, char *errbuf, size_t errlen)
{
	rl_state_db *db;
	rl_err       rv = rl_state_db_open(dir, &db, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	for (size_t i = 0; i < table->c_cap && rv == RL_OK; i++) {
		const rl_combine_entry *e = &table->c_slots[i];
		if (e->e_key == NULL)
			continue;
		rl_state_db_put(db, e->e_key, e->e_key_len, e->e_acc);
		if (rl_state_db_pending(db) >= 10000)
			rv = rl_state_db_apply(db, errbuf, errlen);
	}
	if (rv == RL_OK)
		rv = rl_state_db_apply(db, errbuf, errlen);
	if (rv != RL_OK) {
		rl_state_db_destroy(db);
		return rv;
	}
	rl_combiner_clear(table); // its keys are in the store now: release them
	rl_arena_fini(&t->st_keys);
	rl_arena_init(&t->st_keys, 64 * 1024);
	t->st_db = db;
	return RL_OK;
}

// ---- restore from the changelog ----

typedef struct restore {
	rl_state_table *r_tbl;
	rl_combiner    *r_table;
	size_t          r_budget;
	const char     *r_spill_dir;
	int64_t         r_reflects;
	uint64_t        r_records;
	rl_err          r_spill_err;
	char           *r_err;
	size_t          r_errlen;
} restore;

// restore_put sets a key's state, and with 16 bytes the second value too
// (map_with_state: the batch the key was last seen, negative once expired).
static void
restore_put(rl_combiner *c, const uint8_t *key, size_t key_len, const uint8_t *value, size_t len)
{
	bool              fresh;
	rl_combine_entry *e = rl_combiner_entry(c, key, key_len, &fresh);
	e->e_acc = (int64_t)rl_be64_get(value);
	e->e_aux = len == 16 ? (int64_t)rl_be64_get(value + 8) : 0;
}

static rl_err
restore_record(void *arg, const void *key, size_t key_len, const void *value, size_t value_len)
{
	restore       *r = arg;
	const uint8_t *k = key;
	r->r_records++;
	if (key_len == 1 && k[0] == RL_STATE_LOG_MARKER[0] && value != NULL && value_len == 8) {
		r->r_reflects = (int64_t)rl_be64_get(value);
		return RL_OK;
	}
	if (key_len >= 1 && k[0] == RL_STATE_LOG_KEY[0]
	    && (value == NULL || value_len == 8 || value_len == 16)) {
		rl_state_db *db = r->r_tbl->st_db;
		if (db != NULL && value == NULL)
			rl_state_db_del(db, k + 1, key_len - 1);
		else if (db != NULL)
			rl_state_db_put(db, k + 1, key_len - 1, (int64_t)rl_be64_get(value));
		else if (value == NULL)
			rl_combiner_remove(r->r_table, k + 1, key_len - 1);
		else
			restore_put(r->r_table, k + 1, key_len - 1, value, value_len);
		rl_err rv = RL_OK;
		if (db != NULL && rl_state_db_pending(db) >= 10000)
			rv = rl_state_db_apply(db, r->r_err, r->r_errlen);
		else if (db == NULL && r->r_budget > 0
		    && rl_state_table_bytes(r->r_tbl, r->r_table) > r->r_budget)
			rv = rl_state_table_spill(
			    r->r_tbl, r->r_table, r->r_spill_dir, r->r_err, r->r_errlen);
		if (rv != RL_OK)
			r->r_spill_err = rv;
		return rv;
	}
	snprintf(r->r_err, r->r_errlen,
	    "record %" PRIu64 " (key of %zu bytes, value of %zu) is not a rill state record",
	    r->r_records, key_len, value_len);
	return RL_ERR_PARSE;
}

rl_err
rl_state_restore(const char *brokers, const rl_kafka_props *props, const char *topic,
    int32_t partition, rl_state_table *t, rl_combiner *c, size_t budget, const char *spill_dir,
    int64_t *ret_reflects, char *errbuf, size_t errlen)
{
	char    why[512] = "";
	restore r = {
		.r_tbl = t,
		.r_table = c,
		.r_budget = spill_dir != NULL ? budget : 0,
		.r_spill_dir = spill_dir,
		.r_err = why,
		.r_errlen = sizeof(why),
	};
	uint64_t records;
	rl_err   rv = rl_kafka_changelog_restore(
	      brokers, props, topic, partition, 30000, restore_record, &r, &records, errbuf, errlen);
	if (rv == RL_OK && t->st_db != NULL)
		rv = rl_state_db_apply(t->st_db, errbuf, errlen);
	else if (rv == RL_ERR_PARSE || r.r_spill_err != RL_OK)
		snprintf(
		    errbuf, errlen, "state changelog %s/%" PRId32 ": %s", topic, partition, why);
	if (rv == RL_OK)
		*ret_reflects = r.r_reflects;
	return rv;
}

// ---- warm state ----

rl_state_table *
rl_state_table_create(void)
{
	rl_state_table *t = RL_NEW(rl_state_table);
	rl_arena_init(&t->st_keys, 64 * 1024);
	rl_combiner_init(&t->st_table, RL_FN_SUM, &t->st_keys);
	return t;
}

void
rl_state_table_destroy(rl_state_table *t)
{
	if (t == NULL)
		return;
	rl_combiner_fini(&t->st_table);
	rl_arena_fini(&t->st_keys);
	rl_kafka_changelog_close(t->st_writer);
	rl_state_db_destroy(t->st_db);
	rl_window_destroy(t->st_window);
	rl_free(t);
}

typedef struct cached {
	char           *c_job, *c_store;
	uint32_t        c_stage, c_partition;
	uint64_t        c_code;
	rl_state_table *c_table;
} cached;

// What a job's running tasks hold out of the cache (rl_state_cache_hold).
typedef struct held {
	char  *h_job;
	size_t h_bytes;
} held;

struct rl_state_cache {
	pthread_mutex_t sc_mu;
	cached         *sc_items;
	size_t          sc_n, sc_cap;
	held           *sc_held;
	size_t          sc_nheld;
};

rl_state_cache *
rl_state_cache_create(void)
{
	rl_state_cache *c = RL_NEW(rl_state_cache);
	pthread_mutex_init(&c->sc_mu, NULL);
	return c;
}

static void
cached_free(cached *it)
{
	rl_state_table_destroy(it->c_table);
	rl_free(it->c_job);
	rl_free(it->c_store);
}

void
rl_state_cache_destroy(rl_state_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->sc_n; i++)
		cached_free(&c->sc_items[i]);
	rl_free(c->sc_items);
	for (size_t i = 0; i < c->sc_nheld; i++)
		rl_free(c->sc_held[i].h_job);
	rl_free(c->sc_held);
	pthread_mutex_destroy(&c->sc_mu);
	rl_free(c);
}

static bool
same_job(const cached *it, const rl_state_key *key)
{
	return strcmp(it->c_job, key->sk_job) == 0 && strcmp(it->c_store, key->sk_store) == 0;
}

static bool
same_partition(const cached *it, const rl_state_key *key)
{
	return same_job(it, key) && it->c_stage == key->sk_stage
	    && it->c_partition == key->sk_partition;
}

// remove_at drops item i (swapping the last one in), handing its table to
// *ret when ret is not NULL.
static void
remove_at(rl_state_cache *c, size_t i, rl_state_table **ret)
{
	cached *it = &c->sc_items[i];
	if (ret != NULL) {
		*ret = it->c_table;
		it->c_table = NULL;
	}
	cached_free(it);
	c->sc_items[i] = c->sc_items[--c->sc_n];
}

rl_state_table *
rl_state_cache_take(rl_state_cache *c, const rl_state_key *key, int64_t batch_ms)
{
	rl_state_table *found = NULL;
	pthread_mutex_lock(&c->sc_mu);
	for (size_t i = 0; i < c->sc_n;) {
		cached *it = &c->sc_items[i];
		if (same_partition(it, key))
			remove_at(c, i,
			    it->c_table->st_batch_ms == batch_ms && it->c_code == key->sk_code
			        ? &found
			        : NULL);
		else if (same_job(it, key) && it->c_table->st_batch_ms < batch_ms)
			remove_at(c, i, NULL);
		else
			i++;
	}
	pthread_mutex_unlock(&c->sc_mu);
	return found;
}

void
rl_state_cache_put(rl_state_cache *c, const rl_state_key *key, rl_state_table *t)
{
	pthread_mutex_lock(&c->sc_mu);
	for (size_t i = 0; i < c->sc_n; i++)
		if (same_partition(&c->sc_items[i], key)) {
			remove_at(c, i, NULL);
			break;
		}
	if (c->sc_n == c->sc_cap) {
		c->sc_cap = rl_growth(c->sc_cap, c->sc_n + 1, 8);
		c->sc_items = rl_realloc(c->sc_items, c->sc_cap * sizeof(cached));
	}
	c->sc_items[c->sc_n++] = (cached) {
		.c_job = rl_strdup(key->sk_job),
		.c_store = rl_strdup(key->sk_store),
		.c_stage = key->sk_stage,
		.c_partition = key->sk_partition,
		.c_code = key->sk_code,
		.c_table = t,
	};
	pthread_mutex_unlock(&c->sc_mu);
}

size_t
rl_state_cache_memory(rl_state_cache *c, const char *job)
{
	size_t bytes = 0;
	pthread_mutex_lock(&c->sc_mu);
	for (size_t i = 0; i < c->sc_n; i++) {
		const rl_state_table *t = c->sc_items[i].c_table;
		if (strcmp(c->sc_items[i].c_job, job) == 0)
			bytes += rl_state_table_bytes(t, &t->st_table);
	}
	for (size_t i = 0; i < c->sc_nheld; i++)
		if (strcmp(c->sc_held[i].h_job, job) == 0)
			bytes += c->sc_held[i].h_bytes;
	pthread_mutex_unlock(&c->sc_mu);
	return bytes;
}

void
rl_state_cache_hold(rl_state_cache *c, const char *job, size_t *held_bytes, size_t bytes)
{
	if (bytes == *held_bytes)
		return;
	pthread_mutex_lock(&c->sc_mu);
	size_t i;
	for (i = 0; i < c->sc_nheld && strcmp(c->sc_held[i].h_job, job) != 0; i++)
		;
	if (i == c->sc_nheld) {
		c->sc_held = rl_realloc(c->sc_held, (c->sc_nheld + 1) * sizeof(*c->sc_held));
		c->sc_held[i] = (held) { .h_job = rl_strdup(job) };
		c->sc_nheld++;
	}
	c->sc_held[i].h_bytes = c->sc_held[i].h_bytes - *held_bytes + bytes;
	pthread_mutex_unlock(&c->sc_mu);
	*held_bytes = bytes;
}

void
rl_state_cache_stats(rl_state_cache *c, size_t *ret_tables, size_t *ret_keys)
{
	size_t keys = 0;
	pthread_mutex_lock(&c->sc_mu);
	for (size_t i = 0; i < c->sc_n; i++) {
		const rl_state_table *t = c->sc_items[i].c_table;
		keys += t->st_db != NULL   ? rl_state_db_keys(t->st_db)
		    : t->st_window != NULL ? rl_window_keys(t->st_window)
		                           : rl_combiner_count(&t->st_table);
	}
	*ret_tables = c->sc_n;
	pthread_mutex_unlock(&c->sc_mu);
	*ret_keys = keys;
}
