// SPDX-License-Identifier: Apache-2.0
// The job file's top level: name, batch and the rest, dispatching source, pipeline and sink.
#include "common/jobfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/connector.h"
#include "common/grammar.h"
#include "common/hash.h"
#include "common/operators.h"
#include "common/yaml.h"

#define BATCH_MIN_MS 10
#define BATCH_MAX_MS (3600 * 1000)
#define NAME_MAX_LEN 64
#define JOB_FILE_MAX_SIZE (1024 * 1024)

// The connectors a job file may name, in the order messages list them:
// common/connector.h's lists, then any a test added. A connector's grammar
// lives beside it (common/sources/NAME.c, common/sinks/NAME.c).
#define RL_GRAMMAR_DECL(name) extern const rl_source_grammar rl_source_##name##_grammar;
RL_SOURCE_LIST(RL_GRAMMAR_DECL)
#undef RL_GRAMMAR_DECL
#define RL_GRAMMAR_DECL(name) extern const rl_sink_grammar rl_sink_##name##_grammar;
RL_SINK_LIST(RL_GRAMMAR_DECL)
#undef RL_GRAMMAR_DECL

#define CONNECTORS_MAX 16
#define RL_GRAMMAR_ENTRY(name) &rl_source_##name##_grammar,
static const rl_source_grammar *source_grammars[CONNECTORS_MAX]
    = { RL_SOURCE_LIST(RL_GRAMMAR_ENTRY) };
#undef RL_GRAMMAR_ENTRY
#define RL_GRAMMAR_ENTRY(name) &rl_sink_##name##_grammar,
static const rl_sink_grammar *sink_grammars[CONNECTORS_MAX] = { RL_SINK_LIST(RL_GRAMMAR_ENTRY) };
#undef RL_GRAMMAR_ENTRY

static size_t
count(const rl_connector_grammar *const *list)
{
	size_t n = 0;
	while (n < CONNECTORS_MAX && list[n] != NULL)
		n++;
	return n;
}

static const rl_connector_grammar *
find(const rl_connector_grammar *const *list, const char *name)
{
	for (size_t i = 0; i < CONNECTORS_MAX && list[i] != NULL; i++)
		if (strcmp(list[i]->name, name) == 0)
			return list[i];
	return NULL;
}

const rl_source_grammar *
rl_source_grammar_find(const char *name)
{
	return find(source_grammars, name);
}

const rl_sink_grammar *
rl_sink_grammar_find(const char *name)
{
	return find(sink_grammars, name);
}

void
rl_source_grammar_add(const rl_source_grammar *g)
{
	size_t n = count(source_grammars);
	if (n < CONNECTORS_MAX && find(source_grammars, g->name) == NULL)
		source_grammars[n] = g;
}

void
rl_sink_grammar_add(const rl_sink_grammar *g)
{
	size_t n = count(sink_grammars);
	if (n < CONNECTORS_MAX && find(sink_grammars, g->name) == NULL)
		sink_grammars[n] = g;
}

static const char *const catch_up_names[] = {
	[RL_CATCH_UP_ALL] = "all",
	[RL_CATCH_UP_LATEST] = "latest",
	NULL,
};

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

