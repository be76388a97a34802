// SPDX-License-Identifier: Apache-2.0
// The job file: the only user of libfyaml, turning YAML into a validated rl_job.
#include "common/jobfile.h"

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
#include "common/hash.h"
#include "common/time.h"

#define BATCH_MIN_MS 10
#define BATCH_MAX_MS (3600 * 1000)
#define NAME_MAX_LEN 64
#define TOPIC_MAX_LEN 249
#define JOB_FILE_MAX_SIZE (1024 * 1024)

static const char *const op_names[] = {
#define OP_NAME(name, key) [RL_OP_##name] = key,
	RL_OP_MAP_LIST(OP_NAME)
#undef OP_NAME
};

// A function's YAML name and, for the {name: ARG} forms, the placeholder of
// its argument in usage messages (NULL for a bare name such as `words`).
static const struct fn_info {
	const char *name;
	const char *arg;
} fn_infos[] = {
	[RL_FN_NONE] = { "none", NULL },
	[RL_FN_LOWER] = { "lower", NULL },
	[RL_FN_UPPER] = { "upper", NULL },
	[RL_FN_TRIM] = { "trim", NULL },
	[RL_FN_WORDS] = { "words", NULL },
	[RL_FN_SPLIT] = { "split", "SEP" },
	[RL_FN_NONEMPTY] = { "nonempty", NULL },
	[RL_FN_CONTAINS] = { "contains", "S" },
	[RL_FN_REGEX] = { "regex", "RE" },
	[RL_FN_VALUE] = { "value", NULL },
	[RL_FN_FIELD] = { "field", "N, sep: S" },
	[RL_FN_JSON] = { "json", "PATH" },
	[RL_FN_ONE] = { "one", NULL },
	[RL_FN_LENGTH] = { "length", NULL },
	[RL_FN_SUM] = { "sum", NULL },
	[RL_FN_MIN] = { "min", NULL },
	[RL_FN_MAX] = { "max", NULL },
	[RL_FN_COUNT] = { "count", NULL },
	[RL_FN_UDF] = { "udf", "NAME" },
};
#define FN_COUNT (sizeof(fn_infos) / sizeof(fn_infos[0]))

// The functions each operator accepts, RL_FN_NONE-terminated.
static const rl_fn map_fns[] = { RL_FN_LOWER, RL_FN_UPPER, RL_FN_TRIM, RL_FN_UDF, RL_FN_NONE };
static const rl_fn flat_map_fns[] = { RL_FN_WORDS, RL_FN_SPLIT, RL_FN_UDF, RL_FN_NONE };
static const rl_fn filter_fns[]
    = { RL_FN_NONEMPTY, RL_FN_CONTAINS, RL_FN_REGEX, RL_FN_UDF, RL_FN_NONE };
static const rl_fn key_by_fns[] = { RL_FN_VALUE, RL_FN_FIELD, RL_FN_JSON, RL_FN_UDF, RL_FN_NONE };
static const rl_fn map_values_fns[]
    = { RL_FN_ONE, RL_FN_LENGTH, RL_FN_FIELD, RL_FN_UDF, RL_FN_NONE };
static const rl_fn reduce_fns[]
    = { RL_FN_SUM, RL_FN_MIN, RL_FN_MAX, RL_FN_COUNT, RL_FN_UDF, RL_FN_NONE };

static const char *const start_offsets_names[] = {
	[RL_START_EARLIEST] = "earliest",
	[RL_START_LATEST] = "latest",
	[RL_START_COMMITTED] = "committed",
	[RL_START_NONE] = "none",
	NULL,
};
static const char *const catch_up_names[] = {
	[RL_CATCH_UP_ALL] = "all",
	[RL_CATCH_UP_LATEST] = "latest",
	NULL,
};
static const char *const join_kind_names[] = { "inner", "left", NULL };

typedef struct parser {
	const char *filename;
	char       *errbuf;
	size_t      errlen;
	int64_t     batch_ms; // known before the pipeline is read
} parser;

// A value found under a key, with what messages need to point at it.
typedef struct field {
	char            path[160]; // "source.kafka.brokers"; "" for the whole file
	struct fy_node *node; // NULL when absent (or written as an empty value)
	bool            present;
	rl_loc          loc; // the value's position, else its key's
	rl_loc          key_loc;
} field;

typedef struct key_spec {
	const char *name;
	bool        required;
} key_spec;

static rl_err fail(parser *p, rl_loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// fail writes "FILE:LINE:COL: message" to errbuf and returns RL_ERR_PARSE.
static rl_err
fail(parser *p, rl_loc at, const char *fmt, ...)
{
	if (p->errbuf == NULL || p->errlen == 0)
		return RL_ERR_PARSE;
	if (at.line <= 0)
		at = (rl_loc) { .line = 1, .col = 1 };
	int n = snprintf(p->errbuf, p->errlen, "%s:%d:%d: ", p->filename, at.line, at.col);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return RL_ERR_PARSE;
}

// loc_of is where node was written (1-based), or fallback when that is not
// known: an empty value, an empty collection.
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

// describe writes what the user wrote, for messages: 'text', a list, ...
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

static void
join_path(char *buf, size_t size, const char *ctx, const char *key, size_t keylen)
{
	set_path(buf, size, "%s%s%.*s", ctx, *ctx != '\0' ? "." : "", (int)keylen, key);
}

static void
list_keys(const key_spec *keys, char *buf, size_t size)
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

// get_fields reads the mapping `map` whose keys must come from keys[] (an
// empty value counts as an empty mapping): out[i] describes keys[i]. Unknown
// keys and missing required ones are errors. `form` shows the expected shape.
static rl_err
get_fields(parser *p, const field *map, const key_spec *keys, const char *form, field *out)
{
	size_t nkeys = 0;
	while (keys[nkeys].name != NULL) {
		out[nkeys] = (field) { .present = false, .loc = map->loc, .key_loc = map->loc };
		join_path(out[nkeys].path, sizeof(out[nkeys].path), map->path, keys[nkeys].name,
		    strlen(keys[nkeys].name));
		nkeys++;
	}
	if (!is_null(map->node) && !fy_node_is_mapping(map->node)) {
		char what[80];
		if (map->path[0] == '\0')
			return fail(p, map->loc, "a job file is a mapping of keys (%s), not %s",
			    form, describe(map->node, what, sizeof(what)));
		return fail(p, map->loc, "%s: expected a mapping like %s, got %s", map->path, form,
		    describe(map->node, what, sizeof(what)));
	}
	void                *iter = NULL;
	struct fy_node_pair *pair;
	while (!is_null(map->node) && (pair = fy_node_mapping_iterate(map->node, &iter)) != NULL) {
		struct fy_node *key = fy_node_pair_key(pair);
		rl_loc          key_loc = loc_of(key, map->loc);
		if (key == NULL || !fy_node_is_scalar(key) || is_null(key)) {
			char what[80];
			return fail(p, key_loc, "%s%skeys must be names, got %s", map->path,
			    map->path[0] != '\0' ? ": " : "", describe(key, what, sizeof(what)));
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
			return fail(p, key_loc, "%s%sunknown key '%.*s' (expected one of: %s)",
			    map->path, map->path[0] != '\0' ? ": " : "", (int)len, text, allowed);
		}
		struct fy_node *value = fy_node_pair_value(pair);
		out[i].present = true;
		out[i].node = is_null(value) ? NULL : value;
		out[i].key_loc = key_loc;
		out[i].loc = loc_of(out[i].node, key_loc);
	}
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].required && !out[i].present)
			return fail(p, map->loc, "%s%smissing required key '%s'", map->path,
			    map->path[0] != '\0' ? ": " : "", keys[i].name);
	return RL_OK;
}

