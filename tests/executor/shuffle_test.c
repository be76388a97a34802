// SPDX-License-Identifier: Apache-2.0
// Shuffle blocks: encoding round trips, malformed bytes, bucketing, the store.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "executor/shuffle.h"

static rl_rec
num_rec(const char *key, int64_t v)
{
	return (rl_rec) { .r_key = (const uint8_t *)key,
		.r_key_len = strlen(key),
		.r_num = v,
		.r_is_num = true };
}

Test(shuffle_block, records_round_trip)
{
	rl_buf b = RL_BUF_INIT;
	rl_rec in[] = {
		num_rec("alpha", 1),
		num_rec("", -42),
		num_rec("big", INT64_MAX),
		{ .r_val = (const uint8_t *)"raw bytes", .r_val_len = 9 }, // no key
		{ .r_key = (const uint8_t *)"k",
		    .r_key_len = 1,
		    .r_val = (const uint8_t *)"",
		    .r_val_len = 0 },
	};
	for (size_t i = 0; i < 5; i++)
		rl_block_put(&b, &in[i]);
	rl_reader r = rl_reader_make(b.b_data, b.b_len);
	rl_rec    out;
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(rl_block_next(&r, &out), 1, "record %zu", i);
		cr_assert_eq(out.r_key == NULL, in[i].r_key == NULL);
		cr_assert_eq(out.r_key_len, in[i].r_key_len);
		if (in[i].r_key_len > 0)
			cr_assert_eq(memcmp(out.r_key, in[i].r_key, in[i].r_key_len), 0);
		cr_assert_eq(out.r_is_num, in[i].r_is_num);
		if (in[i].r_is_num) {
			cr_assert_eq(out.r_num, in[i].r_num);
		} else {
			cr_assert_eq(out.r_val_len, in[i].r_val_len);
			cr_assert_eq(memcmp(out.r_val, in[i].r_val, in[i].r_val_len), 0);
		}
	}
	cr_assert_eq(rl_block_next(&r, &out), 0);
	rl_buf_fini(&b);
}

Test(shuffle_block, every_truncation_is_malformed)
{
	rl_buf b = RL_BUF_INIT;
	rl_block_put_kv(&b, (const uint8_t *)"word", 4, 123456);
	rl_rec rv = { .r_key = (const uint8_t *)"k",
		.r_key_len = 1,
		.r_val = (const uint8_t *)"value",
		.r_val_len = 5 };
	rl_block_put(&b, &rv);
	size_t first_len;
	{
		rl_buf one = RL_BUF_INIT;
		rl_block_put_kv(&one, (const uint8_t *)"word", 4, 123456);
		first_len = one.b_len;
		rl_buf_fini(&one);
	}
	for (size_t len = 1; len < b.b_len; len++) {
		if (len == first_len)
			continue; // a whole first record is a valid block
		rl_reader r = rl_reader_make(b.b_data, len);
		rl_rec    out;
		int       got;
		while ((got = rl_block_next(&r, &out)) == 1)
			;
		cr_assert_eq(got, -1, "a block cut to %zu of %zu bytes decoded", len, b.b_len);
	}
	rl_buf_fini(&b);
}

Test(shuffle_block, unknown_kind_and_huge_lengths_are_malformed)
{
	const uint8_t bad_kind[] = { 2, 'k', 7, 0 };
	rl_reader     r = rl_reader_make(bad_kind, sizeof(bad_kind));
	rl_rec        out;
	cr_assert_eq(rl_block_next(&r, &out), -1);
	const uint8_t huge_key[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 'k' };
	r = rl_reader_make(huge_key, sizeof(huge_key));
	cr_assert_eq(rl_block_next(&r, &out), -1);
	const uint8_t huge_val[] = { 0, 1, 0xff, 0xff, 0xff, 0x7f, 'v' };
	r = rl_reader_make(huge_val, sizeof(huge_val));
	cr_assert_eq(rl_block_next(&r, &out), -1);
}

