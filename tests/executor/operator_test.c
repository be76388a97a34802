// SPDX-License-Identifier: Apache-2.0
// Operators through the chain, the combiner's reductions, record formatting.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/combine.h"
#include "executor/operator.h"

// Collects what leaves the chain as "key=value" lines (key "-" if none).
typedef struct sink {
	char     out[4096];
	size_t   len;
	int      n;
	uint64_t missing, malformed; // the chain's counts of dropped records
} sink;

static rl_err
collect(void *arg, rl_rec *rec)
{
	sink   *s = arg;
	uint8_t buf[512];
	size_t  n = rl_rec_format(rec, '=', buf);
	s->len += (size_t)snprintf(s->out + s->len, sizeof(s->out) - s->len, "%s%.*s|",
	    rec->r_key == NULL ? "-=" : "", (int)n, buf);
	s->n++;
	return RL_OK;
}

static void
run(const rl_step *steps, size_t n, const char *const *values, size_t nvalues, sink *s)
{
	const rl_step *ptrs[8];
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &steps[i];
	rl_arena scratch;
	rl_arena_init(&scratch, 1024);
	rl_chain c;
	char     why[256];
	memset(s, 0, sizeof(*s));
	cr_assert_eq(
	    rl_chain_init(&c, ptrs, n, &scratch, collect, s, why, sizeof(why)), RL_OK, "%s", why);
	for (size_t i = 0; i < nvalues; i++) {
		rl_rec rec
		    = { .r_val = (const uint8_t *)values[i], .r_val_len = strlen(values[i]) };
		cr_assert_eq(rl_chain_push(&c, &rec), RL_OK);
	}
	s->missing = c.c_missing;
	s->malformed = c.c_malformed;
	rl_chain_fini(&c);
	rl_arena_fini(&scratch);
}

Test(operator, words_then_one_keys_each_word)
{
	rl_step steps[] = {
		{ .s_kind = RL_OP_FLAT_MAP, .s_fn = RL_FN_WORDS },
		{ .s_kind = RL_OP_MAP_VALUES, .s_fn = RL_FN_ONE },
	};
	const char *lines[] = { "  the cat\tsat \n", "", "the" };
	sink        s;
	run(steps, 2, lines, 3, &s);
	cr_assert_str_eq(s.out, "the=1|cat=1|sat=1|the=1|");
}

Test(operator, split_keeps_empty_pieces)
{
	rl_step     steps[] = { { .s_kind = RL_OP_FLAT_MAP, .s_fn = RL_FN_SPLIT, .s_arg = ", " } };
	const char *lines[] = { "a, b, , c" };
	sink        s;
	run(steps, 1, lines, 1, &s);
	cr_assert_str_eq(s.out, "-=a|-=b|-=|-=c|");
}

Test(operator, map_changes_case_and_trims)
{
	rl_step     lower[] = { { .s_kind = RL_OP_MAP, .s_fn = RL_FN_LOWER } };
	rl_step     upper[] = { { .s_kind = RL_OP_MAP, .s_fn = RL_FN_UPPER } };
	rl_step     trim[] = { { .s_kind = RL_OP_MAP, .s_fn = RL_FN_TRIM } };
	const char *lines[] = { " MiXed Case " };
	sink        s;
	run(lower, 1, lines, 1, &s);
	cr_assert_str_eq(s.out, "-= mixed case |");
	run(upper, 1, lines, 1, &s);
	cr_assert_str_eq(s.out, "-= MIXED CASE |");
	run(trim, 1, lines, 1, &s);
	cr_assert_str_eq(s.out, "-=MiXed Case|");
}

Test(operator, filters_select_records)
{
	const char *lines[] = { "GET /a", "", "POST /b ERROR", "GET /c ERROR" };
	rl_step     nonempty[] = { { .s_kind = RL_OP_FILTER, .s_fn = RL_FN_NONEMPTY } };
	rl_step     contains[]
	    = { { .s_kind = RL_OP_FILTER, .s_fn = RL_FN_CONTAINS, .s_arg = "ERROR" } };
	rl_step regex[]
	    = { { .s_kind = RL_OP_FILTER, .s_fn = RL_FN_REGEX, .s_arg = "^GET /[ac]" } };
	sink s;
	run(nonempty, 1, lines, 4, &s);
	cr_assert_eq(s.n, 3);
	run(contains, 1, lines, 4, &s);
	cr_assert_str_eq(s.out, "-=POST /b ERROR|-=GET /c ERROR|");
	run(regex, 1, lines, 4, &s);
	cr_assert_str_eq(s.out, "-=GET /a|-=GET /c ERROR|");
}

