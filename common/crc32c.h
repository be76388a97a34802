// SPDX-License-Identifier: Apache-2.0
// CRC32C (Castagnoli): the checksum of checkpoint records and state snapshots.
#ifndef RL_CRC32C_H
#define RL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// rl_crc32c is the CRC32C of len bytes; rl_crc32c("123456789", 9) == 0xE3069283.
uint32_t rl_crc32c(const void *data, size_t len);

#endif
