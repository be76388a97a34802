// SPDX-License-Identifier: Apache-2.0
// State partitions in RocksDB (its C API), small in memory: two 1 MB write
// buffers per store, one 8 MB block cache for all stores of the process, no
// write-ahead log.
#include "executor/state_db.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/fsutil.h"

// RocksDB is loaded when a first partition spills, not linked: its shared
// library alone made every executor's resident set 8 MB bigger (its pages
// touched at load), whether or not any state ever passed the budget.
#ifndef RL_ROCKSDB_SONAME
#define RL_ROCKSDB_SONAME "librocksdb.so"
#endif
#define RDB_FUNCS(X)                                                                               \
	X(rocksdb_block_based_options_create)                                                      \
	X(rocksdb_block_based_options_destroy)                                                     \
	X(rocksdb_block_based_options_set_block_cache)                                             \
	X(rocksdb_cache_create_lru)                                                                \
	X(rocksdb_close)                                                                           \
	X(rocksdb_create_iterator)                                                                 \
	X(rocksdb_destroy_db)                                                                      \
	X(rocksdb_free)                                                                            \
	X(rocksdb_get)                                                                             \
	X(rocksdb_iter_destroy)                                                                    \
	X(rocksdb_iter_get_error)                                                                  \
	X(rocksdb_iter_key)                                                                        \
	X(rocksdb_iter_next)                                                                       \
	X(rocksdb_iter_seek_to_first)                                                              \
	X(rocksdb_iter_valid)                                                                      \
	X(rocksdb_iter_value)                                                                      \
	X(rocksdb_open)                                                                            \
	X(rocksdb_options_create)                                                                  \
	X(rocksdb_options_destroy)                                                                 \
	X(rocksdb_options_set_block_based_table_factory)                                           \
	X(rocksdb_options_set_compression)                                                         \
	X(rocksdb_options_set_create_if_missing)                                                   \
	X(rocksdb_options_set_max_open_files)                                                      \
	X(rocksdb_options_set_max_write_buffer_number)                                             \
	X(rocksdb_options_set_write_buffer_size)                                                   \
	X(rocksdb_property_value)                                                                  \
	X(rocksdb_readoptions_create)                                                              \
	X(rocksdb_readoptions_destroy)                                                             \
	X(rocksdb_write)                                                                           \
	X(rocksdb_writebatch_clear)                                                                \
	X(rocksdb_writebatch_count)                                                                \
	X(rocksdb_writebatch_create)                                                               \
	X(rocksdb_writebatch_delete)                                                               \
	X(rocksdb_writebatch_destroy)                                                              \
	X(rocksdb_writebatch_put)                                                                  \
	X(rocksdb_writeoptions_create)                                                             \
	X(rocksdb_writeoptions_destroy)                                                            \
	X(rocksdb_writeoptions_disable_WAL)

static struct {
#define RDB_DECL(f) __typeof__(&f) f;
	RDB_FUNCS(RDB_DECL)
#undef RDB_DECL
} rdb;
static pthread_once_t rdb_once = PTHREAD_ONCE_INIT;
static char           rdb_error[256]; // why it could not be loaded, "" if it was

static void
rdb_load(void)
{
	const char *names[] = { RL_ROCKSDB_SONAME, "librocksdb.so" };
	void       *lib = NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && lib == NULL; i++)
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		snprintf(rdb_error, sizeof(rdb_error), "cannot load %s: %s", RL_ROCKSDB_SONAME,
		    dlerror());
		return;
	}