// Records are slices of a fetch buffer with no NUL after them: a regex sees
// exactly the slice ($ at its end), a NUL inside it does not end the match,
// and nothing past the slice is read (the buffer is exactly its bytes, so
// AddressSanitizer would see an overread).
Test(operator, regex_matches_unterminated_slices)
{
	static const char bytes[] = "x\0ERRGET /aGET /c";
	size_t            len = sizeof(bytes) - 1;
	uint8_t          *buf = malloc(len);
	memcpy(buf, bytes, len);
	rl_step regex[]
	    = { { .s_kind = RL_OP_FILTER, .s_fn = RL_FN_REGEX, .s_arg = "^GET /[ac]$|ERR$" } };
	const rl_step *steps[] = { &regex[0] };
	rl_arena       scratch;
	rl_arena_init(&scratch, 1024);
	rl_chain c;
	char     why[256];
	sink     s;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(
	    rl_chain_init(&c, steps, 1, &scratch, collect, &s, why, sizeof(why)), RL_OK, "%s", why);
	const size_t cuts[][2] = { { 0, 5 }, { 5, 11 }, { 0, 1 }, { 11, 16 }, { 11, 17 } };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		rl_rec rec = { .r_val = buf + cuts[i][0], .r_val_len = cuts[i][1] - cuts[i][0] };
		cr_assert_eq(rl_chain_push(&c, &rec), RL_OK);
	}
	// Kept: "x\0ERR", "GET /a" and "GET /c"; not "x", nor "GET /" cut short.
	cr_assert_eq(s.n, 3, "kept %d: %s", s.n, s.out);
	cr_assert(strstr(s.out, "|-=GET /a|-=GET /c|") != NULL, "got %s", s.out);
	rl_chain_fini(&c);
	rl_arena_fini(&scratch);
	free(buf);
}