// get_string reads a non-empty string; `expected` names it in messages.
static rl_err
get_string(parser *p, const field *f, const char *expected, char **ret)
{
	char what[80];
	if (f->node == NULL || !fy_node_is_scalar(f->node))
		return fail(p, f->loc, "%s: expected %s, got %s", f->path, expected,
		    describe(f->node, what, sizeof(what)));
	size_t      len;
	const char *text = scalar_text(f->node, &len);
	if (len == 0)
		return fail(p, f->loc, "%s: expected %s, got an empty string", f->path, expected);
	if (memchr(text, '\0', len) != NULL)
		return fail(p, f->loc, "%s: must not contain a NUL character", f->path);
	*ret = rl_strndup(text, len);
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

static rl_err
get_int(parser *p, const field *f, int64_t min, int64_t max, int64_t *ret)
{
	char text[32], range[80], what[80];
	int_range(min, max, range, sizeof(range));
	bool        ok = scalar_copy(f->node, text, sizeof(text));
	const char *digits = text[0] == '-' ? text + 1 : text;
	for (const char *c = digits; ok && *c != '\0'; c++)
		ok = *c >= '0' && *c <= '9';
	if (!ok || *digits == '\0')
		return fail(p, f->loc, "%s: %s is not an integer (expected %s)", f->path,
		    describe(f->node, what, sizeof(what)), range);
	errno = 0;
	long long v = strtoll(text, NULL, 10);
	if (errno != 0 || v < min || v > max)
		return fail(p, f->loc, "%s: %s is out of range (expected %s)", f->path,
		    describe(f->node, what, sizeof(what)), range);
	*ret = (int64_t)v;
	return RL_OK;
}

static rl_err
get_bool(parser *p, const field *f, bool *ret)
{
	char text[8], what[80];
	if (scalar_copy(f->node, text, sizeof(text))) {
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
	return fail(p, f->loc, "%s: %s is not a boolean (use true or false)", f->path,
	    describe(f->node, what, sizeof(what)));
}

static rl_err
get_duration(parser *p, const field *f, int64_t *ret)
{
	char    text[32], what[80];
	int64_t ms;
	if (!scalar_copy(f->node, text, sizeof(text)) || rl_parse_duration_ms(text, &ms) != RL_OK)
		return fail(p, f->loc, "%s: %s is not a duration (use e.g. 500ms, 1s, 5m, 1h)",
		    f->path, describe(f->node, what, sizeof(what)));
	*ret = ms;
	return RL_OK;
}

static rl_err
get_enum(parser *p, const field *f, const char *const *names, int *ret)
{
	char text[32], what[80];
	if (scalar_copy(f->node, text, sizeof(text)))
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
	return fail(p, f->loc, "%s: %s is not valid (expected one of: %s)", f->path,
	    describe(f->node, what, sizeof(what)), allowed);
}

static rl_err
check_regex(parser *p, const field *f, const char *re)
{
	regex_t compiled;
	int     rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char reason[128], what[80];
		regerror(rc, &compiled, reason, sizeof(reason));
		return fail(p, f->loc, "%s: %s is not a valid regular expression: %s", f->path,
		    describe(f->node, what, sizeof(what)), reason);
	}
	regfree(&compiled);
	return RL_OK;
}

static bool
is_job_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static bool
is_topic_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > TOPIC_MAX_LEN || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		        || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool
is_identifier(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		        || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

// is_field_path: names separated by single dots ("user.id").
static bool
is_field_path(const char *s)
{
	if (*s == '.' || *s == '\0' || s[strlen(s) - 1] == '.')
		return false;
	return strstr(s, "..") == NULL;
}

static rl_err
get_topic(parser *p, const field *f, char **ret)
{
	char  *topic = NULL;
	rl_err rv;
	if ((rv = get_string(p, f, "a topic name", &topic)) != RL_OK)
		return rv;
	if (!is_topic_name(topic)) {
		char what[80];
		rl_free(topic);
		return fail(p, f->loc,
		    "%s: %s is not a Kafka topic name (use 1 to %d of a-z, A-Z, 0-9, '.', '_', "
		    "'-')",
		    f->path, describe(f->node, what, sizeof(what)), TOPIC_MAX_LEN);
	}
	*ret = topic;
	return RL_OK;
}

static rl_err
parse_topics(parser *p, const field *f, rl_kafka_source *k)
{
	char what[80];
	if (f->node == NULL || !fy_node_is_sequence(f->node)
	    || fy_node_sequence_item_count(f->node) <= 0)
		return fail(p, f->loc,
		    "%s: expected a non-empty list of topic names like [words], got %s", f->path,
		    fy_node_is_sequence(f->node) ? "[]" : describe(f->node, what, sizeof(what)));
	size_t n = (size_t)fy_node_sequence_item_count(f->node);
	k->k_topics = rl_calloc(n + 1, sizeof(char *));
	k->k_ntopics = n;
	void           *iter = NULL;
	struct fy_node *item;
	for (size_t i = 0; (item = fy_node_sequence_iterate(f->node, &iter)) != NULL && i < n;
	     i++) {
		field topic = { .node = is_null(item) ? NULL : item, .present = true };
		topic.loc = topic.key_loc = loc_of(item, f->loc);
		set_path(topic.path, sizeof(topic.path), "%s[%zu]", f->path, i);
		rl_err rv;
		if ((rv = get_topic(p, &topic, &k->k_topics[i])) != RL_OK)
			return rv;
		for (size_t j = 0; j < i; j++)
			if (strcmp(k->k_topics[j], k->k_topics[i]) == 0)
				return fail(p, topic.loc, "%s: topic '%s' is listed twice", f->path,
				    k->k_topics[i]);
	}
	return RL_OK;
}

static rl_err
parse_properties(parser *p, const field *f, rl_kafka_source *k)
{
	char what[80];
	if (f->node == NULL)
		return RL_OK;
	if (!fy_node_is_mapping(f->node))
		return fail(p, f->loc,
		    "%s: expected a mapping of librdkafka properties like "
		    "{fetch.wait.max.ms: 100}, got %s",
		    f->path, describe(f->node, what, sizeof(what)));
	size_t n = (size_t)fy_node_mapping_item_count(f->node);
	k->k_prop_names = rl_calloc(n + 1, sizeof(char *));
	k->k_prop_values = rl_calloc(n + 1, sizeof(char *));
	void                *iter = NULL;
	struct fy_node_pair *pair;
	while ((pair = fy_node_mapping_iterate(f->node, &iter)) != NULL && k->k_nprops < n) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct fy_node *value = fy_node_pair_value(pair);
		rl_loc          key_loc = loc_of(key, f->loc);
		if (key == NULL || !fy_node_is_scalar(key) || is_null(key))
			return fail(p, key_loc, "%s: property names must be strings, got %s",
			    f->path, describe(key, what, sizeof(what)));
		field prop = { .node = value, .present = true, .key_loc = key_loc };
		prop.loc = loc_of(value, key_loc);
		size_t      len;
		const char *name = scalar_text(key, &len);
		join_path(prop.path, sizeof(prop.path), f->path, name, len);
		// A value is kept as written, so `true` and `100` reach librdkafka as text.
		if (value == NULL || !fy_node_is_scalar(value) || is_null(value))
			return fail(p, prop.loc,
			    "%s: expected a value (string, number or boolean), got %s", prop.path,
			    describe(value, what, sizeof(what)));
		size_t      vlen;
		const char *vtext = scalar_text(value, &vlen);
		if (memchr(name, '\0', len) != NULL || memchr(vtext, '\0', vlen) != NULL)
			return fail(p, prop.loc, "%s: must not contain a NUL character", prop.path);
		k->k_prop_names[k->k_nprops] = rl_strndup(name, len);
		k->k_prop_values[k->k_nprops] = rl_strndup(vtext, vlen);
		k->k_nprops++;
	}
	return RL_OK;
}

enum {
	KAFKA_BROKERS,
	KAFKA_TOPICS,
	KAFKA_PATTERN,
	KAFKA_GROUP,
	KAFKA_STARTING_OFFSETS,
	KAFKA_MAX_RATE,
	KAFKA_BACKPRESSURE,
	KAFKA_INITIAL_RATE,
	KAFKA_FAIL_ON_DATA_LOSS,
	KAFKA_PROPERTIES,
	KAFKA__COUNT,
};

static const key_spec kafka_keys[] = {
	[KAFKA_BROKERS] = { "brokers", true },
	[KAFKA_TOPICS] = { "topics", false },
	[KAFKA_PATTERN] = { "pattern", false },
	[KAFKA_GROUP] = { "group", false },
	[KAFKA_STARTING_OFFSETS] = { "starting_offsets", false },
	[KAFKA_MAX_RATE] = { "max_rate_per_partition", false },
	[KAFKA_BACKPRESSURE] = { "backpressure", false },
	[KAFKA_INITIAL_RATE] = { "initial_rate", false },
	[KAFKA_FAIL_ON_DATA_LOSS] = { "fail_on_data_loss", false },
	[KAFKA_PROPERTIES] = { "properties", false },
	[KAFKA__COUNT] = { NULL, false },
};

// parse_kafka fills k (zeroed, owned by the job) from a `kafka:` mapping.
static rl_err
parse_kafka(parser *p, const field *f, rl_kafka_source *k)
{
	field  v[KAFKA__COUNT];
	rl_err rv;
	if ((rv = get_fields(p, f, kafka_keys, "{brokers: HOST:PORT, topics: [NAME]}", v)) != RL_OK)
		return rv;
	k->k_loc = f->loc;
	k->k_starting_offsets = RL_START_EARLIEST;
	k->k_backpressure = true;
	k->k_initial_rate = RL_DEFAULT_INITIAL_RATE;
	k->k_fail_on_data_loss = true;
	if ((rv = get_string(
	         p, &v[KAFKA_BROKERS], "a broker list like host:port[,host:port]", &k->k_brokers))
	    != RL_OK)
		return rv;
	if (v[KAFKA_TOPICS].present && v[KAFKA_PATTERN].present)
		return fail(p, v[KAFKA_PATTERN].key_loc,
		    "%s: give either 'topics' or 'pattern', not both", f->path);
	if (!v[KAFKA_TOPICS].present && !v[KAFKA_PATTERN].present)
		return fail(
		    p, f->loc, "%s: missing 'topics' (e.g. topics: [words]) or 'pattern'", f->path);
	if (v[KAFKA_TOPICS].present && (rv = parse_topics(p, &v[KAFKA_TOPICS], k)) != RL_OK)
		return rv;
	if (v[KAFKA_PATTERN].present) {
		if ((rv = get_string(p, &v[KAFKA_PATTERN], "a regular expression over topic names",
		         &k->k_pattern))
		    != RL_OK)
			return rv;
		if ((rv = check_regex(p, &v[KAFKA_PATTERN], k->k_pattern)) != RL_OK)
			return rv;
	}
	if (v[KAFKA_GROUP].present
	    && (rv = get_string(p, &v[KAFKA_GROUP], "a consumer group name", &k->k_group)) != RL_OK)
		return rv;
	if (v[KAFKA_STARTING_OFFSETS].present) {
		int which;
		if ((rv = get_enum(p, &v[KAFKA_STARTING_OFFSETS], start_offsets_names, &which))
		    != RL_OK)
			return rv;
		k->k_starting_offsets = (rl_start_offsets)which;
	}
	if (v[KAFKA_MAX_RATE].present
	    && (rv = get_int(p, &v[KAFKA_MAX_RATE], 0, INT64_MAX, &k->k_max_rate_per_partition))
	        != RL_OK)
		return rv;
	if (v[KAFKA_BACKPRESSURE].present
	    && (rv = get_bool(p, &v[KAFKA_BACKPRESSURE], &k->k_backpressure)) != RL_OK)
		return rv;
	if (v[KAFKA_INITIAL_RATE].present
	    && (rv = get_int(p, &v[KAFKA_INITIAL_RATE], 1, INT64_MAX, &k->k_initial_rate)) != RL_OK)
		return rv;
	if (v[KAFKA_FAIL_ON_DATA_LOSS].present
	    && (rv = get_bool(p, &v[KAFKA_FAIL_ON_DATA_LOSS], &k->k_fail_on_data_loss)) != RL_OK)
		return rv;
	return parse_properties(p, &v[KAFKA_PROPERTIES], k);
}

// parse_other_input reads the `kafka:` of a union or join into s->s_source.
static rl_err
parse_other_input(parser *p, const field *kafka, rl_step *s)
{
	s->s_source = RL_NEW(rl_kafka_source);
	return parse_kafka(p, kafka, s->s_source);
}

static void
fn_usage(const rl_fn *allowed, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; allowed[i] != RL_FN_NONE && used < size; i++) {
		const struct fn_info *fi = &fn_infos[allowed[i]];
		int                   n = fi->arg == NULL
		                      ? snprintf(buf + used, size - used, "%s%s", i > 0 ? " | " : "", fi->name)
		                      : snprintf(buf + used, size - used, "%s{%s: %s}", i > 0 ? " | " : "", fi->name,
		                          fi->arg);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

// parse_fn_form reads a {NAME: ARG} function form (already picked by its key).
static rl_err
parse_fn_form(parser *p, const field *f, rl_fn form, rl_step *s)
{
	key_spec keys[] = { { fn_infos[form].name, true }, { NULL, false }, { NULL, false } };
	if (form == RL_FN_FIELD)
		keys[1] = (key_spec) { "sep", false };
	char shape[64];
	snprintf(shape, sizeof(shape), "{%s: %s}", fn_infos[form].name, fn_infos[form].arg);
	field  v[2];
	rl_err rv;
	if ((rv = get_fields(p, f, keys, shape, v)) != RL_OK)
		return rv;
	char what[80];
	switch (form) {
	case RL_FN_SPLIT:
		rv = get_string(p, &v[0], "a non-empty separator", &s->s_arg);
		break;
	case RL_FN_CONTAINS:
		rv = get_string(p, &v[0], "the text to look for", &s->s_arg);
		break;
	case RL_FN_REGEX:
		if ((rv = get_string(p, &v[0], "a regular expression", &s->s_arg)) == RL_OK)
			rv = check_regex(p, &v[0], s->s_arg);
		break;
	case RL_FN_JSON:
		if ((rv = get_string(p, &v[0], "a field path like user.id", &s->s_arg)) == RL_OK
		    && !is_field_path(s->s_arg))
			rv = fail(p, v[0].loc,
			    "%s: %s is not a field path (use names separated by dots, e.g. "
			    "user.id)",
			    v[0].path, describe(v[0].node, what, sizeof(what)));
		break;
	case RL_FN_UDF:
		if ((rv = get_string(p, &v[0], "a function name", &s->s_arg)) == RL_OK
		    && !is_identifier(s->s_arg))
			rv = fail(p, v[0].loc,
			    "%s: %s is not a function name (use a C identifier such as my_fn)",
			    v[0].path, describe(v[0].node, what, sizeof(what)));
		break;
	case RL_FN_FIELD:
		if ((rv = get_int(p, &v[0], 1, INT64_MAX, &s->s_field)) != RL_OK)
			break;
		if (!v[1].present) {
			rv = fail(p, f->loc,
			    "%s: {field: N} needs a separator as well, e.g. {field: 2, sep: \",\"}",
			    f->path);
			break;
		}
		rv = get_string(p, &v[1], "a non-empty separator", &s->s_arg);
		break;
	default:
		rv = RL_ERR_INTERNAL;
		break;
	}
	if (rv == RL_OK)
		s->s_fn = form;
	return rv;
}

// parse_fn reads a function position: a bare name (`words`) or one of the
// {NAME: ARG} forms, among `allowed`.
static rl_err
parse_fn(parser *p, const field *f, const rl_fn *allowed, rl_step *s)
{
	char usage[200], what[80];
	fn_usage(allowed, usage, sizeof(usage));
	if (f->node == NULL)
		return fail(p, f->loc, "%s: missing function (expected %s)", f->path, usage);
	if (fy_node_is_scalar(f->node)) {
		size_t      len;
		const char *text = scalar_text(f->node, &len);
		for (size_t i = 0; allowed[i] != RL_FN_NONE; i++) {
			const struct fn_info *fi = &fn_infos[allowed[i]];
			if (!text_is(text, len, fi->name))
				continue;
			if (fi->arg != NULL)
				return fail(p, f->loc, "%s: '%s' needs an argument: {%s: %s}",
				    f->path, fi->name, fi->name, fi->arg);
			s->s_fn = allowed[i];
			return RL_OK;
		}
		return fail(p, f->loc, "%s: unknown function %s (expected %s)", f->path,
		    describe(f->node, what, sizeof(what)), usage);
	}
	if (!fy_node_is_mapping(f->node) || fy_node_mapping_item_count(f->node) == 0)
		return fail(p, f->loc, "%s: expected %s, got %s", f->path, usage,
		    fy_node_is_mapping(f->node) ? "{}" : describe(f->node, what, sizeof(what)));
	// The first key that names a form decides which form this is.
	void                *iter = NULL;
	struct fy_node_pair *pair;
	struct fy_node      *first_key = NULL;
	while ((pair = fy_node_mapping_iterate(f->node, &iter)) != NULL) {
		struct fy_node *key = fy_node_pair_key(pair);
		if (first_key == NULL)
			first_key = key;
		if (key == NULL || !fy_node_is_scalar(key))
			continue;
		size_t      len;
		const char *text = scalar_text(key, &len);
		for (size_t i = 0; allowed[i] != RL_FN_NONE; i++)
			if (fn_infos[allowed[i]].arg != NULL
			    && text_is(text, len, fn_infos[allowed[i]].name))
				return parse_fn_form(p, f, allowed[i], s);
	}
	return fail(p, loc_of(first_key, f->loc), "%s: unknown argument %s (expected %s)", f->path,
	    describe(first_key, what, sizeof(what)), usage);
}

// window_dims reads length (required) and slide (default: the batch interval):
// positive multiples of the batch interval, slide <= length.
static rl_err
window_dims(parser *p, const field *length, const field *slide, rl_step *s)
{
	char         what[80];
	const field *dims[] = { length, slide };
	int64_t      ms[2] = { 0, p->batch_ms };
	rl_err       rv;
	for (int i = 0; i < 2; i++) {
		if (!dims[i]->present)
			continue;
		if ((rv = get_duration(p, dims[i], &ms[i])) != RL_OK)
			return rv;
		if (ms[i] <= 0)
			return fail(p, dims[i]->loc, "%s: must be longer than 0", dims[i]->path);
		if (ms[i] % p->batch_ms != 0)
			return fail(p, dims[i]->loc,
			    "%s: %s is not a multiple of the batch interval (%" PRId64 "ms)",
			    dims[i]->path, describe(dims[i]->node, what, sizeof(what)),
			    p->batch_ms);
	}
	if (ms[1] > ms[0])
		return fail(p, slide->present ? slide->loc : length->loc,
		    "%s: slide (%" PRId64 "ms) must not be longer than length (%" PRId64 "ms)",
		    slide->path, ms[1], ms[0]);
	s->s_length_ms = ms[0];
	s->s_slide_ms = ms[1];
	return RL_OK;
}

static rl_err
parse_window(parser *p, const field *f, rl_step *s)
{
	static const key_spec keys[] = { { "length", true }, { "slide", false }, { NULL, false } };
	field                 v[2];
	rl_err                rv;
	if ((rv = get_fields(p, f, keys, "{length: 30s, slide: 10s}", v)) != RL_OK)
		return rv;
	return window_dims(p, &v[0], &v[1], s);
}

static rl_err
parse_reduce_window(parser *p, const field *f, rl_step *s)
{
	static const key_spec keys[] = { { "fn", true }, { "length", true }, { "slide", false },
		{ "inverse", false }, { NULL, false } };
	field                 v[4];
	rl_err                rv;
	if ((rv = get_fields(p, f, keys, "{fn: sum, length: 30s, slide: 10s}", v)) != RL_OK)
		return rv;
	if ((rv = parse_fn(p, &v[0], reduce_fns, s)) != RL_OK)
		return rv;
	if ((rv = window_dims(p, &v[1], &v[2], s)) != RL_OK)
		return rv;
	if (v[3].present && (rv = get_bool(p, &v[3], &s->s_inverse)) != RL_OK)
		return rv;
	if (s->s_inverse && (s->s_fn == RL_FN_MIN || s->s_fn == RL_FN_MAX))
		return fail(p, v[3].loc,
		    "%s: '%s' has no inverse (inverse: true needs sum or count)", v[3].path,
		    rl_fn_name(s->s_fn));
	return RL_OK;
}

static rl_err
parse_map_with_state(parser *p, const field *f, rl_step *s)
{
	static const key_spec keys[] = { { "fn", true }, { "timeout", false }, { NULL, false } };
	field                 v[2];
	rl_err                rv;
	if ((rv = get_fields(p, f, keys, "{fn: sum, timeout: 10m}", v)) != RL_OK)
		return rv;
	if ((rv = parse_fn(p, &v[0], reduce_fns, s)) != RL_OK)
		return rv;
	char text[4];
	s->s_num = 0;
	if (!v[1].present || (scalar_copy(v[1].node, text, sizeof(text)) && strcmp(text, "0") == 0))
		return RL_OK;
	return get_duration(p, &v[1], &s->s_num);
}

static rl_err parse_pipeline(parser *p, const field *f, rl_step **steps, size_t *nsteps);

static rl_err
parse_join(parser *p, const field *f, rl_step *s)
{
	static const key_spec keys[]
	    = { { "kafka", true }, { "pipeline", false }, { "kind", false }, { NULL, false } };
	field  v[3];
	rl_err rv;
	if ((rv = get_fields(p, f, keys, "{kafka: {...}, pipeline: [...], kind: inner}", v))
	    != RL_OK)
		return rv;
	if ((rv = parse_other_input(p, &v[0], s)) != RL_OK)
		return rv;
	if (v[1].present && (rv = parse_pipeline(p, &v[1], &s->s_sub, &s->s_nsub)) != RL_OK)
		return rv;
	int kind = 0;
	if (v[2].present && (rv = get_enum(p, &v[2], join_kind_names, &kind)) != RL_OK)
		return rv;
	s->s_left = kind == 1;
	return RL_OK;
}

static rl_err
parse_step_arg(parser *p, const field *f, rl_step *s)
{
	static const key_spec kafka_only[] = { { "kafka", true }, { NULL, false } };
	char                  what[80];
	field                 v[1];
	rl_err                rv;
	switch (s->s_kind) {
	case RL_OP_MAP:
		return parse_fn(p, f, map_fns, s);
	case RL_OP_FLAT_MAP:
		return parse_fn(p, f, flat_map_fns, s);
	case RL_OP_FILTER:
		return parse_fn(p, f, filter_fns, s);
	case RL_OP_KEY_BY:
		return parse_fn(p, f, key_by_fns, s);
	case RL_OP_MAP_VALUES:
		return parse_fn(p, f, map_values_fns, s);
	case RL_OP_REDUCE_BY_KEY:
	case RL_OP_UPDATE_STATE_BY_KEY:
		return parse_fn(p, f, reduce_fns, s);
	case RL_OP_COUNT_BY_VALUE:
		if (f->node != NULL
		    && !(fy_node_is_mapping(f->node) && fy_node_mapping_item_count(f->node) == 0))
			return fail(p, f->loc,
			    "%s: takes no argument (write 'count_by_value: {}'), got %s", f->path,
			    describe(f->node, what, sizeof(what)));
		return RL_OK;
	case RL_OP_WINDOW:
	case RL_OP_COUNT_BY_WINDOW:
		return parse_window(p, f, s);
	case RL_OP_REDUCE_BY_KEY_AND_WINDOW:
		return parse_reduce_window(p, f, s);
	case RL_OP_MAP_WITH_STATE:
		return parse_map_with_state(p, f, s);
	case RL_OP_UNION:
		if ((rv = get_fields(p, f, kafka_only, "{kafka: {brokers: ..., topics: [...]}}", v))
		    != RL_OK)
			return rv;
		return parse_other_input(p, &v[0], s);
	case RL_OP_JOIN:
		return parse_join(p, f, s);
	case RL_OP_REPARTITION:
		return get_int(p, f, 1, RL_PARTITIONS_MAX, &s->s_num);
	case RL_OP__COUNT:
		break;
	}
	return RL_ERR_INTERNAL;
}

static rl_err
parse_step(parser *p, struct fy_node *node, rl_loc at, rl_step *s)
{
	char what[80];
	s->s_loc = at;
	if (node == NULL || !fy_node_is_mapping(node))
		return fail(p, at,
		    "a pipeline step is one operator and its argument, e.g. '- map: lower'; got %s",
		    describe(node, what, sizeof(what)));
	int                  n = fy_node_mapping_item_count(node);
	void                *iter = NULL;
	struct fy_node_pair *pair = fy_node_mapping_iterate(node, &iter);
	if (n != 1 || pair == NULL) {
		if (n == 0)
			return fail(p, at,
			    "empty pipeline step (expected one operator, e.g. '- map: lower')");
		struct fy_node_pair *second = fy_node_mapping_iterate(node, &iter);
		char                 k1[80], k2[80];
		return fail(p, at,
		    "a pipeline step has exactly one operator, this one has %d keys (%s, %s%s); "
		    "start each operator with its own '- '",
		    n, describe(fy_node_pair_key(pair), k1, sizeof(k1)),
		    describe(fy_node_pair_key(second), k2, sizeof(k2)), n > 2 ? ", ..." : "");
	}
	struct fy_node *key = fy_node_pair_key(pair);
	rl_loc          key_loc = loc_of(key, at);
	size_t          len = 0;
	const char     *text = key != NULL && fy_node_is_scalar(key) ? scalar_text(key, &len) : "";
	int             kind;
	for (kind = 0; kind < RL_OP__COUNT; kind++)
		if (text_is(text, len, op_names[kind]))
			break;
	if (kind == RL_OP__COUNT) {
		char   allowed[400];
		size_t used = 0;
		allowed[0] = '\0';
		for (int i = 0; i < RL_OP__COUNT && used < sizeof(allowed); i++) {
			int w = snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
			    i > 0 ? ", " : "", op_names[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		return fail(p, key_loc, "unknown operator %s (expected one of: %s)",
		    describe(key, what, sizeof(what)), allowed);
	}
	s->s_kind = (rl_op_kind)kind;
	struct fy_node *value = fy_node_pair_value(pair);
	field arg = { .node = is_null(value) ? NULL : value, .present = true, .key_loc = key_loc };
	arg.loc = loc_of(arg.node, key_loc);
	set_path(arg.path, sizeof(arg.path), "%s", op_names[kind]);
	return parse_step_arg(p, &arg, s);
}

// parse_pipeline reads a non-empty list of steps into *steps (owned by the
// caller's job from the start, so a half-read pipeline is freed with it).
static rl_err
parse_pipeline(parser *p, const field *f, rl_step **steps, size_t *nsteps)
{
	char what[80];
	if (f->node == NULL || !fy_node_is_sequence(f->node)
	    || fy_node_sequence_item_count(f->node) <= 0)
		return fail(p, f->loc,
		    "%s: expected a non-empty list of steps (e.g. '- flat_map: words'), got %s",
		    f->path,
		    fy_node_is_sequence(f->node) ? "[]" : describe(f->node, what, sizeof(what)));
	size_t n = (size_t)fy_node_sequence_item_count(f->node);
	*steps = rl_calloc(n, sizeof(rl_step));
	*nsteps = n;
	void           *iter = NULL;
	struct fy_node *item;
	rl_err          rv;
	for (size_t i = 0; (item = fy_node_sequence_iterate(f->node, &iter)) != NULL && i < n; i++)
		if ((rv = parse_step(
		         p, is_null(item) ? NULL : item, loc_of(item, f->loc), &(*steps)[i]))
		    != RL_OK)
			return rv;
	return RL_OK;
}

enum { SINK_FILES, SINK_PRINT, SINK_KAFKA, SINK__COUNT };

static rl_err
parse_sink(parser *p, const field *f, rl_sink *k)
{
	static const key_spec keys[] = {
		[SINK_FILES] = { "files", false },
		[SINK_PRINT] = { "print", false },
		[SINK_KAFKA] = { "kafka", false },
		[SINK__COUNT] = { NULL, false },
	};
	field  v[SINK__COUNT];
	rl_err rv;
	if ((rv = get_fields(p, f, keys, "{files: {path: DIR}}", v)) != RL_OK)
		return rv;
	int which = -1;
	for (int i = 0; i < SINK__COUNT; i++) {
		if (!v[i].present)
			continue;
		if (which >= 0)
			return fail(p, v[i].key_loc,
			    "%s: only one sink is allowed, found '%s' and '%s'", f->path,
			    keys[which].name, keys[i].name);
		which = i;
	}
	if (which < 0)
		return fail(p, f->loc,
		    "%s: expected one of: files, print, kafka (e.g. files: {path: /tmp/out})",
		    f->path);
	const field *sf = &v[which];
	k->k_loc = sf->key_loc;
	switch (which) {
	case SINK_FILES: {
		static const key_spec files_keys[] = { { "path", true }, { NULL, false } };
		field                 fv[1];
		k->k_kind = RL_SINK_FILES;
		if ((rv = get_fields(p, sf, files_keys, "{path: DIR}", fv)) != RL_OK)
			return rv;
		return get_string(p, &fv[0], "a directory path", &k->k_path);
	}
	case SINK_PRINT: {
		static const key_spec print_keys[] = { { "num", false }, { NULL, false } };
		field                 pv[1];
		k->k_kind = RL_SINK_PRINT;
		k->k_num = 10;
		if ((rv = get_fields(p, sf, print_keys, "{num: 10}", pv)) != RL_OK)
			return rv;
		return pv[0].present ? get_int(p, &pv[0], 1, INT64_MAX, &k->k_num) : RL_OK;
	}
	default: {
		static const key_spec kafka_sink_keys[] = { { "brokers", true }, { "topic", true },
			{ "exactly_once", false }, { NULL, false } };
		field                 kv[3];
		k->k_kind = RL_SINK_KAFKA;
		k->k_exactly_once = false;
		if ((rv = get_fields(
		         p, sf, kafka_sink_keys, "{brokers: HOST:PORT, topic: NAME}", kv))
		    != RL_OK)
			return rv;
		if ((rv = get_string(
		         p, &kv[0], "a broker list like host:port[,host:port]", &k->k_brokers))
		    != RL_OK)
			return rv;
		if ((rv = get_topic(p, &kv[1], &k->k_topic)) != RL_OK)
			return rv;
		return kv[2].present ? get_bool(p, &kv[2], &k->k_exactly_once) : RL_OK;
	}
	}
}

enum {
	JOB_NAME,
	JOB_BATCH,
	JOB_CATCH_UP,
	JOB_SHUFFLE_PARTITIONS,
	JOB_SOURCE,
	JOB_PIPELINE,
	JOB_SINK,
	JOB__COUNT,
};

static const key_spec job_keys[] = {
	[JOB_NAME] = { "name", true },
	[JOB_BATCH] = { "batch", true },
	[JOB_CATCH_UP] = { "catch_up", false },
	[JOB_SHUFFLE_PARTITIONS] = { "shuffle_partitions", false },
	[JOB_SOURCE] = { "source", true },
	[JOB_PIPELINE] = { "pipeline", true },
	[JOB_SINK] = { "sink", true },
	[JOB__COUNT] = { NULL, false },
};

// reject_aliases refuses *alias nodes anywhere: expanding them is how a tiny
// file becomes a huge tree (the billion laughs), and job files come from users.
static rl_err
reject_aliases(parser *p, struct fy_node *node)
{
	void  *iter = NULL;
	rl_err rv;
	if (node == NULL)
		return RL_OK;
	if (fy_node_is_alias(node)) {
		size_t      len;
		const char *name = scalar_text(node, &len);
		return fail(p, loc_of(node, (rl_loc) { 1, 1 }),
		    "aliases (*%.*s) are not supported in a job file; write the value out instead",
		    (int)(len > 48 ? 48 : len), name);
	}
	if (fy_node_is_sequence(node)) {
		struct fy_node *item;
		while ((item = fy_node_sequence_iterate(node, &iter)) != NULL)
			if ((rv = reject_aliases(p, item)) != RL_OK)
				return rv;
	} else if (fy_node_is_mapping(node)) {
		struct fy_node_pair *pair;
		while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL)
			if ((rv = reject_aliases(p, fy_node_pair_key(pair))) != RL_OK
			    || (rv = reject_aliases(p, fy_node_pair_value(pair))) != RL_OK)
				return rv;
	}
	return RL_OK;
}

static rl_err
parse_job(parser *p, struct fy_node *root, rl_job *job)
{
	field top = { .path = "", .node = root, .present = true, .loc = { 1, 1 } };
	top.loc = top.key_loc = loc_of(root, top.loc);
	field  v[JOB__COUNT];
	char   what[80];
	rl_err rv;
	if (is_null(root))
		return fail(p, top.loc,
		    "the job file is empty (expected keys name, batch, source, "
		    "pipeline and sink)");
	if ((rv = reject_aliases(p, root)) != RL_OK)
		return rv;
	if ((rv = get_fields(p, &top, job_keys, "name, batch, source, pipeline, sink", v)) != RL_OK)
		return rv;

	if ((rv = get_string(p, &v[JOB_NAME], "a job name", &job->j_name)) != RL_OK)
		return rv;
	if (!is_job_name(job->j_name))
		return fail(p, v[JOB_NAME].loc,
		    "name: %s is not a valid job name (use 1 to %d of a-z, 0-9 and '-')",
		    describe(v[JOB_NAME].node, what, sizeof(what)), NAME_MAX_LEN);

	if ((rv = get_duration(p, &v[JOB_BATCH], &job->j_batch_ms)) != RL_OK)
		return rv;
	if (job->j_batch_ms < BATCH_MIN_MS || job->j_batch_ms > BATCH_MAX_MS)
		return fail(p, v[JOB_BATCH].loc, "batch: %s is out of range (10ms to 1h)",
		    describe(v[JOB_BATCH].node, what, sizeof(what)));
	p->batch_ms = job->j_batch_ms;

	job->j_catch_up = RL_CATCH_UP_ALL;
	if (v[JOB_CATCH_UP].present) {
		int which;
		if ((rv = get_enum(p, &v[JOB_CATCH_UP], catch_up_names, &which)) != RL_OK)
			return rv;
		job->j_catch_up = (rl_catch_up)which;
	}
	job->j_shuffle_partitions = 0;
	if (v[JOB_SHUFFLE_PARTITIONS].present
	    && (rv = get_int(p, &v[JOB_SHUFFLE_PARTITIONS], 1, RL_PARTITIONS_MAX,
	            &job->j_shuffle_partitions))
	        != RL_OK)
		return rv;

	static const key_spec source_keys[] = { { "kafka", true }, { NULL, false } };
	field                 sv[1];
	if ((rv = get_fields(
	         p, &v[JOB_SOURCE], source_keys, "{kafka: {brokers: ..., topics: [...]}}", sv))
	    != RL_OK)
		return rv;
	if ((rv = parse_kafka(p, &sv[0], &job->j_source)) != RL_OK)
		return rv;
	if ((rv = parse_pipeline(p, &v[JOB_PIPELINE], &job->j_steps, &job->j_nsteps)) != RL_OK)
		return rv;
	return parse_sink(p, &v[JOB_SINK], &job->j_sink);
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

// yaml_error turns libfyaml's first collected error into errbuf.
static rl_err
yaml_error(parser *p, struct fy_diag *diag)
{
	void                 *iter = NULL;
	struct fy_diag_error *e;
	while ((e = fy_diag_errors_iterate(diag, &iter)) != NULL)
		if (e->type >= FYET_ERROR)
			// Collected positions are already 1-based.
			return fail(p, (rl_loc) { .line = e->line, .col = e->column }, "%s",
			    e->msg != NULL ? e->msg : "invalid YAML");
	return fail(p, (rl_loc) { 1, 1 }, "invalid YAML");
}

// check_single_document rejects a second, non-empty document in the stream.
static rl_err
check_single_document(parser *p, struct fy_parser *fyp, struct fy_diag *diag)
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
			return fail(
			    p, at, "a job file holds one YAML document; a second one starts here");
		}
		fy_parse_document_destroy(fyp, extra);
	}
	return yaml_failed(fyp, diag) ? yaml_error(p, diag) : RL_OK;
}

static rl_err
yaml_setup_error(parser *p)
{
	if (p->errbuf != NULL && p->errlen > 0)
		snprintf(p->errbuf, p->errlen, "%s: cannot set up the YAML parser (out of memory)",
		    p->filename);
	return RL_ERR_NOMEM;
}

// check_text refuses what is not UTF-8 text before libfyaml sees it: YAML is
// Unicode, and libfyaml 0.7 loops forever on some invalid bytes (one in a
// directive line is enough). Job text also comes from the network, in every
// task launch.
static rl_err
check_text(parser *p, const char *text, size_t len)
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
		return fail(p, at, "a NUL byte: a job file is UTF-8 text");
	return fail(p, at, "byte 0x%02X is not UTF-8: a job file is UTF-8 text", *bad);
}

