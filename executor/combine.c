// SPDX-License-Identifier: Apache-2.0
// Open-addressing (linear probing) aggregation table keyed by XXH3 of the key.
#include "executor/combine.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/hash.h"

// Keys of length 0 need a non-NULL marker distinct from "free".
static const uint8_t empty_key[1];

void
rl_combiner_init(rl_combiner *c, rl_fn fn, rl_arena *arena)
{
	memset(c, 0, sizeof(*c));
	c->c_fn = fn;
	c->c_arena = arena;
	c->c_cap = 1024;
	c->c_slots = rl_calloc(c->c_cap, sizeof(rl_combine_entry));
}

void
rl_combiner_init_udf(
    rl_combiner *c, rl_reduce_udf udf, void *udata, const char *name, rl_arena *arena)
{
	rl_combiner_init(c, RL_FN_UDF, arena);
	c->c_udf = udf;
	c->c_udf_data = udata;
	c->c_udf_name = name;
}

void
rl_combiner_clear(rl_combiner *c)
{
	rl_free(c->c_slots);
	c->c_cap = 1024;
	c->c_count = 0;
	c->c_slots = rl_calloc(c->c_cap, sizeof(rl_combine_entry));
}

void
rl_combiner_fini(rl_combiner *c)
{
	rl_free(c->c_slots);
	memset(c, 0, sizeof(*c));
}

static void
grow(rl_combiner *c)
{
	size_t            ncap = c->c_cap * 2;
	rl_combine_entry *slots = rl_calloc(ncap, sizeof(rl_combine_entry));
	for (size_t i = 0; i < c->c_cap; i++) {
		rl_combine_entry *e = &c->c_slots[i];
		if (e->e_key == NULL)
			continue;
		size_t j = e->e_hash & (ncap - 1);
		while (slots[j].e_key != NULL)
			j = (j + 1) & (ncap - 1);
		slots[j] = *e;
	}
	rl_free(c->c_slots);
	c->c_slots = slots;
	c->c_cap = ncap;
}

// find returns the entry for key, inserting it (acc = initial) if absent;
// *fresh tells which.
static rl_combine_entry *
find(rl_combiner *c, const uint8_t *key, size_t key_len, bool *fresh)
{
	if ((c->c_count + 1) * 4 > c->c_cap * 3)
		grow(c);
	uint64_t h = rl_hash64(key, key_len);
	size_t   mask = c->c_cap - 1;
	for (size_t j = h & mask;; j = (j + 1) & mask) {
		rl_combine_entry *e = &c->c_slots[j];
		if (e->e_key == NULL) {
			e->e_hash = h;
			e->e_key_len = key_len;
			e->e_key
			    = key_len > 0 ? rl_arena_memdup(c->c_arena, key, key_len) : empty_key;
			c->c_count++;
			*fresh = true;
			return e;
		}
		if (e->e_hash == h && e->e_key_len == key_len
		    && (key_len == 0 || memcmp(e->e_key, key, key_len) == 0)) {
			*fresh = false;
			return e;
		}
	}
}

static inline void
fold(const rl_combiner *c, rl_fn fn, rl_combine_entry *e, bool fresh, int64_t v)
{
	if (fresh) {
		e->e_acc = v;
		return;
	}
	switch (fn) {
	case RL_FN_UDF:
		e->e_acc = c->c_udf(c->c_udf_data, e->e_acc, v);
		break;
	case RL_FN_MIN:
		if (v < e->e_acc)
			e->e_acc = v;
		break;
	case RL_FN_MAX:
		if (v > e->e_acc)
			e->e_acc = v;
		break;
	default: // sum, and count partials
		e->e_acc = (int64_t)((uint64_t)e->e_acc + (uint64_t)v);
		break;
	}
}

