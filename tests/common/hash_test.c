// SPDX-License-Identifier: Apache-2.0
// Partition hashing: stable across builds and processes, uniform, in range.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"

Test(hash, is_stable_xxh3)
{
	// Shuffle placement depends on these values never changing. XXH3-64 of
	// "" and "hello" (seed 0), from the reference implementation.
	cr_assert_eq(rl_hash64("", 0), UINT64_C(0x2d06800538d394c2));
	cr_assert_eq(rl_hash64("hello", 5), UINT64_C(0x9555e8555c62dcfd));
}

Test(hash, partition_is_in_range)
{
	for (uint32_t n = 1; n < 70; n++)
		for (int i = 0; i < 200; i++) {
			char key[16];
			int  len = snprintf(key, sizeof(key), "k%d", i);
			cr_assert_lt(rl_partition_of(rl_hash64(key, (size_t)len), n), n);
		}
	cr_assert_eq(rl_partition_of(UINT64_MAX, 8), 7);
	cr_assert_eq(rl_partition_of(0, 8), 0);
}

Test(hash, partitions_are_balanced)
{
	enum { N = 8, KEYS = 80000 };
	int counts[N] = { 0 };
	for (int i = 0; i < KEYS; i++) {
		char key[16];
		int  len = snprintf(key, sizeof(key), "word%d", i);
		counts[rl_partition_of(rl_hash64(key, (size_t)len), N)]++;
	}
	for (int p = 0; p < N; p++) {
		cr_assert_gt(
		    counts[p], KEYS / N * 9 / 10, "partition %d has %d keys", p, counts[p]);
		cr_assert_lt(
		    counts[p], KEYS / N * 11 / 10, "partition %d has %d keys", p, counts[p]);
	}
}