rl_err
rl_job_parse(
    const char *text, size_t len, const char *filename, rl_job **ret, char *errbuf, size_t errlen)
{
	parser p = {
		.filename = filename != NULL ? filename : "<job>",
		.errbuf = errbuf,
		.errlen = errlen,
	};
	if (ret == NULL || (text == NULL && len > 0)) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: no job text given", p.filename);
		return RL_ERR_INVAL;
	}
	rl_err  rv;
	rl_job *job = RL_NEW(rl_job);
	job->j_text = rl_malloc(len + 1);
	if (len > 0)
		memcpy(job->j_text, text, len);
	job->j_text[len] = '\0';
	job->j_text_len = len;
	job->j_filename = rl_strdup(p.filename);
	job->j_spec_hash = rl_hash64(job->j_text, len);
	if ((rv = check_text(&p, job->j_text, len)) != RL_OK)
		goto err_job;

	// Collect libfyaml's diagnostics instead of letting it print them.
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (diag == NULL) {
		rv = yaml_setup_error(&p);
		goto err_job;
	}
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg cfg = {
		.flags = FYPCF_QUIET, // aliases stay unresolved: see reject_aliases
		.diag = diag,
	};
	struct fy_parser *fyp = fy_parser_create(&cfg);
	if (fyp == NULL) {
		rv = yaml_setup_error(&p);
		goto err_diag;
	}
	if (fy_parser_set_string(fyp, job->j_text, len) != 0) {
		rv = yaml_setup_error(&p);
		goto err_parser;
	}
	struct fy_document *doc = fy_parse_load_document(fyp);
	if (doc == NULL) {
		rv = yaml_failed(fyp, diag) ? yaml_error(&p, diag)
		                            : fail(&p, (rl_loc) { 1, 1 },
		                                "the job file is empty (expected keys name, batch, "
		                                "source, pipeline and sink)");
		goto err_parser;
	}
	if ((rv = check_single_document(&p, fyp, diag)) != RL_OK)
		goto err_doc;
	if ((rv = parse_job(&p, fy_document_root(doc), job)) != RL_OK)
		goto err_doc;
	fy_parse_document_destroy(fyp, doc);
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	*ret = job;
	return RL_OK;

