// SPDX-License-Identifier: Apache-2.0
// Job-file YAML: the only user of libfyaml; loads a document and reads typed values from it.
#include "common/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>
#include <unistr.h>

#include "common/alloc.h"
#include "common/time.h"

struct rl_yaml_doc {
	struct fy_diag     *diag;
	struct fy_parser   *fyp;
	struct fy_document *doc; // NULL for an empty stream
};

// rl_yaml_node is never defined: a handle is a libfyaml node.
static struct fy_node *
fy(rl_yaml_node *node)
{
	return (struct fy_node *)node;
}

static rl_yaml_node *
rl(struct fy_node *node)
{
	return (rl_yaml_node *)node;
}

rl_err
rl_yaml_fail(const rl_yaml_errbuf *eb, rl_loc at, const char *fmt, ...)
{
	if (eb->buf == NULL || eb->len == 0)
		return RL_ERR_PARSE;
	if (at.line <= 0)
		at = (rl_loc) { .line = 1, .col = 1 };
	int n = snprintf(eb->buf, eb->len, "%s:%d:%d: ", eb->filename, at.line, at.col);
	if (n >= 0 && (size_t)n < eb->len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(eb->buf + n, eb->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return RL_ERR_PARSE;
}

static rl_loc
loc_of(struct fy_node *node, rl_loc fallback)
{
	if (node == NULL)
		return fallback;
	void *iter = NULL;
	switch (fy_node_get_type(node)) {
	case FYNT_SCALAR: {
		// libfyaml 0.7 has no node marks; a scalar's token has one.
		struct fy_token      *tok = fy_node_get_scalar_token(node);
		const struct fy_mark *mark = tok != NULL ? fy_token_start_mark(tok) : NULL;
		if (mark == NULL)
			return fallback;
		rl_loc at = { .line = mark->line + 1, .col = mark->column + 1 };
		// The token starts after an opening quote or a '*'; point at that.
		enum fy_node_style style = fy_node_get_style(node);
		if ((style == FYNS_SINGLE_QUOTED || style == FYNS_DOUBLE_QUOTED
		        || style == FYNS_ALIAS)
		    && at.col > 1)
			at.col--;
		return at;
	}
	case FYNT_SEQUENCE:
		// A collection is where its first entry is.
		return loc_of(fy_node_sequence_iterate(node, &iter), fallback);
	case FYNT_MAPPING: {
		struct fy_node_pair *first = fy_node_mapping_iterate(node, &iter);
		return first != NULL ? loc_of(fy_node_pair_key(first), fallback) : fallback;
	}
	}
	return fallback;
}

rl_loc
rl_yaml_loc(rl_yaml_node *node, rl_loc fallback)
{
	return loc_of(fy(node), fallback);
}

static bool
text_is(const char *text, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(text, word, len) == 0;
}

// is_null: absent, empty, or a plain ~ / null.
static bool
is_null(struct fy_node *node)
{
	if (node == NULL || fy_node_is_null(node))
		return true;
	if (!fy_node_is_scalar(node) || fy_node_get_style(node) != FYNS_PLAIN)
		return false;
	size_t      len;
	const char *text = fy_node_get_scalar(node, &len);
	return text == NULL || len == 0 || text_is(text, len, "~") || text_is(text, len, "null")
	    || text_is(text, len, "Null") || text_is(text, len, "NULL");
}

static const char *
scalar_text(struct fy_node *node, size_t *len)
{
	const char *text = fy_node_get_scalar(node, len);
	if (text == NULL) {
		*len = 0;
		return "";
	}
	return text;
}

static const char *
describe(struct fy_node *node, char *buf, size_t size)
{
	if (is_null(node)) {
		snprintf(buf, size, "nothing");
	} else if (fy_node_is_mapping(node)) {
		snprintf(buf, size, "a mapping");
	} else if (fy_node_is_sequence(node)) {
		snprintf(buf, size, "a list");
	} else {
		size_t      len;
		const char *text = scalar_text(node, &len);
		size_t      shown = 0;
		while (shown < len && shown < 48 && text[shown] != '\n')
			shown++;
		snprintf(buf, size, "'%.*s%s'", (int)shown, text, shown < len ? "..." : "");
	}
	return buf;
}

const char *
rl_yaml_describe(rl_yaml_node *node, char *buf, size_t size)
{
	return describe(fy(node), buf, size);
}

bool
rl_yaml_is_scalar(rl_yaml_node *node)
{
	return node != NULL && fy_node_is_scalar(fy(node));
}

bool
rl_yaml_is_list(rl_yaml_node *node)
{
	return node != NULL && fy_node_is_sequence(fy(node));
}

bool
rl_yaml_is_mapping(rl_yaml_node *node)
{
	return node != NULL && fy_node_is_mapping(fy(node));
}

size_t
rl_yaml_count(rl_yaml_node *node)
{
	int n = 0;
	if (rl_yaml_is_list(node))
		n = fy_node_sequence_item_count(fy(node));
	else if (rl_yaml_is_mapping(node))
		n = fy_node_mapping_item_count(fy(node));
	return n > 0 ? (size_t)n : 0;
}

bool
rl_yaml_scalar_is(rl_yaml_node *node, const char *word)
{
	if (!rl_yaml_is_scalar(node))
		return false;
	size_t      len;
	const char *text = scalar_text(fy(node), &len);
	return text_is(text, len, word);
}

// scalar_copy copies a short scalar into buf; false when it is not a scalar
// or does not fit (no valid number, duration or keyword is that long).
static bool
scalar_copy(struct fy_node *node, char *buf, size_t size)
{
	if (node == NULL || !fy_node_is_scalar(node))
		return false;
	size_t      len;
	const char *text = scalar_text(node, &len);
	if (len >= size || memchr(text, '\0', len) != NULL)
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return true;
}

static void set_path(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// set_path formats a key path for messages; a path too long is cut short.
static void
set_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

// join_path formats "CTX.KEY" (or "KEY" at the top).
static void
join_path(char *buf, size_t size, const char *ctx, const char *key, size_t keylen)
{
	set_path(buf, size, "%s%s%.*s", ctx, *ctx != '\0' ? "." : "", (int)keylen, key);
}

bool
rl_yaml_map_next(const rl_yaml_field *map, rl_yaml_iter *it, rl_yaml_entry *ret)
{
	if (!rl_yaml_is_mapping(map->node))
		return false;
	struct fy_node_pair *pair = fy_node_mapping_iterate(fy(map->node), &it->it);
	if (pair == NULL)
		return false;
	it->index++;
	struct fy_node *key = fy_node_pair_key(pair);
	struct fy_node *value = fy_node_pair_value(pair);
	ret->key = rl(key);
	ret->value = (rl_yaml_field) { .node = is_null(value) ? NULL : rl(value), .present = true };
	ret->value.key_loc = loc_of(key, map->loc);
	ret->value.loc = loc_of(fy(ret->value.node), ret->value.key_loc);
	size_t      len = 0;
	const char *name = key != NULL && fy_node_is_scalar(key) ? scalar_text(key, &len) : "";
	if (len > 0)
		join_path(ret->value.path, sizeof(ret->value.path), map->path, name, len);
	else
		set_path(ret->value.path, sizeof(ret->value.path), "%s", map->path);
	return true;
}

rl_err
rl_yaml_get_list(const rl_yaml_field *f, const char *expected, size_t *ret_n, rl_yaml_errbuf *eb)
{
	char what[80];
	if (!rl_yaml_is_list(f->node) || rl_yaml_count(f->node) == 0)
		return rl_yaml_fail(eb, f->loc, "%s: expected %s, got %s", f->path, expected,
		    rl_yaml_is_list(f->node) ? "[]" : describe(fy(f->node), what, sizeof(what)));
	*ret_n = rl_yaml_count(f->node);
	return RL_OK;
}

bool
rl_yaml_list_next(const rl_yaml_field *list, rl_yaml_iter *it, rl_yaml_field *ret)
{
	if (!rl_yaml_is_list(list->node))
		return false;
	struct fy_node *item = fy_node_sequence_iterate(fy(list->node), &it->it);
	if (item == NULL)
		return false;
	*ret = (rl_yaml_field) { .node = is_null(item) ? NULL : rl(item), .present = true };
	ret->loc = ret->key_loc = loc_of(item, list->loc);
	set_path(ret->path, sizeof(ret->path), "%s[%zu]", list->path, it->index);
	it->index++;
	return true;
}

static void
list_keys(const rl_yaml_key *keys, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; keys[i].name != NULL && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", keys[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

rl_err
rl_yaml_get_fields(const rl_yaml_field *map, const rl_yaml_key *keys, const char *form,
    rl_yaml_field *out, rl_yaml_errbuf *eb)
{
	size_t nkeys = 0;
	while (keys[nkeys].name != NULL) {
		out[nkeys]
		    = (rl_yaml_field) { .present = false, .loc = map->loc, .key_loc = map->loc };
		join_path(out[nkeys].path, sizeof(out[nkeys].path), map->path, keys[nkeys].name,
		    strlen(keys[nkeys].name));
		nkeys++;
	}
	struct fy_node *node = fy(map->node);
	if (!is_null(node) && !fy_node_is_mapping(node)) {
		char what[80];
		if (map->path[0] == '\0')
			return rl_yaml_fail(eb, map->loc,
			    "a job file is a mapping of keys (%s), not %s", form,
			    describe(node, what, sizeof(what)));
		return rl_yaml_fail(eb, map->loc, "%s: expected a mapping like %s, got %s",
		    map->path, form, describe(node, what, sizeof(what)));
	}
	void                *iter = NULL;
	struct fy_node_pair *pair;
	while (!is_null(node) && (pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
		struct fy_node *key = fy_node_pair_key(pair);
		rl_loc          key_loc = loc_of(key, map->loc);
		if (key == NULL || !fy_node_is_scalar(key) || is_null(key)) {
			char what[80];
			return rl_yaml_fail(eb, key_loc, "%s%skeys must be names, got %s",
			    map->path, map->path[0] != '\0' ? ": " : "",
			    describe(key, what, sizeof(what)));
		}
		size_t      len;
		const char *text = scalar_text(key, &len);
		size_t      i;
		for (i = 0; i < nkeys; i++)
			if (text_is(text, len, keys[i].name))
				break;
		if (i == nkeys) {
			char allowed[256];
			list_keys(keys, allowed, sizeof(allowed));
			return rl_yaml_fail(eb, key_loc,
			    "%s%sunknown key '%.*s' (expected one of: %s)", map->path,
			    map->path[0] != '\0' ? ": " : "", (int)len, text, allowed);
		}
		struct fy_node *value = fy_node_pair_value(pair);
		out[i].present = true;
		out[i].node = is_null(value) ? NULL : rl(value);
		out[i].key_loc = key_loc;
		out[i].loc = loc_of(fy(out[i].node), key_loc);
	}
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].required && !out[i].present)
			return rl_yaml_fail(eb, map->loc, "%s%smissing required key '%s'",
			    map->path, map->path[0] != '\0' ? ": " : "", keys[i].name);
	return RL_OK;
}

rl_err
rl_yaml_get_string(const rl_yaml_field *f, const char *expected, char **ret, rl_yaml_errbuf *eb)
{
	char            what[80];
	struct fy_node *node = fy(f->node);
	if (node == NULL || !fy_node_is_scalar(node))
		return rl_yaml_fail(eb, f->loc, "%s: expected %s, got %s", f->path, expected,
		    describe(node, what, sizeof(what)));
	size_t      len;
	const char *text = scalar_text(node, &len);
	if (len == 0)
		return rl_yaml_fail(
		    eb, f->loc, "%s: expected %s, got an empty string", f->path, expected);
	if (memchr(text, '\0', len) != NULL)
		return rl_yaml_fail(eb, f->loc, "%s: must not contain a NUL character", f->path);
	*ret = rl_strndup(text, len);
	return RL_OK;
}

rl_err
rl_yaml_get_regex(const rl_yaml_field *f, const char *expected, char **ret, rl_yaml_errbuf *eb)
{
	char  *re = NULL;
	rl_err rv;
	if ((rv = rl_yaml_get_string(f, expected, &re, eb)) != RL_OK)
		return rv;
	regex_t compiled;
	int     rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char reason[128], what[80];
		regerror(rc, &compiled, reason, sizeof(reason));
		rl_free(re);
		return rl_yaml_fail(eb, f->loc, "%s: %s is not a valid regular expression: %s",
		    f->path, describe(fy(f->node), what, sizeof(what)), reason);
	}
	regfree(&compiled);
	*ret = re;
	return RL_OK;
}

static void
int_range(int64_t min, int64_t max, char *buf, size_t size)
{
	if (max == INT64_MAX && min == 0)
		snprintf(buf, size, "a non-negative integer");
	else if (max == INT64_MAX)
		snprintf(buf, size, "an integer of at least %" PRId64, min);
	else
		snprintf(buf, size, "an integer from %" PRId64 " to %" PRId64, min, max);
}

rl_err
rl_yaml_get_int(const rl_yaml_field *f, int64_t min, int64_t max, int64_t *ret, rl_yaml_errbuf *eb)
{
	char text[32], range[80], what[80];
	int_range(min, max, range, sizeof(range));
	bool        ok = scalar_copy(fy(f->node), text, sizeof(text));
	const char *digits = text[0] == '-' ? text + 1 : text;
	for (const char *c = digits; ok && *c != '\0'; c++)
		ok = *c >= '0' && *c <= '9';
	if (!ok || *digits == '\0')
		return rl_yaml_fail(eb, f->loc, "%s: %s is not an integer (expected %s)", f->path,
		    describe(fy(f->node), what, sizeof(what)), range);
	errno = 0;
	long long v = strtoll(text, NULL, 10);
	if (errno != 0 || v < min || v > max)
		return rl_yaml_fail(eb, f->loc, "%s: %s is out of range (expected %s)", f->path,
		    describe(fy(f->node), what, sizeof(what)), range);
	*ret = (int64_t)v;
	return RL_OK;
}

rl_err
rl_yaml_get_bool(const rl_yaml_field *f, bool *ret, rl_yaml_errbuf *eb)
{
	char text[8], what[80];
	if (scalar_copy(fy(f->node), text, sizeof(text))) {
		if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0
		    || strcmp(text, "TRUE") == 0) {
			*ret = true;
			return RL_OK;
		}
		if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0
		    || strcmp(text, "FALSE") == 0) {
			*ret = false;
			return RL_OK;
		}
	}
	return rl_yaml_fail(eb, f->loc, "%s: %s is not a boolean (use true or false)", f->path,
	    describe(fy(f->node), what, sizeof(what)));
}