// pick_connector reads f (`source:` or `sink:`), a mapping that must hold
// exactly one of names[] (n of them, a single one is simply required): *which
// is its index and *ret its value. `form` and `example` show a valid one.
static rl_err
pick_connector(const rl_yaml_field *f, const char *const *names, size_t n, const char *noun,
    const char *form, const char *example, size_t *which, rl_yaml_field *ret, rl_yaml_errbuf *eb)
{
	rl_yaml_key   keys[CONNECTORS_MAX + 1] = { { NULL, false } };
	rl_yaml_field v[CONNECTORS_MAX];
	rl_err        rv;
	for (size_t i = 0; i < n; i++)
		keys[i] = (rl_yaml_key) { names[i], n == 1 };
	if ((rv = rl_yaml_get_fields(f, keys, form, v, eb)) != RL_OK)
		return rv;
	size_t found = n;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].present)
			continue;
		if (found < n)
			return rl_yaml_fail(eb, v[i].key_loc,
			    "%s: only one %s is allowed, found '%s' and '%s'", f->path, noun,
			    names[found], names[i]);
		found = i;
	}
	if (found == n) {
		char   allowed[256] = "";
		size_t used = 0;
		for (size_t i = 0; i < n && used < sizeof(allowed); i++) {
			int w = snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
			    i > 0 ? ", " : "", names[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		return rl_yaml_fail(
		    eb, f->loc, "%s: expected one of: %s (e.g. %s)", f->path, allowed, example);
	}
	*which = found;
	*ret = v[found];
	return RL_OK;
}

// parse_connector reads `source:` or `sink:` (f) with the grammar of the one
// connector it names, into settings of that grammar's making.
static rl_err
parse_connector(const rl_yaml_field *f, const rl_connector_grammar *const *grammars,
    const char *noun, const char *form, const char *example, rl_connector_conf *ret,
    rl_yaml_errbuf *eb)
{
	const char   *names[CONNECTORS_MAX];
	size_t        n = count(grammars), which;
	rl_yaml_field v;
	rl_err        rv;
	for (size_t i = 0; i < n; i++)
		names[i] = grammars[i]->name;
	if ((rv = pick_connector(f, names, n, noun, form, example, &which, &v, eb)) != RL_OK)
		return rv;
	const rl_connector_grammar *g = grammars[which];
	if (g->version != RL_GRAMMAR_VERSION)
		return rl_yaml_fail(eb, v.key_loc, "%s: %s '%s' was built for another rill",
		    f->path, noun, g->name);
	ret->c_kind = g->name;
	ret->c_grammar = g;
	ret->c_loc = v.key_loc;
	ret->c_conf = rl_calloc(1, g->conf_size > 0 ? g->conf_size : 1);
	return g->parse(&v, ret->c_conf, eb);
}

static void
connector_fini(rl_connector_conf *c)
{
	if (c->c_conf != NULL && c->c_grammar->fini != NULL)
		c->c_grammar->fini(c->c_conf);
	rl_free(c->c_conf);
	c->c_conf = NULL;
}

rl_err
rl_sink_conf_parse(const rl_yaml_field *f, rl_connector_conf *ret, rl_yaml_errbuf *eb)
{
	return parse_connector(
	    f, sink_grammars, "sink", "{files: {path: DIR}}", "files: {path: /tmp/late}", ret, eb);
}

void
rl_connector_conf_free(rl_connector_conf *c)
{
	if (c == NULL)
		return;
	if (c->c_grammar != NULL)
		connector_fini(c);
	rl_free(c);
}

enum {
	JOB_NAME,
	JOB_BATCH,
	JOB_CATCH_UP,
	JOB_SHUFFLE_PARTITIONS,
	JOB_STATE_MEMORY,
	JOB_SOURCE,
	JOB_PIPELINE,
	JOB_SINK,
	JOB__COUNT,
};

static const rl_yaml_key job_keys[] = {
	[JOB_NAME] = { "name", true },
	[JOB_BATCH] = { "batch", true },
	[JOB_CATCH_UP] = { "catch_up", false },
	[JOB_SHUFFLE_PARTITIONS] = { "shuffle_partitions", false },
	[JOB_STATE_MEMORY] = { "state_memory", false },
	[JOB_SOURCE] = { "source", true },
	[JOB_PIPELINE] = { "pipeline", true },
	[JOB_SINK] = { "sink", true },
	[JOB__COUNT] = { NULL, false },
};

// parse_size reads a byte count: digits and a unit (B, KB, MB, GB: powers
// of 1024; none: bytes); false when s is not one or overflows.
static bool
parse_size(const char *s, int64_t *ret)
{
	char              *end;
	unsigned long long n = strtoull(s, &end, 10);
	if (end == s || *s == '-' || *s == '+')
		return false;
	static const struct {
		const char *unit;
		int         shift;
	} units[] = { { "", 0 }, { "B", 0 }, { "KB", 10 }, { "MB", 20 }, { "GB", 30 } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (n > (unsigned long long)INT64_MAX >> units[i].shift)
			return false;
		*ret = (int64_t)(n << units[i].shift);
		return true;
	}
	return false;
}

static rl_err
parse_job(const rl_yaml_field *top, rl_job *job, rl_yaml_errbuf *eb)
{
	rl_yaml_field v[JOB__COUNT];
	char          what[80];
	rl_err        rv;
	if (top->node == NULL)
		return rl_yaml_fail(eb, top->loc,
		    "the job file is empty (expected keys name, batch, source, "
		    "pipeline and sink)");
	if ((rv = rl_yaml_get_fields(top, job_keys, "name, batch, source, pipeline, sink", v, eb))
	    != RL_OK)
		return rv;

	if ((rv = rl_yaml_get_string(&v[JOB_NAME], "a job name", &job->j_name, eb)) != RL_OK)
		return rv;
	if (!is_job_name(job->j_name))
		return rl_yaml_fail(eb, v[JOB_NAME].loc,
		    "name: %s is not a valid job name (use 1 to %d of a-z, 0-9 and '-')",
		    rl_yaml_describe(v[JOB_NAME].node, what, sizeof(what)), NAME_MAX_LEN);

	if ((rv = rl_yaml_get_duration(&v[JOB_BATCH], &job->j_batch_ms, eb)) != RL_OK)
		return rv;
	if (job->j_batch_ms < BATCH_MIN_MS || job->j_batch_ms > BATCH_MAX_MS)
		return rl_yaml_fail(eb, v[JOB_BATCH].loc, "batch: %s is out of range (10ms to 1h)",
		    rl_yaml_describe(v[JOB_BATCH].node, what, sizeof(what)));

	job->j_catch_up = RL_CATCH_UP_ALL;
	if (v[JOB_CATCH_UP].present) {
		int which;
		if ((rv = rl_yaml_get_enum(&v[JOB_CATCH_UP], catch_up_names, &which, eb)) != RL_OK)
			return rv;
		job->j_catch_up = (rl_catch_up)which;
	}
	job->j_shuffle_partitions = 0;
	if (v[JOB_SHUFFLE_PARTITIONS].present
	    && (rv = rl_yaml_get_int(&v[JOB_SHUFFLE_PARTITIONS], 1, RL_PARTITIONS_MAX,
	            &job->j_shuffle_partitions, eb))
	        != RL_OK)
		return rv;

	job->j_state_memory = 0;
	if (v[JOB_STATE_MEMORY].present) {
		char *text = NULL;
		if ((rv = rl_yaml_get_string(&v[JOB_STATE_MEMORY], "a size", &text, eb)) != RL_OK)
			return rv;
		bool ok = parse_size(text, &job->j_state_memory);
		rl_free(text);
		if (!ok)
			return rl_yaml_fail(eb, v[JOB_STATE_MEMORY].loc,
			    "state_memory: %s is not a size (e.g. 64MB; units B, KB, MB, GB)",
			    rl_yaml_describe(v[JOB_STATE_MEMORY].node, what, sizeof(what)));
	}

	if ((rv = parse_connector(&v[JOB_SOURCE], source_grammars, "source",
	         "{kafka: {brokers: ..., topics: [...]}}",
	         "kafka: {brokers: HOST:PORT, topics: [NAME]}", &job->j_source, eb))
	    != RL_OK)
		return rv;
	if ((rv = rl_pipeline_parse(
	         &v[JOB_PIPELINE], job->j_batch_ms, &job->j_steps, &job->j_nsteps, eb))
	    != RL_OK)
		return rv;
	return parse_connector(&v[JOB_SINK], sink_grammars, "sink", "{files: {path: DIR}}",
	    "files: {path: /tmp/out}", &job->j_sink, eb);
}

rl_err
rl_job_parse(
    const char *text, size_t len, const char *filename, rl_job **ret, char *errbuf, size_t errlen)
{
	rl_yaml_errbuf eb = {
		.filename = filename != NULL ? filename : "<job>",
		.buf = errbuf,
		.len = errlen,
	};
	if (ret == NULL || (text == NULL && len > 0)) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: no job text given", eb.filename);
		return RL_ERR_INVAL;
	}
	rl_err  rv;
	rl_job *job = RL_NEW(rl_job);
	job->j_text = rl_malloc(len + 1);
	if (len > 0)
		memcpy(job->j_text, text, len);
	job->j_text[len] = '\0';
	job->j_text_len = len;
	job->j_filename = rl_strdup(eb.filename);
	job->j_spec_hash = rl_hash64(job->j_text, len);
	rl_yaml_doc *doc;
	if ((rv = rl_yaml_load(job->j_text, len, &doc, &eb)) != RL_OK)
		goto err_job;
	rl_yaml_field top;
	rl_yaml_root(doc, &top);
	if ((rv = parse_job(&top, job, &eb)) != RL_OK)
		goto err_doc;
	rl_yaml_doc_destroy(doc);
	*ret = job;
	return RL_OK;

err_doc:
	rl_yaml_doc_destroy(doc);
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

void
rl_job_destroy(rl_job *job)
{
	if (job == NULL)
		return;
	rl_free(job->j_name);
	connector_fini(&job->j_source);
	rl_steps_free(job->j_steps, job->j_nsteps);
	connector_fini(&job->j_sink);
	rl_free(job->j_text);
	rl_free(job->j_filename);
	rl_free(job);
}
