// SPDX-License-Identifier: Apache-2.0
// Error codes: every value pinned by name (they travel on the wire), names and texts for each.
#include <criterion/criterion.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"

// Written out by hand, not generated from RL_ERR_MAP: renumbering, renaming or dropping a code
// fails here. A new code adds a row with a new number.
static const struct {
	int         code;
	int         value;
	const char *name;
	const char *text;
} pinned[] = {
	{ RL_ERR_OK, 0, "OK", "no error" },
	{ RL_ERR_NOMEM, 1, "NOMEM", "out of memory" },
	{ RL_ERR_INVAL, 2, "INVAL", "invalid argument" },
	{ RL_ERR_PARSE, 3, "PARSE", "malformed input" },
	{ RL_ERR_IO, 4, "IO", "input/output error" },
	{ RL_ERR_NOENT, 5, "NOENT", "no such entry" },
	{ RL_ERR_EXISTS, 6, "EXISTS", "already exists" },
	{ RL_ERR_TIMEDOUT, 7, "TIMEDOUT", "timed out" },
	{ RL_ERR_CLOSED, 8, "CLOSED", "closed" },
	{ RL_ERR_PROTO, 9, "PROTO", "protocol error" },
	{ RL_ERR_VERSION, 10, "VERSION", "unsupported version" },
	{ RL_ERR_KAFKA, 11, "KAFKA", "Kafka error" },
	{ RL_ERR_DATA_LOSS, 12, "DATA_LOSS", "data lost: offsets out of range" },
	{ RL_ERR_NET, 13, "NET", "network error" },
	{ RL_ERR_BUSY, 14, "BUSY", "busy" },
	{ RL_ERR_STALE_EPOCH, 15, "STALE_EPOCH", "stale epoch" },
	{ RL_ERR_FETCH_FAILED, 16, "FETCH_FAILED", "shuffle fetch failed" },
	{ RL_ERR_CANCELED, 17, "CANCELED", "canceled" },
	{ RL_ERR_NOTSUP, 18, "NOTSUP", "not supported" },
	{ RL_ERR_USAGE, 19, "USAGE", "bad usage" },
	{ RL_ERR_INTERNAL, 20, "INTERNAL", "internal error" },
	{ RL_ERR_AUTH, 21, "AUTH", "authentication failed" },
};
#define N_PINNED (sizeof(pinned) / sizeof(pinned[0]))

Test(error, values_are_pinned_by_name)
{
	for (size_t i = 0; i < N_PINNED; i++)
		cr_expect_eq(pinned[i].code, pinned[i].value, "RL_ERR_%s is %d, the wire says %d",
		    pinned[i].name, pinned[i].code, pinned[i].value);
	cr_assert_eq(RL_OK, 0);
}

Test(error, every_code_in_the_map_is_pinned)
{
	// A code added to RL_ERR_MAP without a row above fails here.
	size_t in_map = 0;
#define COUNT(name, value, text) in_map++;
	RL_ERR_MAP(COUNT)
#undef COUNT
	cr_assert_eq(
	    in_map, N_PINNED, "RL_ERR_MAP has %zu codes, the pinned table %zu", in_map, N_PINNED);
#define FIND(name_, value_, text_)                                                                 \
	{                                                                                          \
		bool found = false;                                                                \
		for (size_t i = 0; i < N_PINNED; i++)                                              \
			if (strcmp(pinned[i].name, #name_) == 0) {                                 \
				cr_expect_eq(pinned[i].value, value_, "%s", #name_);               \
				cr_expect_str_eq(pinned[i].text, text_, "%s", #name_);             \
				found = true;                                                      \
			}                                                                          \
		cr_expect(found, "RL_ERR_%s (%d) is not in the pinned table", #name_, value_);     \
	}
	RL_ERR_MAP(FIND)
#undef FIND
}

Test(error, every_code_has_its_name_and_text)
{
	for (size_t i = 0; i < N_PINNED; i++) {
		int v = pinned[i].value;
		cr_expect(rl_err_known(v), "%d", v);
		cr_expect_str_eq(rl_errname(v), pinned[i].name, "%d", v);
		cr_expect_str_eq(rl_strerror(v), pinned[i].text, "%d", v);
	}
}

Test(error, unknown_codes_say_unknown)
{
	const int unknown[] = { -1, 22, 9999, INT_MIN, INT_MAX };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int v = unknown[i];
		cr_expect_not(rl_err_known(v), "%d", v);
		cr_expect_str_eq(rl_strerror(v), "unknown error", "%d", v);
		cr_expect_str_eq(rl_errname(v), "UNKNOWN", "%d", v);
	}
}

Test(error, a_wire_code_off_the_top_is_unknown)
{
	// TaskResult.code and ErrorReply.code are uint32; a huge value cast to int is negative.
	cr_assert_not(rl_err_known((int)UINT32_MAX));
	cr_assert_str_eq(rl_strerror((int)UINT32_MAX), "unknown error");
}