rl_err
rl_yaml_get_duration(const rl_yaml_field *f, int64_t *ret, rl_yaml_errbuf *eb)
{
	char    text[32], what[80];
	int64_t ms;
	if (!scalar_copy(fy(f->node), text, sizeof(text))
	    || rl_parse_duration_ms(text, &ms) != RL_OK)
		return rl_yaml_fail(eb, f->loc,
		    "%s: %s is not a duration (use e.g. 500ms, 1s, 5m, 1h)", f->path,
		    describe(fy(f->node), what, sizeof(what)));
	*ret = ms;
	return RL_OK;
}

rl_err
rl_yaml_get_enum(const rl_yaml_field *f, const char *const *names, int *ret, rl_yaml_errbuf *eb)
{
	char text[32], what[80];
	if (scalar_copy(fy(f->node), text, sizeof(text)))
		for (int i = 0; names[i] != NULL; i++)
			if (strcmp(text, names[i]) == 0) {
				*ret = i;
				return RL_OK;
			}
	char   allowed[160] = "";
	size_t used = 0;
	for (int i = 0; names[i] != NULL && used < sizeof(allowed); i++) {
		int n = snprintf(
		    allowed + used, sizeof(allowed) - used, "%s%s", i > 0 ? ", " : "", names[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return rl_yaml_fail(eb, f->loc, "%s: %s is not valid (expected one of: %s)", f->path,
	    describe(fy(f->node), what, sizeof(what)), allowed);
}

static void
strings_free(char **strings, size_t n)
{
	for (size_t i = 0; strings != NULL && i < n; i++)
		rl_free(strings[i]);
	rl_free(strings);
}

rl_err
rl_yaml_get_string_map(const rl_yaml_field *f, const char *expected, const char *noun,
    char ***ret_names, char ***ret_values, size_t *ret_n, rl_yaml_errbuf *eb)
{
	char            what[80];
	struct fy_node *node = fy(f->node);
	if (node == NULL) {
		*ret_names = *ret_values = NULL;
		*ret_n = 0;
		return RL_OK;
	}
	if (!fy_node_is_mapping(node))
		return rl_yaml_fail(eb, f->loc, "%s: expected %s, got %s", f->path, expected,
		    describe(node, what, sizeof(what)));
	size_t               n = rl_yaml_count(f->node), got = 0;
	char               **names = rl_calloc(n + 1, sizeof(char *));
	char               **values = rl_calloc(n + 1, sizeof(char *));
	void                *iter = NULL;
	struct fy_node_pair *pair;
	rl_err               rv;
	while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL && got < n) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct fy_node *value = fy_node_pair_value(pair);
		rl_loc          key_loc = loc_of(key, f->loc);
		if (key == NULL || !fy_node_is_scalar(key) || is_null(key)) {
			rv = rl_yaml_fail(eb, key_loc, "%s: %s names must be strings, got %s",
			    f->path, noun, describe(key, what, sizeof(what)));
			goto err_strings;
		}
		rl_loc      at = loc_of(value, key_loc);
		char        path[sizeof(f->path)];
		size_t      len;
		const char *name = scalar_text(key, &len);
		join_path(path, sizeof(path), f->path, name, len);
		if (value == NULL || !fy_node_is_scalar(value) || is_null(value)) {
			rv = rl_yaml_fail(eb, at,
			    "%s: expected a value (string, number or boolean), got %s", path,
			    describe(value, what, sizeof(what)));
			goto err_strings;
		}
		size_t      vlen;
		const char *vtext = scalar_text(value, &vlen);
		if (memchr(name, '\0', len) != NULL || memchr(vtext, '\0', vlen) != NULL) {
			rv = rl_yaml_fail(eb, at, "%s: must not contain a NUL character", path);
			goto err_strings;
		}
		names[got] = rl_strndup(name, len);
		values[got] = rl_strndup(vtext, vlen);
		got++;
	}
	*ret_names = names;
	*ret_values = values;
	*ret_n = got;
	return RL_OK;

err_strings:
	strings_free(names, got);
	strings_free(values, got);
	return rv;
}

// reject_aliases refuses *alias nodes anywhere: expanding them is how a tiny
// file becomes a huge tree (the billion laughs), and job files come from users.
static rl_err
reject_aliases(const rl_yaml_errbuf *eb, struct fy_node *node)
{
	void  *iter = NULL;
	rl_err rv;
	if (node == NULL)
		return RL_OK;
	if (fy_node_is_alias(node)) {
		size_t      len;
		const char *name = scalar_text(node, &len);
		return rl_yaml_fail(eb, loc_of(node, (rl_loc) { 1, 1 }),
		    "aliases (*%.*s) are not supported in a job file; write the value out instead",
		    (int)(len > 48 ? 48 : len), name);
	}
	if (fy_node_is_sequence(node)) {
		struct fy_node *item;
		while ((item = fy_node_sequence_iterate(node, &iter)) != NULL)
			if ((rv = reject_aliases(eb, item)) != RL_OK)
				return rv;
	} else if (fy_node_is_mapping(node)) {
		struct fy_node_pair *pair;
		while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL)
			if ((rv = reject_aliases(eb, fy_node_pair_key(pair))) != RL_OK
			    || (rv = reject_aliases(eb, fy_node_pair_value(pair))) != RL_OK)
				return rv;
	}
	return RL_OK;
}

