// SPDX-License-Identifier: Apache-2.0
// Hashing (XXH3): shuffle partitioning, hash tables and job-spec identity.
#ifndef RL_HASH_H
#define RL_HASH_H

#include <stddef.h>
#include <stdint.h>

// rl_hash64 is stable across processes, hosts and versions of rill: shuffle
// partitions depend on it, so it must never change for a given input.
uint64_t rl_hash64(const void *data, size_t len);

// rl_partition_of maps a key to one of nparts shuffle partitions (nparts > 0).
static inline uint32_t
rl_partition_of(uint64_t key_hash, uint32_t nparts)
{
	// Lemire's multiply-shift: uniform, no division.
	return (uint32_t)(((key_hash >> 32) * (uint64_t)nparts) >> 32);
}

#endif