Test(operator, bad_regex_is_refused_at_init)
{
	rl_step        steps[] = { { .s_kind = RL_OP_FILTER, .s_fn = RL_FN_REGEX, .s_arg = "(" } };
	const rl_step *ptrs[] = { &steps[0] };
	rl_arena       scratch;
	rl_arena_init(&scratch, 1024);
	rl_chain c;
	char     why[256];
	cr_assert_eq(
	    rl_chain_init(&c, ptrs, 1, &scratch, collect, NULL, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert(strstr(why, "(") != NULL, "message: %s", why);
	rl_arena_fini(&scratch);
}

Test(operator, fields_key_and_value_csv)
{
	rl_step steps[] = {
		{ .s_kind = RL_OP_KEY_BY, .s_fn = RL_FN_FIELD, .s_field = 2, .s_arg = "," },
		{ .s_kind = RL_OP_MAP_VALUES, .s_fn = RL_FN_FIELD, .s_field = 3, .s_arg = "," },
	};
	const char *lines[] = { "t1,alice,30", "t2,bob,7,extra", "t3,short", "t4,,5" };
	sink        s;
	run(steps, 2, lines, 4, &s);
	// "t3,short" has no third field: dropped.
	cr_assert_str_eq(s.out, "alice=30|bob=7|=5|");
}

Test(operator, key_by_json_reads_the_field_at_a_path)
{
	rl_step steps[] = {
		{ .s_kind = RL_OP_KEY_BY, .s_fn = RL_FN_JSON, .s_arg = "user.id" },
		{ .s_kind = RL_OP_MAP_VALUES, .s_fn = RL_FN_ONE },
	};
	const char *lines[] = {
		"{\"user\": {\"id\": \"alice\"}, \"n\": 1}", // a string: its text
		"{\"user\":{\"name\":{\"id\":\"deep\"},\"id\":42}}", // a nested same name first
		"{\"user\":{\"id\":-1.5e3}}  \n", // a number as written, whitespace after
		"{\"user\":{\"id\":\"a\\\"b\\u00e9\\ud83d\\ude00\"}}", // escapes decoded
		"{\"user\":{\"id\":[1,{\"x\":2}]}}", // an array: its JSON text
		"{\"user\":{\"id\":true}}",
		"{\"u\\u0073er\":{\"id\":\"esc-key\"}}", // an escaped key still matches
		"{\"user\":{\"id\":null}}", // null: missing
		"{\"user\":{\"other\":1}}", // missing
		"{\"user\":\"id\"}", // user is not an object: missing
		"{\"id\":\"x\"}", // no user: missing
		"not json", // malformed
		"{\"user\":{\"id\":\"x\"}", // unterminated
		"{\"user\":{\"id\":\"x\"}} {}", // two values
		"[{\"user\":{\"id\":\"x\"}}]", // not an object
		"{\"user\":{\"id\":\"bad\\q\"}}", // a bad escape
		"",
	};
	sink s;
	run(steps, 2, lines, sizeof(lines) / sizeof(lines[0]), &s);
	cr_assert_str_eq(s.out,
	    "alice=1|42=1|-1.5e3=1|a\"b\xc3\xa9\xf0\x9f\x98\x80=1|[1,{\"x\":2}]=1|true=1|esc-key="
	    "1|");
	cr_assert_eq(s.missing, 4);
	cr_assert_eq(s.malformed, 6);
}

// A document of more tokens than the array holds at first is read whole
// (the tokens grow once, then serve every later record).
Test(operator, key_by_json_reads_large_documents)
{
	static char doc[64 * 1024];
	size_t      len = (size_t)snprintf(doc, sizeof(doc), "{\"pad\":[");
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(doc + len, sizeof(doc) - len, "%s%d", i ? "," : "", i);
	snprintf(doc + len, sizeof(doc) - len, "],\"k\":\"last\"}");
	rl_step steps[] = {
		{ .s_kind = RL_OP_KEY_BY, .s_fn = RL_FN_JSON, .s_arg = "k" },
		{ .s_kind = RL_OP_MAP_VALUES, .s_fn = RL_FN_LENGTH },
	};
	const char *lines[] = { doc, doc };
	char        want[64];
	snprintf(want, sizeof(want), "last=%zu|last=%zu|", strlen(doc), strlen(doc));
	sink s;
	run(steps, 2, lines, 2, &s);
	cr_assert_str_eq(s.out, want);
	cr_assert_eq(s.malformed, 0);
}

Test(operator, key_by_value_and_length)
{
	rl_step steps[] = {
		{ .s_kind = RL_OP_KEY_BY, .s_fn = RL_FN_VALUE },
		{ .s_kind = RL_OP_MAP_VALUES, .s_fn = RL_FN_LENGTH },
	};
	const char *lines[] = { "abc", "" };
	sink        s;
	run(steps, 2, lines, 2, &s);
	cr_assert_str_eq(s.out, "abc=3|=0|");
}

Test(operator, count_by_value_pairs_value_with_one)
{
	rl_step     steps[] = { { .s_kind = RL_OP_COUNT_BY_VALUE } };
	const char *lines[] = { "x", "y" };
	sink        s;
	run(steps, 1, lines, 2, &s);
	cr_assert_str_eq(s.out, "x=1|y=1|");
}

static int64_t
lookup(const rl_combiner *c, const char *key)
{
	for (size_t i = 0; i < c->c_cap; i++)
		if (c->c_slots[i].e_key != NULL && c->c_slots[i].e_key_len == strlen(key)
		    && memcmp(c->c_slots[i].e_key, key, strlen(key)) == 0)
			return c->c_slots[i].e_acc;
	cr_assert_fail("key %s not found", key);
	return 0;
}

Test(combine, reductions_fold_per_key)
{
	const rl_fn   fns[] = { RL_FN_SUM, RL_FN_MIN, RL_FN_MAX, RL_FN_COUNT };
	const int64_t want_a[] = { 6, -2, 5, 3 };
	for (size_t f = 0; f < 4; f++) {
		rl_arena keys;
		rl_arena_init(&keys, 1024);
		rl_combiner c;
		rl_combiner_init(&c, fns[f], &keys);
		const int64_t va[] = { 3, -2, 5 };
		char          why[256];
		for (size_t i = 0; i < 3; i++) {
			rl_rec r = { .r_key = (const uint8_t *)"a",
				.r_key_len = 1,
				.r_num = va[i],
				.r_is_num = true };
			cr_assert_eq(rl_combiner_add(&c, &r, why, sizeof(why)), RL_OK);
		}
		rl_rec b = { .r_key = (const uint8_t *)"b",
			.r_key_len = 1,
			.r_val = (const uint8_t *)"-17",
			.r_val_len = 3 };
		cr_assert_eq(
		    rl_combiner_add(&c, &b, why, sizeof(why)), RL_OK, "decimal bytes are parsed");
		cr_assert_eq(lookup(&c, "a"), want_a[f], "%s", rl_fn_name(fns[f]));
		cr_assert_eq(lookup(&c, "b"), fns[f] == RL_FN_COUNT ? 1 : -17);
		cr_assert_eq(rl_combiner_count(&c), 2);
		rl_combiner_fini(&c);
		rl_arena_fini(&keys);
	}
}

Test(combine, grows_and_merges_partials)
{
	rl_arena keys;
	rl_arena_init(&keys, 4096);
	rl_combiner c;
	rl_combiner_init(&c, RL_FN_SUM, &keys);
	char k[32];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 5000; i++) {
			int n = snprintf(k, sizeof(k), "key-%d", i);
			rl_combiner_merge(&c, (const uint8_t *)k, (size_t)n, i);
		}
	cr_assert_eq(rl_combiner_count(&c), 5000);
	cr_assert_eq(lookup(&c, "key-4999"), 3 * 4999);
	cr_assert_eq(lookup(&c, "key-0"), 0);
	rl_combiner_fini(&c);
	rl_arena_fini(&keys);
}

Test(combine, refuses_keyless_and_non_numeric)
{
	rl_arena keys;
	rl_arena_init(&keys, 1024);
	rl_combiner c;
	rl_combiner_init(&c, RL_FN_SUM, &keys);
	char   why[256];
	rl_rec keyless = { .r_num = 1, .r_is_num = true };
	cr_assert_eq(rl_combiner_add(&c, &keyless, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert(strstr(why, "key_by") != NULL, "message: %s", why);
	rl_rec word = { .r_key = (const uint8_t *)"k",
		.r_key_len = 1,
		.r_val = (const uint8_t *)"12x",
		.r_val_len = 3 };
	cr_assert_eq(rl_combiner_add(&c, &word, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert(strstr(why, "'12x'") != NULL, "message: %s", why);
	rl_combiner_fini(&c);
	rl_arena_fini(&keys);
}

Test(record, formats_and_parses_integers)
{
	uint8_t buf[64];
	rl_rec  r = {
		 .r_key = (const uint8_t *)"k", .r_key_len = 1, .r_num = INT64_MIN, .r_is_num = true
	};
	size_t n = rl_rec_format(&r, '\t', buf);
	cr_assert_eq(n, strlen("k\t-9223372036854775808"));
	cr_assert_eq(memcmp(buf, "k\t-9223372036854775808", n), 0);
	int64_t v;
	cr_assert(rl_parse_int64((const uint8_t *)"-9223372036854775808", 20, &v));
	cr_assert_eq(v, INT64_MIN);
	cr_assert(rl_parse_int64((const uint8_t *)"+42", 3, &v));
	cr_assert_eq(v, 42);
	cr_assert_not(rl_parse_int64((const uint8_t *)"9223372036854775808", 19, &v));
	cr_assert_not(rl_parse_int64((const uint8_t *)"", 0, &v));
	cr_assert_not(rl_parse_int64((const uint8_t *)"-", 1, &v));
	cr_assert_not(rl_parse_int64((const uint8_t *)"1 ", 2, &v));
}