static void
diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

// yaml_failed tells whether libfyaml gave up on the input; an alias to a
// missing anchor, for one, sets only the stream error.
static bool
yaml_failed(struct fy_parser *fyp, struct fy_diag *diag)
{
	void *iter = NULL;
	return fy_diag_got_error(diag) || fy_parser_get_stream_error(fyp)
	    || fy_diag_errors_iterate(diag, &iter) != NULL;
}

// yaml_error turns libfyaml's first collected error into eb.
static rl_err
yaml_error(const rl_yaml_errbuf *eb, struct fy_diag *diag)
{
	void                 *iter = NULL;
	struct fy_diag_error *e;
	while ((e = fy_diag_errors_iterate(diag, &iter)) != NULL)
		if (e->type >= FYET_ERROR)
			// Collected positions are already 1-based.
			return rl_yaml_fail(eb, (rl_loc) { .line = e->line, .col = e->column },
			    "%s", e->msg != NULL ? e->msg : "invalid YAML");
	return rl_yaml_fail(eb, (rl_loc) { 1, 1 }, "invalid YAML");
}

// check_single_document rejects a second, non-empty document in the stream.
static rl_err
check_single_document(const rl_yaml_errbuf *eb, struct fy_parser *fyp, struct fy_diag *diag)
{
	struct fy_document *extra;
	while ((extra = fy_parse_load_document(fyp)) != NULL) {
		struct fy_node *root = fy_document_root(extra);
		if (!is_null(root)) {
			struct fy_document_state *state = fy_document_get_document_state(extra);
			const struct fy_mark     *mark
			    = state != NULL ? fy_document_state_start_mark(state) : NULL;
			rl_loc at = mark != NULL ? (rl_loc) { mark->line + 1, mark->column + 1 }
			                         : loc_of(root, (rl_loc) { 1, 1 });
			fy_parse_document_destroy(fyp, extra);
			return rl_yaml_fail(
			    eb, at, "a job file holds one YAML document; a second one starts here");
		}
		fy_parse_document_destroy(fyp, extra);
	}
	return yaml_failed(fyp, diag) ? yaml_error(eb, diag) : RL_OK;
}