rl_err
rl_combiner_add(rl_combiner *c, const rl_rec *rec, char *errbuf, size_t errlen)
{
	if (rec->r_key == NULL) {
		snprintf(errbuf, errlen,
		    "%s needs keyed records: put key_by or map_values before it",
		    c->c_udf_name != NULL ? c->c_udf_name : rl_fn_name(c->c_fn));
		return RL_ERR_INVAL;
	}
	int64_t v = 1;
	if (c->c_fn != RL_FN_COUNT) {
		if (rec->r_is_num) {
			v = rec->r_num;
		} else if (!rl_parse_int64(rec->r_val, rec->r_val_len, &v)) {
			snprintf(errbuf, errlen, "%s: value '%.*s' of key '%.*s' is not an integer",
			    c->c_udf_name != NULL ? c->c_udf_name : rl_fn_name(c->c_fn),
			    (int)(rec->r_val_len > 40 ? 40 : rec->r_val_len),
			    (const char *)rec->r_val,
			    (int)(rec->r_key_len > 40 ? 40 : rec->r_key_len),
			    (const char *)rec->r_key);
			return RL_ERR_INVAL;
		}
	}
	bool              fresh;
	rl_combine_entry *e = find(c, rec->r_key, rec->r_key_len, &fresh);
	fold(c, c->c_fn == RL_FN_COUNT ? RL_FN_SUM : c->c_fn, e, fresh, v);
	return RL_OK;
}

int64_t
rl_combiner_merge(rl_combiner *c, const uint8_t *key, size_t key_len, int64_t partial)
{
	bool              fresh;
	rl_combine_entry *e = find(c, key, key_len, &fresh);
	fold(c, c->c_fn, e, fresh, partial);
	return e->e_acc;
}

bool
rl_combiner_get(const rl_combiner *c, const uint8_t *key, size_t key_len, int64_t *ret)
{
	uint64_t h = rl_hash64(key, key_len);
	size_t   mask = c->c_cap - 1;
	for (size_t j = h & mask;; j = (j + 1) & mask) {
		const rl_combine_entry *e = &c->c_slots[j];
		if (e->e_key == NULL)
			return false;
		if (e->e_hash == h && e->e_key_len == key_len
		    && (key_len == 0 || memcmp(e->e_key, key, key_len) == 0)) {
			*ret = e->e_acc;
			return true;
		}
	}
}

void
rl_combiner_put(rl_combiner *c, const uint8_t *key, size_t key_len, int64_t value)
{
	bool fresh;
	find(c, key, key_len, &fresh)->e_acc = value;
}

bool
rl_combiner_remove(rl_combiner *c, const uint8_t *key, size_t key_len)
{
	uint64_t          h = rl_hash64(key, key_len);
	size_t            mask = c->c_cap - 1, i;
	rl_combine_entry *slots = c->c_slots;
	for (i = h & mask;; i = (i + 1) & mask) {
		if (slots[i].e_key == NULL)
			return false;
		if (slots[i].e_hash == h && slots[i].e_key_len == key_len
		    && (key_len == 0 || memcmp(slots[i].e_key, key, key_len) == 0))
			break;
	}
	// Backward shift: each later entry of the run moves into the hole when
	// its home slot is not between the hole and where it is.
	for (size_t k = (i + 1) & mask; slots[k].e_key != NULL; k = (k + 1) & mask) {
		size_t home = slots[k].e_hash & mask;
		bool   stays = i <= k ? home > i && home <= k : home > i || home <= k;
		if (!stays) {
			slots[i] = slots[k];
			i = k;
		}
	}
	memset(&slots[i], 0, sizeof(slots[i]));
	c->c_count--;
	return true;
}

int64_t
rl_combiner_fold(const rl_combiner *c, int64_t acc, int64_t partial)
{
	rl_combine_entry e = { .e_acc = acc };
	fold(c, c->c_fn, &e, false, partial);
	return e.e_acc;
}

rl_combine_entry *
rl_combiner_entry(rl_combiner *c, const uint8_t *key, size_t key_len, bool *fresh)
{
	rl_combine_entry *e = find(c, key, key_len, fresh);
	if (*fresh)
		e->e_acc = e->e_aux = 0;
	return e;
}