#define RDB_SYM(f)                                                                                 \
	if (rdb_error[0] == '\0' && (*(void **)&rdb.f = dlsym(lib, #f)) == NULL)                   \
		snprintf(rdb_error, sizeof(rdb_error), "%s has no %s", RL_ROCKSDB_SONAME, #f);
	RDB_FUNCS(RDB_SYM)
#undef RDB_SYM
}

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
		rdb.rocksdb_close(db->d_db);
	if (db->d_batch != NULL)
		rdb.rocksdb_writebatch_destroy(db->d_batch);
	if (db->d_read != NULL)
		rdb.rocksdb_readoptions_destroy(db->d_read);
	if (db->d_write != NULL)
		rdb.rocksdb_writeoptions_destroy(db->d_write);
	if (db->d_opts != NULL)
		rdb.rocksdb_options_destroy(db->d_opts);
	if (db->d_table != NULL)
		rdb.rocksdb_block_based_options_destroy(db->d_table);
	rl_free(db->d_dir);
	rl_free(db);
}

static rocksdb_cache_t *shared_cache; // every store's blocks, for the process
static pthread_once_t   shared_once = PTHREAD_ONCE_INIT;

static void
make_shared_cache(void)
{
	shared_cache = rdb.rocksdb_cache_create_lru(8 << 20);
}

rl_err
rl_state_db_open(const char *dir, rl_state_db **ret, char *errbuf, size_t errlen)
{
	pthread_once(&rdb_once, rdb_load);
	if (rdb_error[0] != '\0') {
		snprintf(errbuf, errlen, "state store %s: %s", dir, rdb_error);
		return RL_ERR_IO;
	}
	rl_state_db *db = RL_NEW(rl_state_db);
	char        *err = NULL;
	db->d_dir = rl_strdup(dir);
	db->d_opts = rdb.rocksdb_options_create();
	rdb.rocksdb_options_set_create_if_missing(db->d_opts, 1);
	rdb.rocksdb_options_set_write_buffer_size(db->d_opts, 1 << 20);
	rdb.rocksdb_options_set_max_write_buffer_number(db->d_opts, 2);
	rdb.rocksdb_options_set_max_open_files(db->d_opts, 64);
	rdb.rocksdb_options_set_compression(db->d_opts, rocksdb_lz4_compression);
	pthread_once(&shared_once, make_shared_cache);
	db->d_table = rdb.rocksdb_block_based_options_create();
	rdb.rocksdb_block_based_options_set_block_cache(db->d_table, shared_cache);
	rdb.rocksdb_options_set_block_based_table_factory(db->d_opts, db->d_table);
	db->d_read = rdb.rocksdb_readoptions_create();
	db->d_write = rdb.rocksdb_writeoptions_create();
	rdb.rocksdb_writeoptions_disable_WAL(db->d_write, 1);
	db->d_batch = rdb.rocksdb_writebatch_create();
	if (rl_mkdir_p(dir) != 0) {
		snprintf(errbuf, errlen, "state store %s: cannot create the directory", dir);
		db_free(db);
		return RL_ERR_IO;
	}
	rdb.rocksdb_destroy_db(db->d_opts, dir, &err); // a stale copy goes
	if (err != NULL) {
		rdb.rocksdb_free(err);
		err = NULL;
	}
	db->d_db = rdb.rocksdb_open(db->d_opts, dir, &err);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: %s", dir, err);
		rdb.rocksdb_free(err);
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
	rdb.rocksdb_close(db->d_db);
	db->d_db = NULL;
	char *err = NULL;
	rdb.rocksdb_destroy_db(db->d_opts, db->d_dir, &err);
	if (err != NULL)
		rdb.rocksdb_free(err);
	db_free(db);
}

bool
rl_state_db_get(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t *ret)
{
	size_t len = 0;
	char  *err = NULL;
	char  *v = rdb.rocksdb_get(db->d_db, db->d_read, (const char *)key, key_len, &len, &err);
	if (err != NULL)
		rdb.rocksdb_free(err);
	bool found = v != NULL && len == 8;
	if (found)
		*ret = (int64_t)rl_be64_get((const uint8_t *)v);
	if (v != NULL)
		rdb.rocksdb_free(v);
	return found;
}

void
rl_state_db_put(rl_state_db *db, const uint8_t *key, size_t key_len, int64_t value)
{
	uint8_t v[8];
	rl_be64_put(v, (uint64_t)value);
	rdb.rocksdb_writebatch_put(
	    db->d_batch, (const char *)key, key_len, (const char *)v, sizeof(v));
}

void
rl_state_db_del(rl_state_db *db, const uint8_t *key, size_t key_len)
{
	rdb.rocksdb_writebatch_delete(db->d_batch, (const char *)key, key_len);
}

size_t
rl_state_db_pending(const rl_state_db *db)
{
	return (size_t)rdb.rocksdb_writebatch_count(db->d_batch);
}

rl_err
rl_state_db_apply(rl_state_db *db, char *errbuf, size_t errlen)
{
	char *err = NULL;
	rdb.rocksdb_write(db->d_db, db->d_write, db->d_batch, &err);
	rdb.rocksdb_writebatch_clear(db->d_batch);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: write: %s", db->d_dir, err);
		rdb.rocksdb_free(err);
		return RL_ERR_IO;
	}
	return RL_OK;
}

rl_err
rl_state_db_each(rl_state_db *db, rl_state_db_cb cb, void *arg, char *errbuf, size_t errlen)
{
	rocksdb_iterator_t *it = rdb.rocksdb_create_iterator(db->d_db, db->d_read);
	rl_err              rv = RL_OK;
	for (rdb.rocksdb_iter_seek_to_first(it); rv == RL_OK && rdb.rocksdb_iter_valid(it);
	     rdb.rocksdb_iter_next(it)) {
		size_t      klen, vlen;
		const char *k = rdb.rocksdb_iter_key(it, &klen);
		const char *v = rdb.rocksdb_iter_value(it, &vlen);
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
		rdb.rocksdb_iter_get_error(it, &err);
	if (err != NULL) {
		snprintf(errbuf, errlen, "state store %s: reading: %s", db->d_dir, err);
		rdb.rocksdb_free(err);
		rv = RL_ERR_IO;
	}
	rdb.rocksdb_iter_destroy(it);
	return rv;
}

uint64_t
rl_state_db_keys(rl_state_db *db)
{
	char    *v = rdb.rocksdb_property_value(db->d_db, "rocksdb.estimate-num-keys");
	uint64_t n = v != NULL ? strtoull(v, NULL, 10) : 0;
	if (v != NULL)
		rdb.rocksdb_free(v);
	return n;
}