static rl_err
setup_error(const rl_yaml_errbuf *eb)
{
	if (eb->buf != NULL && eb->len > 0)
		snprintf(eb->buf, eb->len, "%s: cannot set up the YAML parser (out of memory)",
		    eb->filename);
	return RL_ERR_NOMEM;
}

// check_text refuses what is not UTF-8 text before libfyaml sees it: YAML is
// Unicode, and libfyaml 0.7 loops forever on some invalid bytes (one in a
// directive line is enough). Job text also comes from the network, in every
// task launch.
static rl_err
check_text(const rl_yaml_errbuf *eb, const char *text, size_t len)
{
	const uint8_t *s = (const uint8_t *)text;
	const uint8_t *bad = u8_check(s, len);
	const uint8_t *nul = memchr(s, '\0', len);
	if (bad == NULL && nul == NULL)
		return RL_OK;
	if (bad == NULL || (nul != NULL && nul < bad))
		bad = nul;
	rl_loc at = { 1, 1 };
	for (const uint8_t *c = s; c < bad; c++) {
		if (*c == '\n')
			at = (rl_loc) { at.line + 1, 1 };
		else if ((*c & 0xc0) != 0x80) // a character's first byte
			at.col++;
	}
	if (*bad == '\0')
		return rl_yaml_fail(eb, at, "a NUL byte: a job file is UTF-8 text");
	return rl_yaml_fail(eb, at, "byte 0x%02X is not UTF-8: a job file is UTF-8 text", *bad);
}