Test(shuffle_block, mutated_blocks_decode_inside_their_bounds)
{
	rl_buf b = RL_BUF_INIT;
	char   key[16];
	for (int i = 0; i < 40; i++) {
		int n = snprintf(key, sizeof(key), "word%d", i * 37);
		rl_block_put_kv(&b, (const uint8_t *)key, (size_t)n, (int64_t)i * 1000003 - 5);
	}
	rl_rec bytes = { .r_val = (const uint8_t *)"a bytes value", .r_val_len = 13 };
	rl_block_put(&b, &bytes);
	uint8_t *work = malloc(b.b_len + 64);
	uint32_t x = 11;
	int      malformed = 0, whole = 0;
	for (int round = 0; round < 20000; round++) {
		memcpy(work, b.b_data, b.b_len);
		size_t n = b.b_len;
		for (uint32_t k = 1 + (x = x * 1103515245u + 12345u) % 3; k > 0; k--) {
			x = x * 1103515245u + 12345u;
			if (x % 3 == 0)
				n = (x >> 8) % (n + 1); // cut
			else if (n > 0)
				work[(x >> 8) % n] = (uint8_t)(x >> 20); // overwrite
		}
		uint8_t *exact = malloc(n + 1);
		memcpy(exact, work, n);
		rl_reader r = rl_reader_make(exact, n);
		rl_rec    out;
		int       got;
		while ((got = rl_block_next(&r, &out)) == 1) {
			if (out.r_key != NULL)
				cr_assert(
				    out.r_key >= exact && out.r_key + out.r_key_len <= exact + n,
				    "key outside the block");
			if (!out.r_is_num)
				cr_assert(
				    out.r_val >= exact && out.r_val + out.r_val_len <= exact + n,
				    "value outside the block");
		}
		malformed += got < 0;
		whole += got == 0;
		free(exact);
	}
	cr_assert_gt(malformed, 100);
	cr_assert_gt(whole, 100);
	free(work);
	rl_buf_fini(&b);
}

Test(shuffle_writer, keys_land_in_their_hash_partition)
{
	rl_shuffle_writer w;
	rl_shuffle_writer_init(&w, 4);
	const char *keys[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" };
	for (size_t i = 0; i < 10; i++)
		rl_shuffle_writer_add(
		    &w, rl_hash64(keys[i], 1), (const uint8_t *)keys[i], 1, (int64_t)i);
	uint64_t total = 0;
	for (uint32_t p = 0; p < 4; p++) {
		rl_reader r = rl_reader_make(w.w_buckets[p].b_data, w.w_buckets[p].b_len);
		rl_rec    rec;
		uint64_t  n = 0;
		while (rl_block_next(&r, &rec) == 1) {
			cr_assert_eq(rl_partition_of(rl_hash64(rec.r_key, rec.r_key_len), 4), p);
			cr_assert_eq(rec.r_num, (int64_t)(rec.r_key[0] - 'a'));
			n++;
		}
		cr_assert_eq(n, w.w_records[p]);
		total += n;
	}
	cr_assert_eq(total, 10);
	rl_shuffle_writer_fini(&w);
}

Test(shuffle_store, acquire_release_replace_and_drop)
{
	rl_shuffle_store *s = rl_shuffle_store_create();
	rl_shuffle_writer w;
	rl_shuffle_writer_init(&w, 2);
	rl_shuffle_writer_add(&w, 0, (const uint8_t *)"x", 1, 5); // partition 0
	rl_map_output_id id = { .job = "j", .batch_ms = 1000, .stage = 0, .map_partition = 3 };
	rl_shuffle_store_put(s, &id, &w);
	cr_assert_null(w.w_buckets, "the store took the buckets");
	cr_assert_gt(rl_shuffle_bytes(s), 0);

	rl_block_ref ref;
	cr_assert(rl_shuffle_acquire(s, &id, 0, &ref));
	cr_assert_eq(ref.b_records, 1);
	rl_map_output_id other = id;
	other.map_partition = 4;
	rl_block_ref none;
	cr_assert_not(rl_shuffle_acquire(s, &other, 0, &none));
	cr_assert_not(rl_shuffle_acquire(s, &id, 2, &none), "no such reduce partition");

	// A drop while a block is lent keeps the bytes alive until release.
	rl_shuffle_drop_before(s, "j", 2000);
	rl_rec    rec;
	rl_reader r = rl_reader_make(ref.b_data, ref.b_len);
	cr_assert_eq(rl_block_next(&r, &rec), 1);
	cr_assert_eq(rec.r_num, 5);
	rl_shuffle_release(s, &ref);
	cr_assert_eq(rl_shuffle_bytes(s), 0);
	cr_assert_not(rl_shuffle_acquire(s, &id, 0, &none));

	// A retried task replaces its earlier output.
	rl_shuffle_writer_init(&w, 2);
	rl_shuffle_writer_add(&w, 0, (const uint8_t *)"x", 1, 1);
	rl_shuffle_store_put(s, &id, &w);
	rl_shuffle_writer_init(&w, 2);
	rl_shuffle_writer_add(&w, 0, (const uint8_t *)"x", 1, 2);
	rl_shuffle_writer_add(&w, 0, (const uint8_t *)"y", 1, 3);
	rl_shuffle_store_put(s, &id, &w);
	cr_assert(rl_shuffle_acquire(s, &id, 0, &ref));
	cr_assert_eq(ref.b_records, 2);
	rl_shuffle_release(s, &ref);
	// Other jobs and newer batches are kept.
	rl_shuffle_drop_before(s, "other-job", 5000);
	rl_shuffle_drop_before(s, "j", 1000);
	cr_assert(rl_shuffle_acquire(s, &id, 0, &ref));
	rl_shuffle_release(s, &ref);
	rl_shuffle_store_destroy(s);
}
