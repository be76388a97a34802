// SPDX-License-Identifier: Apache-2.0
// Arena: alignment, large allocations, marks, reset, and the byte buffer/varints.
#include <criterion/criterion.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"

Test(arena, allocations_are_aligned_and_distinct)
{
	rl_arena a;
	rl_arena_init(&a, 1024);
	char *prev = NULL;
	for (size_t i = 1; i < 500; i++) {
		char *p = rl_arena_alloc(&a, i % 13 + 1);
		cr_assert_eq((uintptr_t)p % 8, 0);
		cr_assert_neq(p, prev);
		memset(p, 0xab, i % 13 + 1);
		prev = p;
	}
	rl_arena_fini(&a);
}

Test(arena, large_allocation_gets_its_own_chunk)
{
	rl_arena a;
	rl_arena_init(&a, 256);
	char *big = rl_arena_alloc(&a, 100000);
	memset(big, 1, 100000);
	cr_assert_geq(rl_arena_reserved(&a), 100000);
	char *small = rl_arena_alloc(&a, 16);
	cr_assert_not_null(small);
	rl_arena_fini(&a);
	cr_assert_eq(rl_arena_reserved(&a), 0);
}

Test(arena, restore_releases_later_allocations)
{
	rl_arena a;
	rl_arena_init(&a, 512);
	char         *keep = rl_arena_memdup(&a, "keep", 5);
	rl_arena_mark m = rl_arena_save(&a);
	for (int i = 0; i < 100; i++)
		rl_arena_alloc(&a, 100); // spills into new chunks
	size_t grown = rl_arena_reserved(&a);
	rl_arena_restore(&a, m);
	cr_assert_lt(rl_arena_reserved(&a), grown);
	cr_assert_str_eq(keep, "keep");
	char *again = rl_arena_alloc(&a, 8);
	cr_assert_eq(again, keep + 8, "space after the mark is reused");
	rl_arena_fini(&a);
}

Test(arena, restore_to_empty_mark_and_reset)
{
	rl_arena a;
	rl_arena_init(&a, 512);
	rl_arena_mark m = rl_arena_save(&a);
	rl_arena_alloc(&a, 2000);
	rl_arena_alloc(&a, 10);
	rl_arena_restore(&a, m);
	rl_arena_alloc(&a, 10);
	rl_arena_reset(&a);
	cr_assert_not_null(rl_arena_alloc(&a, 10));
	rl_arena_fini(&a);
	rl_arena_fini(&a); // twice is fine
}

Test(buf, varints_round_trip)
{
	rl_buf         b = RL_BUF_INIT;
	const uint64_t us[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX };
	const int64_t  ss[] = { 0, -1, 1, -64, 63, INT64_MIN, INT64_MAX };
	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++)
		rl_buf_put_uvarint(&b, us[i]);
	for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++)
		rl_buf_put_svarint(&b, ss[i]);
	rl_reader r = rl_reader_make(b.b_data, b.b_len);
	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
		uint64_t v;
		cr_assert(rl_get_uvarint(&r, &v));
		cr_assert_eq(v, us[i]);
	}
	for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
		int64_t v;
		cr_assert(rl_get_svarint(&r, &v));
		cr_assert_eq(v, ss[i]);
	}
	cr_assert(rl_reader_done(&r));
	rl_buf_fini(&b);
}

Test(buf, truncated_and_overlong_varints_fail)
{
	const uint8_t truncated[] = { 0x80, 0x80 };
	rl_reader     r = rl_reader_make(truncated, sizeof(truncated));
	uint64_t      v;
	cr_assert_not(rl_get_uvarint(&r, &v));
	uint8_t overlong[11];
	memset(overlong, 0xff, sizeof(overlong));
	r = rl_reader_make(overlong, sizeof(overlong));
	cr_assert_not(rl_get_uvarint(&r, &v));
	const uint8_t *p;
	r = rl_reader_make("abc", 3);
	cr_assert_not(rl_get_bytes(&r, 4, &p));
	cr_assert(rl_get_bytes(&r, 3, &p));
}
