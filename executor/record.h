// SPDX-License-Identifier: Apache-2.0
// A record in flight through a task: byte slices, never owned, never malloc'd.
#ifndef RL_RECORD_H
#define RL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Key and value point into the Kafka fetch buffer, a shuffle block or the
// task's scratch arena; they are valid until the record has been pushed.
typedef struct rl_rec {
	const uint8_t *r_key; // NULL: the record has no key
	size_t         r_key_len;
	const uint8_t *r_val; // the value's bytes, when !r_is_num
	size_t         r_val_len;
	int64_t        r_num; // the value, when r_is_num
	bool           r_is_num;
} rl_rec;

// rl_rec_format writes "key<TAB>value\n" (or "value\n" without a key) into
// dst and returns the length; dst must hold rl_rec_format_max(rec) bytes.
size_t rl_rec_format(const rl_rec *rec, char sep, uint8_t *dst);

static inline size_t
rl_rec_format_max(const rl_rec *rec)
{
	return rec->r_key_len + (rec->r_is_num ? 21 : rec->r_val_len) + 2;
}

// rl_parse_int64 parses a whole decimal integer (optional sign, no spaces).
bool rl_parse_int64(const uint8_t *p, size_t n, int64_t *ret);

#endif
