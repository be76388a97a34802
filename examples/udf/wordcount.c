// SPDX-License-Identifier: Apache-2.0
// An example artifact: user functions for a word count, built against
// include/rill.h only (docs/udf.md). Every function is allocation-free.
//
//   pipeline:
//     - flat_map: {udf: tokens}        # lowercased runs of letters and digits
//                                      # (or {udf: words}: as the built-in words)
//     - filter: {udf: not_short}       # words of 3 bytes or more
//     - map_values: {udf: one}         # (word, 1)
//     - reduce_by_key: {udf: add}      # summed
#include <stdint.h>
#include <string.h>

#include <rill.h>

static inline int
is_word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// tokens (flat_map): each run of ASCII letters and digits, lowercased. A
// short word is lowercased into a stack buffer (valid for the emit call,
// which is all rill asks); a long one into rill's scratch space.
static int
tokens(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	const uint8_t *p = value.ptr, *end = value.ptr + value.len;
	uint8_t        small[64];
	while (p < end) {
		while (p < end && !is_word_byte(*p))
			p++;
		const uint8_t *w = p;
		while (p < end && is_word_byte(*p))
			p++;
		size_t n = (size_t)(p - w);
		if (n == 0)
			continue;
		uint8_t *buf = n <= sizeof(small) ? small : rill_scratch(out, n);
		if (buf == NULL)
			return rill_fail(out, "a word too long for scratch space");
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + ('a' - 'A') : w[i]);
		int rc = rill_emit(out, buf, n);
		if (rc != RILL_OK)
			return rc;
	}
	return RILL_OK;
}

// words (flat_map): the pieces between ASCII whitespace, as they are (no
// copy: each emit points into the value), what the built-in `words` does;
// the benchmark's UDF word count uses it to measure what a call through
// rill.h costs beside the built-in.
static int
words(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	const uint8_t *p = value.ptr, *end = value.ptr + value.len;
	while (p < end) {
		while (p < end && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
			p++;
		const uint8_t *w = p;
		while (p < end && !(*p == ' ' || (*p >= '\t' && *p <= '\r')))
			p++;
		if (p > w) {
			int rc = rill_emit(out, w, (size_t)(p - w));
			if (rc != RILL_OK)
				return rc;
		}
	}
	return RILL_OK;
}

// not_short (filter): keeps values of 3 bytes or more.
static int
not_short(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	(void)out;
	return value.len >= 3;
}

// shout (map): the value in ASCII upper case.
static int
shout(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	uint8_t *buf = rill_scratch(out, value.len);
	if (buf == NULL)
		return rill_fail(out, "value too long");
	for (size_t i = 0; i < value.len; i++)
		buf[i] = (uint8_t)(value.ptr[i] >= 'a' && value.ptr[i] <= 'z' ? value.ptr[i] - 32
		                                                              : value.ptr[i]);
	return rill_emit(out, buf, value.len);
}

// first_letter (key_by): the value's first byte is its key; empty values
// are dropped.
static int
first_letter(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	return value.len == 0 ? RILL_OK : rill_emit(out, value.ptr, 1);
}

// one (map_values): the integer 1.
static int
one(void *udata, rill_slice value, rill_out *out)
{
	(void)udata;
	(void)value;
	return rill_emit_int(out, 1);
}

// add (reduce): a + b.
static int64_t
add(void *udata, int64_t a, int64_t b)
{
	(void)udata;
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

// streak (update): a key's total over the batches it appears in without a
// gap; a batch without it forgets it (a sessionizer's shape: the session
// ends when the key goes quiet for a batch).
static int
streak(void *udata, const rill_update_in *in, int64_t *ret_state)
{
	(void)udata;
	if (!in->has_value)
		return RILL_REMOVE;
	*ret_state = (in->has_state ? in->state : 0) + in->value;
	return RILL_KEEP;
}

static const rill_udf udfs[] = {
	{ .name = "tokens", .kind = RILL_FLAT_MAP, .fn = tokens },
	{ .name = "not_short", .kind = RILL_FILTER, .fn = not_short },
	{ .name = "shout", .kind = RILL_MAP, .fn = shout },
	{ .name = "first_letter", .kind = RILL_KEY_BY, .fn = first_letter },
	{ .name = "one", .kind = RILL_MAP_VALUES, .fn = one },
	{ .name = "add", .kind = RILL_REDUCE, .reduce = add },
	{ .name = "streak", .kind = RILL_UPDATE, .update = streak, .reduce = add },
	{ .name = "words", .kind = RILL_FLAT_MAP, .fn = words },
};

RILL_EXPORT const rill_library *
rill_udf_library(void)
{
	static const rill_library lib = {
		.abi_version = RILL_ABI_VERSION,
		.name = "wordcount-example",
		.udfs = udfs,
		.nudfs = sizeof(udfs) / sizeof(udfs[0]),
	};
	return &lib;
}
