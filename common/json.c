// SPDX-License-Identifier: Apache-2.0
// The one place that includes jsmn.h: a field of a JSON document by its path.
#include "common/json.h"

#include <limits.h>
#include <string.h>

#include "common/alloc.h"

#define JSMN_STATIC
#define JSMN_STRICT
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <jsmn.h>
#pragma GCC diagnostic pop

#define TOKENS_MIN 64

void
rl_json_init(rl_json *j)
{
	j->j_tokens = NULL;
	j->j_cap = 0;
}

void
rl_json_fini(rl_json *j)
{
	rl_free(j->j_tokens);
	rl_json_init(j);
}

// tokenize parses doc into j's tokens, growing them (rarely: only past the
// largest document so far) until they hold it. Returns the count, or < 0.
static int
tokenize(rl_json *j, const char *doc, size_t len)
{
	if (j->j_cap == 0) {
		j->j_cap = TOKENS_MIN;
		j->j_tokens = rl_calloc(j->j_cap, sizeof(jsmntok_t));
	}
	for (;;) {
		jsmn_parser p;
		jsmn_init(&p);
		int n = jsmn_parse(&p, doc, len, j->j_tokens, j->j_cap);
		// A document has at most one token per byte.
		if (n != JSMN_ERROR_NOMEM || j->j_cap > len)
			return n;
		j->j_cap *= 2;
		rl_free(j->j_tokens);
		j->j_tokens = rl_calloc(j->j_cap, sizeof(jsmntok_t));
	}
}

// after returns the index of the first token after t's subtree.
static int
after(const jsmntok_t *tok, int ntok, int t)
{
	int k = t + 1;
	while (k < ntok && tok[k].start < tok[t].end)
		k++;
	return k;
}

// key_is says whether key token t (a string) names seg[0..seglen).
static bool
key_is(const uint8_t *doc, const jsmntok_t *t, const char *seg, size_t seglen)
{
	const uint8_t *k = doc + t->start;
	size_t         klen = (size_t)(t->end - t->start);
	if (memchr(k, '\\', klen) == NULL)
		return klen == seglen && memcmp(k, seg, seglen) == 0;
	uint8_t buf[256];
	if (klen > sizeof(buf))
		return false;
	long n = rl_json_unescape(k, klen, buf);
	return n >= 0 && (size_t)n == seglen && memcmp(buf, seg, seglen) == 0;
}

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

rl_json_result
rl_json_get(rl_json *j, const uint8_t *doc, size_t len, const char *path, rl_json_value *ret)
{
	if (len > INT_MAX / 2)
		return RL_JSON_MALFORMED;
	int ntok = tokenize(j, (const char *)doc, len);
	if (ntok <= 0)
		return RL_JSON_MALFORMED;
	const jsmntok_t *tok = j->j_tokens;
	// One object, nothing but whitespace after it (jsmn would read a
	// second value, and stops at a NUL byte).
	if (tok[0].type != JSMN_OBJECT || tok[0].end < 0)
		return RL_JSON_MALFORMED;
	for (size_t i = (size_t)tok[0].end; i < len; i++)
		if (!is_space(doc[i]))
			return RL_JSON_MALFORMED;
	int         at = 0; // the object the next segment is looked up in
	const char *seg = path;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t      seglen = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
		int         end = after(tok, ntok, at), found = -1;
		for (int k = at + 1; k < end; k = after(tok, ntok, k + 1)) {
			if (tok[k].type == JSMN_STRING && k + 1 < end
			    && key_is(doc, &tok[k], seg, seglen)) {
				found = k + 1;
				break;
			}
		}
		if (found < 0)
			return RL_JSON_MISSING;
		if (dot == NULL) {
			const jsmntok_t *v = &tok[found];
			rl_json_value    out = {
				   .v = doc + v->start,
				   .v_len = (size_t)(v->end - v->start),
			};
			switch (v->type) {
			case JSMN_STRING:
				out.v_kind = RL_JSON_STRING;
				out.v_escaped = memchr(out.v, '\\', out.v_len) != NULL;
				break;
			case JSMN_PRIMITIVE:
				if (doc[v->start] == 'n')
					return RL_JSON_MISSING; // null
				out.v_kind = doc[v->start] == 't' || doc[v->start] == 'f'
				    ? RL_JSON_BOOL
				    : RL_JSON_NUMBER;
				break;
			default:
				out.v_kind = RL_JSON_COMPOSITE;
				break;
			}
			*ret = out;
			return RL_JSON_FOUND;
		}
		if (tok[found].type != JSMN_OBJECT)
			return RL_JSON_MISSING;
		at = found;
		seg = dot + 1;
	}
}

static int
hex4(const uint8_t *s, uint32_t *ret)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static size_t
utf8_put(uint32_t cp, uint8_t *dst)
{
	if (cp < 0x80) {
		dst[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (uint8_t)(0xC0 | (cp >> 6));
		dst[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (uint8_t)(0xE0 | (cp >> 12));
		dst[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		dst[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	dst[0] = (uint8_t)(0xF0 | (cp >> 18));
	dst[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	dst[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	dst[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

long
rl_json_unescape(const uint8_t *s, size_t n, uint8_t *dst)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			dst[o++] = s[i];
			continue;
		}
		if (++i == n)
			return -1;
		uint32_t cp;
		switch (s[i]) {
		case '"':
		case '\\':
		case '/':
			dst[o++] = s[i];
			break;
		case 'b':
			dst[o++] = '\b';
			break;
		case 'f':
			dst[o++] = '\f';
			break;
		case 'n':
			dst[o++] = '\n';
			break;
		case 'r':
			dst[o++] = '\r';
			break;
		case 't':
			dst[o++] = '\t';
			break;
		case 'u':
			if (n - i < 5 || hex4(s + i + 1, &cp) != 0)
				return -1;
			i += 4;
			if (cp >= 0xD800 && cp < 0xDC00) { // a high surrogate: its low half follows
				uint32_t lo;
				if (n - i < 7 || s[i + 1] != '\\' || s[i + 2] != 'u'
				    || hex4(s + i + 3, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return -1;
			}
			o += utf8_put(cp, dst + o);
			break;
		default:
			return -1;
		}
	}
	return (long)o;
}
