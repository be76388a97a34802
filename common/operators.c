// SPDX-License-Identifier: Apache-2.0
// The `pipeline:` grammar: one table entry per operator, its functions and argument forms.
#include "common/operators.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/sources/kafka.h"

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

static const char *const join_kind_names[] = { "inner", "left", NULL };

typedef struct parser {
	rl_yaml_errbuf *eb;
	int64_t         batch_ms; // windows are multiples of it
} parser;

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
parse_fn_form(parser *p, const rl_yaml_field *f, rl_fn form, rl_step *s)
{
	rl_yaml_key keys[] = { { fn_infos[form].name, true }, { NULL, false }, { NULL, false } };
	if (form == RL_FN_FIELD)
		keys[1] = (rl_yaml_key) { "sep", false };
	char shape[64];
	snprintf(shape, sizeof(shape), "{%s: %s}", fn_infos[form].name, fn_infos[form].arg);
	rl_yaml_field v[2];
	rl_err        rv;
	if ((rv = rl_yaml_get_fields(f, keys, shape, v, p->eb)) != RL_OK)
		return rv;
	char what[80];
	switch (form) {
	case RL_FN_SPLIT:
		rv = rl_yaml_get_string(&v[0], "a non-empty separator", &s->s_arg, p->eb);
		break;
	case RL_FN_CONTAINS:
		rv = rl_yaml_get_string(&v[0], "the text to look for", &s->s_arg, p->eb);
		break;
	case RL_FN_REGEX:
		rv = rl_yaml_get_regex(&v[0], "a regular expression", &s->s_arg, p->eb);
		break;
	case RL_FN_JSON:
		if ((rv = rl_yaml_get_string(&v[0], "a field path like user.id", &s->s_arg, p->eb))
		        == RL_OK
		    && !is_field_path(s->s_arg))
			rv = rl_yaml_fail(p->eb, v[0].loc,
			    "%s: %s is not a field path (use names separated by dots, e.g. "
			    "user.id)",
			    v[0].path, rl_yaml_describe(v[0].node, what, sizeof(what)));
		break;
	case RL_FN_UDF:
		if ((rv = rl_yaml_get_string(&v[0], "a function name", &s->s_arg, p->eb)) == RL_OK
		    && !is_identifier(s->s_arg))
			rv = rl_yaml_fail(p->eb, v[0].loc,
			    "%s: %s is not a function name (use a C identifier such as my_fn)",
			    v[0].path, rl_yaml_describe(v[0].node, what, sizeof(what)));
		break;
	case RL_FN_FIELD:
		if ((rv = rl_yaml_get_int(&v[0], 1, INT64_MAX, &s->s_field, p->eb)) != RL_OK)
			break;
		if (!v[1].present) {
			rv = rl_yaml_fail(p->eb, f->loc,
			    "%s: {field: N} needs a separator as well, e.g. {field: 2, sep: \",\"}",
			    f->path);
			break;
		}
		rv = rl_yaml_get_string(&v[1], "a non-empty separator", &s->s_arg, p->eb);
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
parse_fn(parser *p, const rl_yaml_field *f, const rl_fn *allowed, rl_step *s)
{
	char usage[200], what[80];
	fn_usage(allowed, usage, sizeof(usage));
	if (f->node == NULL)
		return rl_yaml_fail(
		    p->eb, f->loc, "%s: missing function (expected %s)", f->path, usage);
	if (rl_yaml_is_scalar(f->node)) {
		for (size_t i = 0; allowed[i] != RL_FN_NONE; i++) {
			const struct fn_info *fi = &fn_infos[allowed[i]];
			if (!rl_yaml_scalar_is(f->node, fi->name))
				continue;
			if (fi->arg != NULL)
				return rl_yaml_fail(p->eb, f->loc,
				    "%s: '%s' needs an argument: {%s: %s}", f->path, fi->name,
				    fi->name, fi->arg);
			s->s_fn = allowed[i];
			return RL_OK;
		}
		return rl_yaml_fail(p->eb, f->loc, "%s: unknown function %s (expected %s)", f->path,
		    rl_yaml_describe(f->node, what, sizeof(what)), usage);
	}
	if (!rl_yaml_is_mapping(f->node) || rl_yaml_count(f->node) == 0)
		return rl_yaml_fail(p->eb, f->loc, "%s: expected %s, got %s", f->path, usage,
		    rl_yaml_is_mapping(f->node) ? "{}"
		                                : rl_yaml_describe(f->node, what, sizeof(what)));
	// The first key that names a form decides which form this is.
	rl_yaml_iter  it = { 0 };
	rl_yaml_entry e;
	rl_yaml_node *first_key = NULL;
	while (rl_yaml_map_next(f, &it, &e)) {
		if (first_key == NULL)
			first_key = e.key;
		for (size_t i = 0; allowed[i] != RL_FN_NONE; i++)
			if (fn_infos[allowed[i]].arg != NULL
			    && rl_yaml_scalar_is(e.key, fn_infos[allowed[i]].name))
				return parse_fn_form(p, f, allowed[i], s);
	}
	return rl_yaml_fail(p->eb, rl_yaml_loc(first_key, f->loc),
	    "%s: unknown argument %s (expected %s)", f->path,
	    rl_yaml_describe(first_key, what, sizeof(what)), usage);
}

// window_dims reads length (required) and slide (default: the batch interval):
// positive multiples of the batch interval, slide <= length.
static rl_err
window_dims(parser *p, const rl_yaml_field *length, const rl_yaml_field *slide, rl_step *s)
{
	char                 what[80];
	const rl_yaml_field *dims[] = { length, slide };
	int64_t              ms[2] = { 0, p->batch_ms };
	rl_err               rv;
	for (int i = 0; i < 2; i++) {
		if (!dims[i]->present)
			continue;
		if ((rv = rl_yaml_get_duration(dims[i], &ms[i], p->eb)) != RL_OK)
			return rv;
		if (ms[i] <= 0)
			return rl_yaml_fail(
			    p->eb, dims[i]->loc, "%s: must be longer than 0", dims[i]->path);
		if (ms[i] % p->batch_ms != 0)
			return rl_yaml_fail(p->eb, dims[i]->loc,
			    "%s: %s is not a multiple of the batch interval (%" PRId64 "ms)",
			    dims[i]->path, rl_yaml_describe(dims[i]->node, what, sizeof(what)),
			    p->batch_ms);
	}
	if (ms[1] > ms[0])
		return rl_yaml_fail(p->eb, slide->present ? slide->loc : length->loc,
		    "%s: slide (%" PRId64 "ms) must not be longer than length (%" PRId64 "ms)",
		    slide->path, ms[1], ms[0]);
	s->s_length_ms = ms[0];
	s->s_slide_ms = ms[1];
	return RL_OK;
}

// window_time reads a window's clock: time: batch (the default) | event |
// {json: PATH}, and allowed_lateness (event time only, default 0).
static rl_err
window_time(parser *p, const rl_yaml_field *time, const rl_yaml_field *lateness,
    const rl_yaml_field *late, rl_step *s)
{
	char   what[80];
	rl_err rv;
	if (time->present && rl_yaml_is_scalar(time->node)) {
		if (rl_yaml_scalar_is(time->node, "event"))
			s->s_event = true;
		else if (!rl_yaml_scalar_is(time->node, "batch"))
			return rl_yaml_fail(p->eb, time->loc,
			    "%s: expected batch, event or {json: PATH}, got %s", time->path,
			    rl_yaml_describe(time->node, what, sizeof(what)));
	} else if (time->present) {
		static const rl_yaml_key keys[] = { { "json", true }, { NULL, false } };
		rl_yaml_field            v[1];
		if ((rv = rl_yaml_get_fields(time, keys, "{json: PATH}", v, p->eb)) != RL_OK)
			return rv;
		if ((rv = rl_yaml_get_string(&v[0], "a JSON path such as \"ts\" or \"event.time\"",
		         &s->s_time_path, p->eb))
		    != RL_OK)
			return rv;
		s->s_event = true;
	}
	if (late->present) {
		if (!s->s_event)
			return rl_yaml_fail(p->eb, late->loc,
			    "%s: late is for event-time windows (time: event or time: {json: "
			    "PATH}); a batch-time window has no late data",
			    late->path);
		s->s_late = rl_calloc(1, sizeof(*s->s_late));
		if ((rv = rl_sink_conf_parse(late, s->s_late, p->eb)) != RL_OK)
			return rv;
	}
	if (!lateness->present)
		return RL_OK;
	if (!s->s_event)
		return rl_yaml_fail(p->eb, lateness->loc,
		    "%s: allowed_lateness is for event-time windows (time: event or "
		    "time: {json: PATH}); a batch-time window has no late data",
		    lateness->path);
	if ((rv = rl_yaml_get_duration(lateness, &s->s_lateness_ms, p->eb)) != RL_OK)
		return rv;
	if (s->s_lateness_ms < 0)
		return rl_yaml_fail(
		    p->eb, lateness->loc, "%s: must not be negative", lateness->path);
	return RL_OK;
}

// window, count_by_window: {length: 30s, slide: 10s, time: event, allowed_lateness: 5s}
static rl_err
parse_window(parser *p, const rl_yaml_field *f, rl_step *s)
{
	static const rl_yaml_key keys[]
	    = { { "length", true }, { "slide", false }, { "time", false },
		      { "allowed_lateness", false }, { "late", false }, { NULL, false } };
	rl_yaml_field v[5];
	rl_err        rv;
	if ((rv = rl_yaml_get_fields(f, keys, "{length: 30s, slide: 10s}", v, p->eb)) != RL_OK)
		return rv;
	if ((rv = window_dims(p, &v[0], &v[1], s)) != RL_OK)
		return rv;
	return window_time(p, &v[2], &v[3], &v[4], s);
}

// reduce_by_key_and_window: {fn: sum, length: 30s, slide: 10s, inverse: true}
// (or time: event, allowed_lateness: 5s instead of inverse)
static rl_err
parse_reduce_window(parser *p, const rl_yaml_field *f, rl_step *s)
{
	static const rl_yaml_key keys[] = { { "fn", true }, { "length", true }, { "slide", false },
		{ "inverse", false }, { "time", false }, { "allowed_lateness", false },
		{ "late", false }, { NULL, false } };
	rl_yaml_field            v[7];
	rl_err                   rv;
	if ((rv = rl_yaml_get_fields(f, keys, "{fn: sum, length: 30s, slide: 10s}", v, p->eb))
	    != RL_OK)
		return rv;
	if ((rv = parse_fn(p, &v[0], reduce_fns, s)) != RL_OK)
		return rv;
	if ((rv = window_dims(p, &v[1], &v[2], s)) != RL_OK)
		return rv;
	if (v[3].present && (rv = rl_yaml_get_bool(&v[3], &s->s_inverse, p->eb)) != RL_OK)
		return rv;
	if (s->s_inverse && s->s_fn != RL_FN_SUM && s->s_fn != RL_FN_COUNT)
		return rl_yaml_fail(p->eb, v[3].loc,
		    "%s: '%s' has no inverse (inverse: true needs sum or count); without "
		    "inverse the window folds its batches' partials at each slide",
		    v[3].path, s->s_fn == RL_FN_UDF ? "{udf: ...}" : rl_fn_name(s->s_fn));
	if ((rv = window_time(p, &v[4], &v[5], &v[6], s)) != RL_OK)
		return rv;
	if (s->s_inverse && s->s_event)
		return rl_yaml_fail(p->eb, v[3].loc,
		    "%s: inverse is for batch-time windows; an event-time window is emitted "
		    "once, when the watermark passes its end, and has nothing to take back",
		    v[3].path);
	return RL_OK;
}

// map_with_state: {fn: sum, timeout: 10m}; a timeout of 0 (the default) never expires.
static rl_err
parse_map_with_state(parser *p, const rl_yaml_field *f, rl_step *s)
{
	static const rl_yaml_key keys[] = { { "fn", true }, { "timeout", false }, { NULL, false } };
	rl_yaml_field            v[2];
	rl_err                   rv;
	if ((rv = rl_yaml_get_fields(f, keys, "{fn: sum, timeout: 10m}", v, p->eb)) != RL_OK)
		return rv;
	if ((rv = parse_fn(p, &v[0], reduce_fns, s)) != RL_OK)
		return rv;
	s->s_num = 0;
	if (!v[1].present || rl_yaml_scalar_is(v[1].node, "0"))
		return RL_OK;
	return rl_yaml_get_duration(&v[1], &s->s_num, p->eb);
}

// count_by_value takes no argument: nothing, or {}.
static rl_err
parse_no_argument(parser *p, const rl_yaml_field *f, rl_step *s)
{
	char what[80];
	(void)s;
	if (f->node != NULL && !(rl_yaml_is_mapping(f->node) && rl_yaml_count(f->node) == 0))
		return rl_yaml_fail(p->eb, f->loc,
		    "%s: takes no argument (write 'count_by_value: {}'), got %s", f->path,
		    rl_yaml_describe(f->node, what, sizeof(what)));
	return RL_OK;
}

// parse_other_input reads the `kafka:` of a union or join into s->s_source,
// with the Kafka source's own grammar.
static rl_err
parse_other_input(parser *p, const rl_yaml_field *kafka, rl_step *s)
{
	s->s_source = RL_NEW(rl_kafka_source);
	return rl_source_kafka_grammar.parse(kafka, s->s_source, p->eb);
}

// union: {kafka: {...}}
static rl_err
parse_union(parser *p, const rl_yaml_field *f, rl_step *s)
{
	static const rl_yaml_key keys[] = { { "kafka", true }, { NULL, false } };
	rl_yaml_field            v[1];
	rl_err                   rv;
	if ((rv = rl_yaml_get_fields(f, keys, "{kafka: {brokers: ..., topics: [...]}}", v, p->eb))
	    != RL_OK)
		return rv;
	return parse_other_input(p, &v[0], s);
}

static rl_err parse_pipeline(parser *p, const rl_yaml_field *f, rl_step **steps, size_t *nsteps);

// join: {kafka: {...}, pipeline: [...], kind: inner|left}
static rl_err
parse_join(parser *p, const rl_yaml_field *f, rl_step *s)
{
	static const rl_yaml_key keys[]
	    = { { "kafka", true }, { "pipeline", false }, { "kind", false }, { NULL, false } };
	rl_yaml_field v[3];
	rl_err        rv;
	if ((rv = rl_yaml_get_fields(
	         f, keys, "{kafka: {...}, pipeline: [...], kind: inner}", v, p->eb))
	    != RL_OK)
		return rv;
	if ((rv = parse_other_input(p, &v[0], s)) != RL_OK)
		return rv;
	if (v[1].present && (rv = parse_pipeline(p, &v[1], &s->s_sub, &s->s_nsub)) != RL_OK)
		return rv;
	int kind = 0;
	if (v[2].present && (rv = rl_yaml_get_enum(&v[2], join_kind_names, &kind, p->eb)) != RL_OK)
		return rv;
	s->s_left = kind == 1;
	return RL_OK;
}

// repartition: N
static rl_err
parse_partitions(parser *p, const rl_yaml_field *f, rl_step *s)
{
	return rl_yaml_get_int(f, 1, RL_PARTITIONS_MAX, &s->s_num, p->eb);
}

// Each operator's grammar: either the functions its argument may name
// (`map: lower`, `flat_map: {split: ","}`), or how it reads its argument.
static const struct op_grammar {
	const rl_fn *fns;
	rl_err (*parse)(parser *p, const rl_yaml_field *f, rl_step *s);
} op_grammars[RL_OP__COUNT] = {
	[RL_OP_MAP] = { .fns = map_fns },
	[RL_OP_FLAT_MAP] = { .fns = flat_map_fns },
	[RL_OP_FILTER] = { .fns = filter_fns },
	[RL_OP_KEY_BY] = { .fns = key_by_fns },
	[RL_OP_MAP_VALUES] = { .fns = map_values_fns },
	[RL_OP_REDUCE_BY_KEY] = { .fns = reduce_fns },
	[RL_OP_COUNT_BY_VALUE] = { .parse = parse_no_argument },
	[RL_OP_WINDOW] = { .parse = parse_window },
	[RL_OP_REDUCE_BY_KEY_AND_WINDOW] = { .parse = parse_reduce_window },
	[RL_OP_COUNT_BY_WINDOW] = { .parse = parse_window },
	[RL_OP_UPDATE_STATE_BY_KEY] = { .fns = reduce_fns },
	[RL_OP_MAP_WITH_STATE] = { .parse = parse_map_with_state },
	[RL_OP_UNION] = { .parse = parse_union },
	[RL_OP_JOIN] = { .parse = parse_join },
	[RL_OP_REPARTITION] = { .parse = parse_partitions },
};

// parse_step reads one list item: a mapping of one operator to its argument.
static rl_err
parse_step(parser *p, const rl_yaml_field *item, rl_step *s)
{
	char   what[80];
	rl_loc at = item->loc;
	s->s_loc = at;
	if (!rl_yaml_is_mapping(item->node))
		return rl_yaml_fail(p->eb, at,
		    "a pipeline step is one operator and its argument, e.g. '- map: lower'; got %s",
		    rl_yaml_describe(item->node, what, sizeof(what)));
	size_t        n = rl_yaml_count(item->node);
	rl_yaml_iter  it = { 0 };
	rl_yaml_entry op = { 0 };
	if (n == 0 || !rl_yaml_map_next(item, &it, &op))
		return rl_yaml_fail(
		    p->eb, at, "empty pipeline step (expected one operator, e.g. '- map: lower')");
	if (n != 1) {
		rl_yaml_entry second = { 0 };
		char          k1[80], k2[80];
		rl_yaml_map_next(item, &it, &second);
		return rl_yaml_fail(p->eb, at,
		    "a pipeline step has exactly one operator, this one has %zu keys (%s, %s%s); "
		    "start each operator with its own '- '",
		    n, rl_yaml_describe(op.key, k1, sizeof(k1)),
		    rl_yaml_describe(second.key, k2, sizeof(k2)), n > 2 ? ", ..." : "");
	}
	int kind;
	for (kind = 0; kind < RL_OP__COUNT; kind++)
		if (rl_yaml_scalar_is(op.key, op_names[kind]))
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
		return rl_yaml_fail(p->eb, op.value.key_loc,
		    "unknown operator %s (expected one of: %s)",
		    rl_yaml_describe(op.key, what, sizeof(what)), allowed);
	}
	s->s_kind = (rl_op_kind)kind;
	// Messages name the argument by its operator alone: "window.length".
	rl_yaml_field arg = op.value;
	snprintf(arg.path, sizeof(arg.path), "%s", op_names[kind]);
	const struct op_grammar *g = &op_grammars[kind];
	if (g->fns != NULL)
		return parse_fn(p, &arg, g->fns, s);
	return g->parse != NULL ? g->parse(p, &arg, s) : RL_ERR_INTERNAL;
}

// parse_pipeline reads a non-empty list of steps into *steps (owned by the
// caller from the start, so a half-read pipeline is freed with it).
static rl_err
parse_pipeline(parser *p, const rl_yaml_field *f, rl_step **steps, size_t *nsteps)
{
	size_t n;
	rl_err rv;
	if ((rv = rl_yaml_get_list(
	         f, "a non-empty list of steps (e.g. '- flat_map: words')", &n, p->eb))
	    != RL_OK)
		return rv;
	*steps = rl_calloc(n, sizeof(rl_step));
	*nsteps = n;
	rl_yaml_iter  it = { 0 };
	rl_yaml_field item;
	for (size_t i = 0; i < n && rl_yaml_list_next(f, &it, &item); i++)
		if ((rv = parse_step(p, &item, &(*steps)[i])) != RL_OK)
			return rv;
	return RL_OK;
}

rl_err
rl_pipeline_parse(const rl_yaml_field *f, int64_t batch_ms, rl_step **ret_steps, size_t *ret_n,
    rl_yaml_errbuf *eb)
{
	parser   p = { .eb = eb, .batch_ms = batch_ms };
	rl_step *steps = NULL;
	size_t   n = 0;
	rl_err   rv;
	if ((rv = parse_pipeline(&p, f, &steps, &n)) != RL_OK) {
		rl_steps_free(steps, n);
		return rv;
	}
	*ret_steps = steps;
	*ret_n = n;
	return RL_OK;
}

void
rl_steps_free(rl_step *steps, size_t n)
{
	for (size_t i = 0; steps != NULL && i < n; i++) {
		rl_free(steps[i].s_arg);
		rl_free(steps[i].s_time_path);
		rl_connector_conf_free(steps[i].s_late);
		if (steps[i].s_source != NULL) {
			rl_kafka_source_fini(steps[i].s_source);
			rl_free(steps[i].s_source);
		}
		rl_steps_free(steps[i].s_sub, steps[i].s_nsub);
	}
	rl_free(steps);
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