err_doc:
	fy_parse_document_destroy(fyp, doc);
err_parser:
	fy_parser_destroy(fyp);
err_diag:
	fy_diag_destroy(diag);
err_job:
	rl_job_destroy(job);
	return rv;
}

static rl_err
io_error(const char *path, const char *reason, char *errbuf, size_t errlen)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s: %s", path, reason);
	return RL_ERR_IO;
}

rl_err
rl_job_load(const char *path, rl_job **ret, char *errbuf, size_t errlen)
{
	if (path == NULL || ret == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "no job file given");
		return RL_ERR_INVAL;
	}
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return io_error(path, strerror(errno), errbuf, errlen);
	size_t cap = 4096, len = 0;
	char  *text = rl_malloc(cap);
	rl_err rv;
	for (;;) {
		if (len == cap) {
			if (cap >= JOB_FILE_MAX_SIZE && fgetc(fp) != EOF) {
				rv = io_error(path, "larger than 1 MiB, too large for a job file",
				    errbuf, errlen);
				goto err_text;
			}
			if (cap >= JOB_FILE_MAX_SIZE)
				break;
			cap = rl_growth(cap, len + 1, 4096);
			text = rl_realloc(text, cap);
		}
		size_t got = fread(text + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		rv = io_error(path, strerror(errno), errbuf, errlen);
		goto err_text;
	}
	fclose(fp);
	rv = rl_job_parse(text, len, path, ret, errbuf, errlen);
	rl_free(text);
	return rv;

err_text:
	rl_free(text);
	fclose(fp);
	return rv;
}

