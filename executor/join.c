// SPDX-License-Identifier: Apache-2.0
// Per-batch hash join of one reduce partition: the right side in a table, the left streamed.
#include "executor/join.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "executor/shuffle.h"

struct rl_join_value {
	rl_join_value *v_next;
	rl_rec         v_rec; // points into a block copy
};

void
rl_join_init(rl_join *j, rl_arena *arena, bool left)
{
	memset(j, 0, sizeof(*j));
	j->j_arena = arena;
	j->j_left = left;
}

void
rl_join_fini(rl_join *j)
{
	rl_free(j->j_blocks);
	rl_free(j->j_slots);
	memset(j, 0, sizeof(*j));
}

void
rl_join_add_block(rl_join *j, bool right, const uint8_t *data, size_t len)
{
	if (j->j_nblocks == j->j_blocks_cap) {
		j->j_blocks_cap = rl_growth(j->j_blocks_cap, j->j_nblocks + 1, 16);
		j->j_blocks = rl_realloc(j->j_blocks, j->j_blocks_cap * sizeof(*j->j_blocks));
	}
	j->j_blocks[j->j_nblocks++] = (rl_join_block) {
		.jb_data = rl_arena_memdup(j->j_arena, data, len),
		.jb_len = len,
		.jb_right = right,
	};
}

static void
grow(rl_join *j)
{
	size_t       ncap = j->j_cap == 0 ? 1024 : j->j_cap * 2;
	rl_join_key *slots = rl_calloc(ncap, sizeof(*slots));
	for (size_t i = 0; i < j->j_cap; i++) {
		rl_join_key *k = &j->j_slots[i];
		if (k->k_first == NULL)
			continue;
		size_t at = k->k_hash & (ncap - 1);
		while (slots[at].k_first != NULL)
			at = (at + 1) & (ncap - 1);
		slots[at] = *k;
	}
	rl_free(j->j_slots);
	j->j_slots = slots;
	j->j_cap = ncap;
}

// slot finds key's slot: its entry, or the free slot where it would go.
static rl_join_key *
slot(const rl_join *j, uint64_t h, const uint8_t *key, size_t key_len)
{
	size_t mask = j->j_cap - 1;
	for (size_t at = h & mask;; at = (at + 1) & mask) {
		rl_join_key *k = &j->j_slots[at];
		if (k->k_first == NULL
		    || (k->k_hash == h && k->k_key_len == key_len
		        && (key_len == 0 || memcmp(k->k_key, key, key_len) == 0)))
			return k;
	}
}

static void
add_right(rl_join *j, const rl_rec *rec)
{
	if ((j->j_count + 1) * 4 > j->j_cap * 3)
		grow(j);
	uint64_t       h = rl_hash64(rec->r_key, rec->r_key_len);
	rl_join_key   *k = slot(j, h, rec->r_key, rec->r_key_len);
	rl_join_value *v = rl_arena_alloc(j->j_arena, sizeof(*v));
	v->v_next = NULL;
	v->v_rec = *rec;
	if (k->k_first == NULL) {
		*k = (rl_join_key) {
			.k_hash = h,
			.k_key = rec->r_key,
			.k_key_len = rec->r_key_len,
			.k_first = v,
		};
		j->j_count++;
	} else {
		k->k_last->v_next = v;
	}
	k->k_last = v;
}

// emit pushes key with the value "LEFT<TAB>RIGHT" (right NULL: empty).
static rl_err
emit(rl_chain *chain, const rl_rec *left, const rl_rec *right)
{
	rl_arena_mark  mark = rl_arena_save(chain->c_scratch);
	const uint8_t *lv, *rv = NULL;
	size_t         llen, rlen = 0;
	rl_rec_value_bytes(chain, left, &lv, &llen);
	if (right != NULL)
		rl_rec_value_bytes(chain, right, &rv, &rlen);
	uint8_t *val = rl_arena_alloc(chain->c_scratch, llen + 1 + rlen);
	if (llen > 0)
		memcpy(val, lv, llen);
	val[llen] = '\t';
	if (rlen > 0)
		memcpy(val + llen + 1, rv, rlen);
	rl_rec out = {
		.r_key = left->r_key,
		.r_key_len = left->r_key_len,
		.r_val = val,
		.r_val_len = llen + 1 + rlen,
	};
	rl_err err = rl_chain_push(chain, &out);
	rl_arena_restore(chain->c_scratch, mark);
	return err;
}

// next_keyed reads a block's next record, which must have a key (the map
// side refuses keyless ones). 1: a record, 0: the end, -1: see errbuf.
static int
next_keyed(rl_reader *r, const rl_join_block *b, rl_rec *rec, char *errbuf, size_t errlen)
{
	int more = rl_block_next(r, rec);
	if (more < 0) {
		snprintf(errbuf, errlen, "malformed join shuffle block (%zu bytes)", b->jb_len);
		return -1;
	}
	if (more == 1 && rec->r_key == NULL) {
		snprintf(errbuf, errlen, "join shuffle block holds a record without a key");
		return -1;
	}
	return more;
}

rl_err
rl_join_run(rl_join *j, rl_chain *chain, uint64_t *ret_records, char *errbuf, size_t errlen)
{
	rl_rec rec;
	int    more;
	grow(j);
	for (size_t i = 0; i < j->j_nblocks; i++) {
		const rl_join_block *b = &j->j_blocks[i];
		if (!b->jb_right)
			continue;
		rl_reader r = rl_reader_make(b->jb_data, b->jb_len);
		while ((more = next_keyed(&r, b, &rec, errbuf, errlen)) == 1) {
			add_right(j, &rec);
			(*ret_records)++;
		}
		if (more < 0)
			return RL_ERR_PROTO;
	}
	for (size_t i = 0; i < j->j_nblocks; i++) {
		const rl_join_block *b = &j->j_blocks[i];
		if (b->jb_right)
			continue;
		rl_reader r = rl_reader_make(b->jb_data, b->jb_len);
		while ((more = next_keyed(&r, b, &rec, errbuf, errlen)) == 1) {
			(*ret_records)++;
			uint64_t           h = rl_hash64(rec.r_key, rec.r_key_len);
			const rl_join_key *k = slot(j, h, rec.r_key, rec.r_key_len);
			rl_err             err = RL_OK;
			if (k->k_first == NULL && j->j_left)
				err = emit(chain, &rec, NULL);
			for (const rl_join_value *v = k->k_first; v != NULL && err == RL_OK;
			     v = v->v_next)
				err = emit(chain, &rec, &v->v_rec);
			if (err != RL_OK)
				return err;
		}
		if (more < 0)
			return RL_ERR_PROTO;
	}
	return RL_OK;
}
