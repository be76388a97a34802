// SPDX-License-Identifier: Apache-2.0
// State partitions in RocksDB (its C API), small in memory: two 1 MB write
// buffers per store, one 8 MB block cache for all stores of the process, no
// write-ahead log.
#include "executor/state_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/fsutil.h"

struct rl_state_db {
	rocksdb_t                           *d_db;
	rocksdb_options_t                   *d_opts;
	rocksdb_block_based_table_options_t *d_table;
	rocksdb_readoptions_t               *d_read;
	rocksdb_writeoptions_t              *d_write;
	rocksdb_writebatch_t                *d_batch;
	char                                *d_dir;
};

static void
db_free(rl_state_db *db)
{
	if (db->d_db != NULL)
		rocksdb_close(db->d_db);
	if (db->d_batch != NULL)
		rocksdb_writebatch_destroy(db->d_batch);
	if (db->d_read != NULL)
		rocksdb_readoptions_destroy(db->d_read);
	if (db->d_write != NULL)
		rocksdb_writeoptions_destroy(db->d_write);
	if (db->d_opts != NULL)
		rocksdb_options_destroy(db->d_opts);
	if (db->d_table != NULL)
		rocksdb_block_based_options_destroy(db->d_table);
	rl_free(db->d_dir);
	rl_free(db);
}

static rocksdb_cache_t *shared_cache; // every store's blocks, for the process
static pthread_once_t   shared_once = PTHREAD_ONCE_INIT;

static void
make_shared_cache(void)
{
	shared_cache = rocksdb_cache_create_lru(8 << 20);
}

rl_err
rl_state_db_open(const char *dir, rl_state_db **ret, char *errbuf, size_t errlen)
{
	rl_state_db *db = RL_NEW(rl_state_db);
	char        *err = NULL;
	db->d_dir = rl_strdup(dir);
	db->d_opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(db->d_opts, 1);
	rocksdb_options_set_write_buffer_size(db->d_opts, 1 << 20);
	rocksdb_options_set_max_write_buffer_number(db->d_opts, 2);
	rocksdb_options_set_max_open_files(db->d_opts, 64);
	rocksdb_options_set_compression(db->d_opts, rocksdb_lz4_compression);
	pthread_once(&shared_once, make_shared_cache);
	db->d_table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(db->d_table, shared_cache);
	rocksdb_options_set_block_based_table_factory(db->d_opts, db->d_table);
	db->d_read = rocksdb_readoptions_create();
	db->d_write = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(db->d_write, 1);
	db->d_batch = rocksdb_writebatch_create();
	if (rl_mkdir_p(dir) != 0) {
		snprintf(errbuf, errlen, "state store %s: cannot create the directory", dir);
		db_free(db);
		return RL_ERR_IO;
	}
	rocksdb_destroy_db(db->d_opts, dir, &err); // a stale copy goes
	if (err != NULL) {
		rocksdb_free(err);
		err = NULL;
	}
	db->d_db = rocksdb_open(db->d_opts, dir, &err);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: %s", dir, err);
		rocksdb_free(err);
		db_free(db);
		return RL_ERR_IO;
	}
	*ret = db;
	return RL_OK;
}

void
rl_state_db_destroy(rl_state_db *db)
{
	if (db == NULL)
		return;
	rocksdb_close(db->d_db);
	db->d_db = NULL;
	char *err = NULL;
	rocksdb_destroy_db(db->d_opts, db->d_dir, &err);
	if (err != NULL)
		rocksdb_free(err);
	db_free(db);
}

bool
rl_state_db_get(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t *ret)
{
	size_t len = 0;
	char  *err = NULL;
	char  *v = rocksdb_get(db->d_db, db->d_read, (const char *)key, key_len, &len, &err);
	if (err != NULL)
		rocksdb_free(err);
	bool found = v != NULL && len == 8;
	if (found)
		*ret = (int64_t)rl_be64_get((const uint8_t *)v);
	if (v != NULL)
		rocksdb_free(v);
	return found;
}

void
rl_state_db_put(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t value)
{
	uint8_t v[8];
	rl_be64_put(v, (uint64_t)value);
	rocksdb_writebatch_put(db->d_batch, (const char *)key, key_len, (const char *)v, sizeof(v));
}

void
rl_state_db_del(rl_state_db *db, const uint8_t *key, size_t key_len)
{
	rocksdb_writebatch_delete(db->d_batch, (const char *)key, key_len);
}

size_t
rl_state_db_pending(const rl_state_db *db)
{
	return (size_t)rocksdb_writebatch_count(db->d_batch);
}

rl_err
rl_state_db_apply(rl_state_db *db, char *errbuf, size_t errlen)
{
	char *err = NULL;
	rocksdb_write(db->d_db, db->d_write, db->d_batch, &err);
	rocksdb_writebatch_clear(db->d_batch);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: write: %s", db->d_dir, err);
		rocksdb_free(err);
		return RL_ERR_IO;
	}
	return RL_OK;
}

void
rl_state_db_discard(rl_state_db *db)
{
	rocksdb_writebatch_clear(db->d_batch);
}

rl_err
rl_state_db_each(rl_state_db *db, rl_state_db_cb cb, void *arg, char *errbuf, size_t errlen)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(db->d_db, db->d_read);
	rl_err              rv = RL_OK;
	for (rocksdb_iter_seek_to_first(it); rv == RL_OK && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t      klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		if (vlen != 8) {
			snprintf(errbuf, errlen, "state store %s: a value of %zu bytes", db->d_dir,
			    vlen);
			rv = RL_ERR_PARSE;
			break;
		}
		rv = cb(arg, (const uint8_t *)k, klen, (int64_t)rl_be64_get((const uint8_t *)v));
	}
	char *err = NULL;
	if (rv == RL_OK)
		rocksdb_iter_get_error(it, &err);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: reading: %s", db->d_dir, err);
		rocksdb_free(err);
		rv = RL_ERR_IO;
	}
	rocksdb_iter_destroy(it);
	return rv;
}

uint64_t
rl_state_db_keys(rl_state_db *db)
{
	char    *v = rocksdb_property_value(db->d_db, "rocksdb.estimate-num-keys");
	uint64_t n = v != NULL ? strtoull(v, NULL, 10) : 0;
	if (v != NULL)
		rocksdb_free(v);
	return n;
}
