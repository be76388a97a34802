// SPDX-License-Identifier: Apache-2.0
// Record formatting and number parsing shared by operators and sinks.
#include "executor/record.h"

#include <string.h>

static size_t
format_i64(int64_t v, uint8_t *dst)
{
	char     tmp[24];
	size_t   n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	size_t len = 0;
	if (v < 0)
		dst[len++] = '-';
	while (n > 0)
		dst[len++] = (uint8_t)tmp[--n];
	return len;
}

size_t
rl_rec_format(const rl_rec *rec, char sep, uint8_t *dst)
{
	size_t len = 0;
	if (rec->r_key != NULL) {
		memcpy(dst, rec->r_key, rec->r_key_len);
		len = rec->r_key_len;
		dst[len++] = (uint8_t)sep;
	}
	if (rec->r_is_num) {
		len += format_i64(rec->r_num, dst + len);
	} else if (rec->r_val_len > 0) {
		memcpy(dst + len, rec->r_val, rec->r_val_len);
		len += rec->r_val_len;
	}
	return len;
}

bool
rl_parse_int64(const uint8_t *p, size_t n, int64_t *ret)
{
	size_t i = 0;
	bool   neg = false;
	if (n > 0 && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n)
		return false;
	uint64_t v = 0;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