rl_err
rl_yaml_load(const char *text, size_t len, rl_yaml_doc **ret, rl_yaml_errbuf *eb)
{
	rl_err rv;
	if ((rv = check_text(eb, text, len)) != RL_OK)
		return rv;
	rl_yaml_doc *d = RL_NEW(rl_yaml_doc);
	// Collect libfyaml's diagnostics instead of letting it print them.
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	if ((d->diag = fy_diag_create(&dcfg)) == NULL) {
		rv = setup_error(eb);
		goto err_doc;
	}
	fy_diag_set_collect_errors(d->diag, true);
	struct fy_parse_cfg cfg = {
		.flags = FYPCF_QUIET, // aliases stay unresolved: see reject_aliases
		.diag = d->diag,
	};
	if ((d->fyp = fy_parser_create(&cfg)) == NULL
	    || fy_parser_set_string(d->fyp, text, len) != 0) {
		rv = setup_error(eb);
		goto err_doc;
	}
	if ((d->doc = fy_parse_load_document(d->fyp)) == NULL) {
		if (yaml_failed(d->fyp, d->diag)) {
			rv = yaml_error(eb, d->diag);
			goto err_doc;
		}
		*ret = d; // an empty stream
		return RL_OK;
	}
	if ((rv = check_single_document(eb, d->fyp, d->diag)) != RL_OK
	    || (rv = reject_aliases(eb, fy_document_root(d->doc))) != RL_OK)
		goto err_doc;
	*ret = d;
	return RL_OK;

err_doc:
	rl_yaml_doc_destroy(d);
	return rv;
}

void
rl_yaml_doc_destroy(rl_yaml_doc *doc)
{
	if (doc == NULL)
		return;
	if (doc->doc != NULL)
		fy_parse_document_destroy(doc->fyp, doc->doc);
	if (doc->fyp != NULL)
		fy_parser_destroy(doc->fyp);
	if (doc->diag != NULL)
		fy_diag_destroy(doc->diag);
	rl_free(doc);
}

void
rl_yaml_root(rl_yaml_doc *doc, rl_yaml_field *ret)
{
	struct fy_node *root = doc->doc != NULL ? fy_document_root(doc->doc) : NULL;
	*ret = (rl_yaml_field) {
		.path = "", .node = is_null(root) ? NULL : rl(root), .present = true
	};
	ret->loc = ret->key_loc = loc_of(root, (rl_loc) { 1, 1 });
}
