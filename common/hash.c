// SPDX-License-Identifier: Apache-2.0
// The only file that includes xxhash.h.
#include "common/hash.h"

#include <xxhash.h>

uint64_t
rl_hash64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}
