// SPDX-License-Identifier: Apache-2.0
// Finding a field of a JSON document in place (jsmn's tokenizer): no copy of
// the document, no allocation per document once the token array has grown
// to the largest document seen.
#ifndef RL_JSON_H
#define RL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A reusable token array. The caller owns the struct (init/fini); one per
// thread (an operator's state).
typedef struct rl_json {
	void    *j_tokens; // jsmntok_t[j_cap]
	unsigned j_cap;
} rl_json;

typedef enum rl_json_result {
	RL_JSON_FOUND,
	RL_JSON_MISSING, // valid JSON, but no such field, or the field is null
	RL_JSON_MALFORMED, // not a JSON object (or not valid JSON)
} rl_json_result;

typedef enum rl_json_kind {
	RL_JSON_STRING, // v points at the raw string between the quotes (escapes kept)
	RL_JSON_NUMBER, // v: the number's text as written
	RL_JSON_BOOL, // v: true | false
	RL_JSON_COMPOSITE, // an object or array: v is its JSON text
} rl_json_kind;

typedef struct rl_json_value {
	const uint8_t *v; // into the document
	size_t         v_len;
	rl_json_kind   v_kind;
	bool           v_escaped; // RL_JSON_STRING with a backslash: see rl_json_unescape
} rl_json_value;

void rl_json_init(rl_json *j);
void rl_json_fini(rl_json *j);

// rl_json_get finds the field at path (names separated by dots, "user.id")
// in doc, a JSON object. *ret is written on RL_JSON_FOUND only and points
// into doc.
rl_json_result rl_json_get(
    rl_json *j, const uint8_t *doc, size_t len, const char *path, rl_json_value *ret);

// rl_json_unescape decodes a string's escapes (\" \\ \/ \b \f \n \r \t \uXXXX,
// surrogate pairs to UTF-8) from s[0..n) into dst, which must hold n bytes
// (the decoded text is never longer). Returns the length, or -1 for a bad
// escape.
long rl_json_unescape(const uint8_t *s, size_t n, uint8_t *dst);

#endif