static void
kafka_source_fini(rl_kafka_source *k)
{
	rl_free(k->k_brokers);
	for (size_t i = 0; k->k_topics != NULL && i < k->k_ntopics; i++)
		rl_free(k->k_topics[i]);
	rl_free(k->k_topics);
	rl_free(k->k_pattern);
	rl_free(k->k_group);
	for (size_t i = 0; i < k->k_nprops; i++) {
		rl_free(k->k_prop_names[i]);
		rl_free(k->k_prop_values[i]);
	}
	rl_free(k->k_prop_names);
	rl_free(k->k_prop_values);
}

static void
steps_free(rl_step *steps, size_t nsteps)
{
	for (size_t i = 0; steps != NULL && i < nsteps; i++) {
		rl_free(steps[i].s_arg);
		if (steps[i].s_source != NULL) {
			kafka_source_fini(steps[i].s_source);
			rl_free(steps[i].s_source);
		}
		steps_free(steps[i].s_sub, steps[i].s_nsub);
	}
	rl_free(steps);
}

void
rl_job_destroy(rl_job *job)
{
	if (job == NULL)
		return;
	rl_free(job->j_name);
	kafka_source_fini(&job->j_source);
	steps_free(job->j_steps, job->j_nsteps);
	rl_free(job->j_sink.k_path);
	rl_free(job->j_sink.k_brokers);
	rl_free(job->j_sink.k_topic);
	rl_free(job->j_text);
	rl_free(job->j_filename);
	rl_free(job);
}

const char *
rl_op_name(rl_op_kind kind)
{
	if ((unsigned)kind >= RL_OP__COUNT)
		return "unknown";
	return op_names[kind];
}

const char *
rl_fn_name(rl_fn fn)
{
	if ((unsigned)fn >= FN_COUNT)
		return "unknown";
	return fn_infos[fn].name;
}
