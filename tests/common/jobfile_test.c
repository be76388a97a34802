// SPDX-License-Identifier: Apache-2.0
// Job-file parser tests: every operator form, the defaults, and file:line:col errors.
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/jobfile.h"
#include "common/plan.h"
#include "common/sinks/files.h"
#include "common/sinks/kafka.h"
#include "common/sinks/print.h"

// The sink's settings, of the type its grammar defines.
#define FILES(job) ((const rl_files_sink *)(job)->j_sink.c_conf)
#define PRINT(job) ((const rl_print_sink *)(job)->j_sink.c_conf)
#define KAFKA(job) ((const rl_kafka_sink *)(job)->j_sink.c_conf)

// Lines 1-6 of every generated job; the pipeline key is on line 7 and its
// first step on line 8, where an operator name starts at column 5.
#define HEAD                                                                                       \
	"name: t\n"                                                                                \
	"batch: 1s\n"                                                                              \
	"source:\n"                                                                                \
	"  kafka:\n"                                                                               \
	"    brokers: localhost:9092\n"                                                            \
	"    topics: [in]\n"
#define SINK "sink:\n  print: {}\n"

static rl_job *
parse_ok(const char *yaml)
{
	char    err[512] = "";
	rl_job *job = NULL;
	rl_err  rv = rl_job_parse(yaml, strlen(yaml), "job.yaml", &job, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "unexpected error: %s\n--- job ---\n%s", err, yaml);
	cr_assert_not_null(job);
	return job;
}

// expect_error parses yaml and checks the error starts with `where` (the
// "file:line:col: " prefix) and contains `phrase`; *ret must stay untouched.
static void
expect_error(const char *yaml, const char *where, const char *phrase)
{
	char    err[512] = "";
	rl_job  sentinel;
	rl_job *job = &sentinel;
	rl_err  rv = rl_job_parse(yaml, strlen(yaml), "job.yaml", &job, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_PARSE, "expected a parse error, got %d (%s)\n--- job ---\n%s", rv,
	    err, yaml);
	cr_assert_eq(job, &sentinel, "*ret was written on error");
	cr_assert(
	    strncmp(err, where, strlen(where)) == 0, "expected prefix '%s', got '%s'", where, err);
	cr_assert_not_null(strstr(err, phrase), "expected '%s' in '%s'", phrase, err);
}

// with_top builds a job from its first top-level lines (name, batch, ...)
// followed by a valid source, pipeline and sink.
static const char *
with_top(const char *top)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf),
	    "%ssource: {kafka: {brokers: b, topics: [a]}}\npipeline: [{map: lower}]\n" SINK, top);
	return buf;
}

// with_pipeline builds a whole job around pipeline lines (each "  - ...\n").
static const char *
with_pipeline(const char *steps)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), HEAD "pipeline:\n%s" SINK, steps);
	return buf;
}

// with_step builds a job whose only step is "  - STEP" on line 8.
static const char *
with_step(const char *step)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), HEAD "pipeline:\n  - %s\n" SINK, step);
	return buf;
}

static const char *
with_sink(const char *sink)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), HEAD "pipeline:\n  - map: lower\nsink:\n%s", sink);
	return buf;
}

// with_kafka builds a job whose source.kafka holds `lines` (from line 5 on,
// each "    key: value\n").
static const char *
with_kafka(const char *lines)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf),
	    "name: t\nbatch: 1s\nsource:\n  kafka:\n%spipeline:\n  - map: lower\n" SINK, lines);
	return buf;
}

static rl_step
only_step(const char *step)
{
	rl_job *job = parse_ok(with_step(step));
	cr_assert_eq(job->j_nsteps, 1);
	rl_step s = job->j_steps[0];
	// Keep what the caller checks; the strings die with the job.
	s.s_arg = NULL;
	s.s_source = NULL;
	s.s_sub = NULL;
	rl_job_destroy(job);
	return s;
}

static void
expect_step_arg(const char *step, rl_op_kind kind, rl_fn fn, const char *arg)
{
	rl_job *job = parse_ok(with_step(step));
	cr_assert_eq(job->j_nsteps, 1);
	const rl_step *s = &job->j_steps[0];
	cr_assert_eq(s->s_kind, kind, "%s: kind %d", step, s->s_kind);
	cr_assert_eq(s->s_fn, fn, "%s: fn %s", step, rl_fn_name(s->s_fn));
	if (arg == NULL)
		cr_assert_null(s->s_arg, "%s: arg '%s'", step, s->s_arg);
	else
		cr_assert_str_eq(s->s_arg, arg, "%s", step);
	rl_job_destroy(job);
}

static char *
source_path(const char *rel)
{
	const char *root = getenv("RILL_SOURCE_ROOT");
	cr_assert_not_null(root, "RILL_SOURCE_ROOT is not set");
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return path;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	cr_assert_not_null(fp, "cannot open %s", path);
	static char buf[65536];
	*len = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

// --- The SPEC example and whole files ---------------------------------------

Test(jobfile, parses_spec_wordcount_example_field_by_field)
{
	char        err[512] = "";
	rl_job     *job = NULL;
	const char *path = source_path("tests/common/jobs/wordcount.yaml");
	cr_assert_eq(rl_job_load(path, &job, err, sizeof(err)), RL_OK, "%s", err);

	cr_assert_str_eq(job->j_name, "wordcount");
	cr_assert_eq(job->j_batch_ms, 1000);
	cr_assert_eq(job->j_catch_up, RL_CATCH_UP_ALL);
	cr_assert_eq(job->j_shuffle_partitions, 0);

	const rl_kafka_source *k = job->j_source.c_conf;
	cr_assert_str_eq(k->k_brokers, "127.0.0.1:9092");
	cr_assert_eq(k->k_ntopics, 1);
	cr_assert_str_eq(k->k_topics[0], "words");
	cr_assert_null(k->k_topics[1], "k_topics is NULL-terminated");
	cr_assert_null(k->k_pattern);
	cr_assert_str_eq(k->k_group, "wordcount");
	cr_assert_eq(k->k_starting_offsets, RL_START_EARLIEST);
	cr_assert_eq(k->k_max_rate_per_partition, 0);
	cr_assert(k->k_backpressure);
	cr_assert_eq(k->k_initial_rate, RL_DEFAULT_INITIAL_RATE);
	cr_assert(k->k_fail_on_data_loss);
	cr_assert_eq(k->k_nprops, 0);
	cr_assert_eq(k->k_loc.line, 5);
	cr_assert_eq(k->k_loc.col, 5);

	cr_assert_eq(job->j_nsteps, 3);
	cr_assert_eq(job->j_steps[0].s_kind, RL_OP_FLAT_MAP);
	cr_assert_eq(job->j_steps[0].s_fn, RL_FN_WORDS);
	cr_assert_null(job->j_steps[0].s_arg);
	cr_assert_eq(job->j_steps[1].s_kind, RL_OP_MAP_VALUES);
	cr_assert_eq(job->j_steps[1].s_fn, RL_FN_ONE);
	cr_assert_eq(job->j_steps[2].s_kind, RL_OP_REDUCE_BY_KEY);
	cr_assert_eq(job->j_steps[2].s_fn, RL_FN_SUM);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(job->j_steps[i].s_loc.line, 14 + i);
		cr_assert_eq(job->j_steps[i].s_loc.col, 5);
	}

	cr_assert_str_eq(job->j_sink.c_kind, "files");
	cr_assert_str_eq(FILES(job)->f_path, "/tmp/rill-out");
	cr_assert_eq(job->j_sink.c_loc.line, 18);
	cr_assert_eq(job->j_sink.c_loc.col, 3);
	rl_job_destroy(job);
}

Test(jobfile, keeps_text_filename_and_spec_hash)
{
	size_t      len;
	const char *path = source_path("tests/common/jobs/wordcount.yaml");
	const char *text = read_all(path, &len);
	char        err[512] = "";
	rl_job     *job = NULL;
	cr_assert_eq(rl_job_parse(text, len, "wc.yaml", &job, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(job->j_text_len, len);
	cr_assert_eq(memcmp(job->j_text, text, len), 0);
	cr_assert_eq(job->j_text[len], '\0');
	cr_assert_neq(job->j_text, text, "j_text is a copy");
	cr_assert_str_eq(job->j_filename, "wc.yaml");
	cr_assert_eq(job->j_spec_hash, rl_hash64(text, len));
	rl_job_destroy(job);
}

Test(jobfile, spec_hash_changes_with_the_text)
{
	rl_job *a = parse_ok(with_step("map: lower"));
	rl_job *b = parse_ok(with_step("map: upper"));
	cr_assert_neq(a->j_spec_hash, b->j_spec_hash);
	rl_job_destroy(a);
	rl_job_destroy(b);
}

Test(jobfile, parses_a_job_using_most_features)
{
	char        err[512] = "";
	rl_job     *job = NULL;
	const char *path = source_path("tests/common/jobs/clicks.yaml");
	cr_assert_eq(rl_job_load(path, &job, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_str_eq(job->j_name, "clicks-by-country");
	cr_assert_eq(job->j_batch_ms, 500);
	cr_assert_eq(job->j_catch_up, RL_CATCH_UP_LATEST);
	cr_assert_eq(job->j_shuffle_partitions, 16);

	const rl_kafka_source *k = job->j_source.c_conf;
	cr_assert_str_eq(k->k_brokers, "kafka-1:9092,kafka-2:9092");
	cr_assert_null(k->k_topics);
	cr_assert_eq(k->k_ntopics, 0);
	cr_assert_str_eq(k->k_pattern, "clicks-[a-z]+");
	cr_assert_eq(k->k_starting_offsets, RL_START_COMMITTED);
	cr_assert_eq(k->k_max_rate_per_partition, 5000);
	cr_assert_not(k->k_backpressure);
	cr_assert_eq(k->k_initial_rate, 2500);
	cr_assert_not(k->k_fail_on_data_loss);
	cr_assert_eq(k->k_nprops, 3);
	cr_assert_str_eq(k->k_prop_names[0], "fetch.wait.max.ms");
	cr_assert_str_eq(k->k_prop_values[0], "100");
	cr_assert_str_eq(k->k_prop_names[1], "enable.partition.eof");
	cr_assert_str_eq(k->k_prop_values[1], "false");
	cr_assert_str_eq(k->k_prop_names[2], "client.rack");
	cr_assert_str_eq(k->k_prop_values[2], "eu-west-1a");

	cr_assert_eq(job->j_nsteps, 6);
	const rl_step *join = &job->j_steps[2];
	cr_assert_eq(join->s_kind, RL_OP_JOIN);
	cr_assert(join->s_left);
	cr_assert_eq(join->s_loc.line, 23);
	cr_assert_str_eq(join->s_source->k_topics[1], "users-eu");
	cr_assert_eq(join->s_nsub, 2);
	cr_assert_eq(join->s_sub[1].s_fn, RL_FN_FIELD);
	cr_assert_eq(join->s_sub[1].s_field, 3);
	cr_assert_eq(join->s_sub[1].s_loc.line, 27);
	cr_assert_eq(join->s_sub[1].s_loc.col, 11);
	cr_assert_eq(job->j_steps[4].s_kind, RL_OP_REDUCE_BY_KEY_AND_WINDOW);
	cr_assert_eq(job->j_steps[4].s_slide_ms, 5000);

	cr_assert_str_eq(job->j_sink.c_kind, "kafka");
	cr_assert_str_eq(KAFKA(job)->k_brokers, "kafka-1:9092");
	cr_assert_str_eq(KAFKA(job)->k_topic, "clicks-by-country");
	cr_assert(KAFKA(job)->k_exactly_once);
	rl_job_destroy(job);
}

// --- Defaults and optional keys -----------------------------------------------

Test(jobfile, fills_in_defaults)
{
	rl_job *job = parse_ok(with_step("map: lower"));
	cr_assert_eq(job->j_catch_up, RL_CATCH_UP_ALL);
	cr_assert_eq(job->j_shuffle_partitions, 0);
	const rl_kafka_source *k = job->j_source.c_conf;
	cr_assert_null(k->k_group);
	cr_assert_null(k->k_pattern);
	cr_assert_eq(k->k_starting_offsets, RL_START_EARLIEST);
	cr_assert_eq(k->k_max_rate_per_partition, 0);
	cr_assert(k->k_backpressure);
	cr_assert(k->k_fail_on_data_loss);
	cr_assert_eq(k->k_nprops, 0);
	cr_assert_str_eq(job->j_sink.c_kind, "print");
	cr_assert_eq(PRINT(job)->p_num, 10);
	rl_job_destroy(job);
}

Test(jobfile, reads_every_starting_offsets_value)
{
	static const struct {
		const char      *text;
		rl_start_offsets value;
	} cases[] = {
		{ "earliest", RL_START_EARLIEST },
		{ "latest", RL_START_LATEST },
		{ "committed", RL_START_COMMITTED },
		{ "none", RL_START_NONE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char lines[256];
		snprintf(lines, sizeof(lines),
		    "    brokers: b:1\n    topics: [a, b]\n    starting_offsets: %s\n",
		    cases[i].text);
		rl_job *job = parse_ok(with_kafka(lines));
		cr_assert_eq(((const rl_kafka_source *)job->j_source.c_conf)->k_starting_offsets,
		    cases[i].value, "%s", cases[i].text);
		cr_assert_eq(((const rl_kafka_source *)job->j_source.c_conf)->k_ntopics, 2);
		rl_job_destroy(job);
	}
}

Test(jobfile, accepts_an_empty_properties_value)
{
	rl_job *job = parse_ok(with_kafka("    brokers: b:1\n    topics: [a]\n    properties:\n"));
	cr_assert_eq(((const rl_kafka_source *)job->j_source.c_conf)->k_nprops, 0);
	rl_job_destroy(job);
}

Test(jobfile, rejects_yaml_aliases)
{
	expect_error("name: t\nbatch: 1s\n"
	             "source:\n  kafka: &in {brokers: \"b:1\", topics: [a]}\n"
	             "pipeline:\n  - union: {kafka: *in}\n" SINK,
	    "job.yaml:6:20: ", "aliases (*in) are not supported in a job file");
}

Test(jobfile, rejects_an_alias_bomb_without_expanding_it)
{
	// After a valid job, nine levels of ten aliases each: 10^10 nodes if expanded.
	static char yaml[16384];
	const char *job = with_step("map: lower"); // 10 lines
	size_t      used = strlen(job);
	memcpy(yaml, job, used);
	used += (size_t)snprintf(
	    yaml + used, sizeof(yaml) - used, "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
	for (int i = 1; i < 10; i++) {
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "x%d: &x%d [", i, i);
		for (int j = 0; j < 10; j++)
			used += (size_t)snprintf(
			    yaml + used, sizeof(yaml) - used, "%s*x%d", j > 0 ? ", " : "", i - 1);
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "]\n");
	}
	expect_error(yaml, "job.yaml:12:10: ", "aliases (*x0) are not supported");
}

Test(jobfile, accepts_durations_in_every_unit)
{
	rl_job *job = parse_ok("name: t\nbatch: 10ms\nsource: {kafka: {brokers: b, topics: [a]}}\n"
	                       "pipeline: [{map: trim}]\n" SINK);
	cr_assert_eq(job->j_batch_ms, 10);
	rl_job_destroy(job);
	job = parse_ok("name: t\nbatch: 1h\nsource: {kafka: {brokers: b, topics: [a]}}\n"
	               "pipeline: [{map: trim}]\n" SINK);
	cr_assert_eq(job->j_batch_ms, 3600 * 1000);
	rl_job_destroy(job);
	job = parse_ok("name: t\nbatch: 5m\nsource: {kafka: {brokers: b, topics: [a]}}\n"
	               "pipeline: [{map: trim}]\n" SINK);
	cr_assert_eq(job->j_batch_ms, 5 * 60 * 1000);
	rl_job_destroy(job);
}

Test(jobfile, accepts_a_64_character_name_and_rejects_65)
{
	char name[66], yaml[8192];
	for (int i = 0; i < 65; i++)
		name[i] = "abc-0123"[i % 8];
	name[64] = '\0';
	snprintf(yaml, sizeof(yaml), "name: %s\n%s", name,
	    with_step("map: lower") + strlen("name: t\n"));
	rl_job *job = parse_ok(yaml);
	cr_assert_str_eq(job->j_name, name);
	rl_job_destroy(job);
	name[64] = 'x';
	name[65] = '\0';
	snprintf(yaml, sizeof(yaml), "name: %s\n%s", name,
	    with_step("map: lower") + strlen("name: t\n"));
	expect_error(yaml, "job.yaml:1:7: ", "is not a valid job name");
}

// --- Every operator form ------------------------------------------------------

Test(jobfile, parses_map_functions)
{
	expect_step_arg("map: lower", RL_OP_MAP, RL_FN_LOWER, NULL);
	expect_step_arg("map: upper", RL_OP_MAP, RL_FN_UPPER, NULL);
	expect_step_arg("map: trim", RL_OP_MAP, RL_FN_TRIM, NULL);
}

Test(jobfile, parses_flat_map_forms)
{
	expect_step_arg("flat_map: words", RL_OP_FLAT_MAP, RL_FN_WORDS, NULL);
	expect_step_arg("flat_map: {split: \",\"}", RL_OP_FLAT_MAP, RL_FN_SPLIT, ",");
}

Test(jobfile, parses_filter_forms)
{
	expect_step_arg("filter: nonempty", RL_OP_FILTER, RL_FN_NONEMPTY, NULL);
	expect_step_arg("filter: {contains: ERROR}", RL_OP_FILTER, RL_FN_CONTAINS, "ERROR");
	expect_step_arg("filter: {regex: \"^GET \"}", RL_OP_FILTER, RL_FN_REGEX, "^GET ");
}

Test(jobfile, parses_key_by_forms)
{
	expect_step_arg("key_by: value", RL_OP_KEY_BY, RL_FN_VALUE, NULL);
	expect_step_arg("key_by: {json: user.id}", RL_OP_KEY_BY, RL_FN_JSON, "user.id");
	rl_step s = only_step("key_by: {field: 2, sep: \",\"}");
	cr_assert_eq(s.s_fn, RL_FN_FIELD);
	cr_assert_eq(s.s_field, 2);
	expect_step_arg("key_by: {sep: \";\", field: 2}", RL_OP_KEY_BY, RL_FN_FIELD, ";");
}

Test(jobfile, parses_map_values_forms)
{
	expect_step_arg("map_values: one", RL_OP_MAP_VALUES, RL_FN_ONE, NULL);
	expect_step_arg("map_values: length", RL_OP_MAP_VALUES, RL_FN_LENGTH, NULL);
	expect_step_arg(
	    "map_values: {field: 3, sep: \"\\t\"}", RL_OP_MAP_VALUES, RL_FN_FIELD, "\t");
	rl_step s = only_step("map_values: {field: 3, sep: \",\"}");
	cr_assert_eq(s.s_field, 3);
}

Test(jobfile, parses_reductions)
{
	expect_step_arg("reduce_by_key: sum", RL_OP_REDUCE_BY_KEY, RL_FN_SUM, NULL);
	expect_step_arg("reduce_by_key: min", RL_OP_REDUCE_BY_KEY, RL_FN_MIN, NULL);
	expect_step_arg("reduce_by_key: max", RL_OP_REDUCE_BY_KEY, RL_FN_MAX, NULL);
	expect_step_arg("reduce_by_key: count", RL_OP_REDUCE_BY_KEY, RL_FN_COUNT, NULL);
	expect_step_arg("update_state_by_key: sum", RL_OP_UPDATE_STATE_BY_KEY, RL_FN_SUM, NULL);
	expect_step_arg("update_state_by_key: max", RL_OP_UPDATE_STATE_BY_KEY, RL_FN_MAX, NULL);
}

Test(jobfile, parses_count_by_value_with_empty_or_no_argument)
{
	expect_step_arg("count_by_value: {}", RL_OP_COUNT_BY_VALUE, RL_FN_NONE, NULL);
	expect_step_arg("count_by_value:", RL_OP_COUNT_BY_VALUE, RL_FN_NONE, NULL);
	expect_step_arg("count_by_value: ~", RL_OP_COUNT_BY_VALUE, RL_FN_NONE, NULL);
}

Test(jobfile, parses_windows)
{
	rl_step s = only_step("window: {length: 30s, slide: 10s}");
	cr_assert_eq(s.s_kind, RL_OP_WINDOW);
	cr_assert_eq(s.s_length_ms, 30000);
	cr_assert_eq(s.s_slide_ms, 10000);

	s = only_step("count_by_window: {length: 30s, slide: 10s}");
	cr_assert_eq(s.s_kind, RL_OP_COUNT_BY_WINDOW);
	cr_assert_eq(s.s_length_ms, 30000);
	cr_assert_eq(s.s_slide_ms, 10000);

	s = only_step(
	    "reduce_by_key_and_window: {fn: sum, length: 30s, slide: 10s, inverse: true}");
	cr_assert_eq(s.s_kind, RL_OP_REDUCE_BY_KEY_AND_WINDOW);
	cr_assert_eq(s.s_fn, RL_FN_SUM);
	cr_assert_eq(s.s_length_ms, 30000);
	cr_assert_eq(s.s_slide_ms, 10000);
	cr_assert(s.s_inverse);
}

Test(jobfile, window_slide_defaults_to_the_batch_interval)
{
	rl_step s = only_step("window: {length: 1m}");
	cr_assert_eq(s.s_length_ms, 60000);
	cr_assert_eq(s.s_slide_ms, 1000);
	s = only_step("reduce_by_key_and_window: {fn: max, length: 5s}");
	cr_assert_eq(s.s_slide_ms, 1000);
	cr_assert_not(s.s_inverse, "inverse defaults to false");
	s = only_step("window: {length: 1s}");
	cr_assert_eq(s.s_length_ms, 1000);
	cr_assert_eq(s.s_slide_ms, 1000);
}

Test(jobfile, parses_map_with_state)
{
	rl_step s = only_step("map_with_state: {fn: sum, timeout: 10m}");
	cr_assert_eq(s.s_kind, RL_OP_MAP_WITH_STATE);
	cr_assert_eq(s.s_fn, RL_FN_SUM);
	cr_assert_eq(s.s_num, 600000);
	s = only_step("map_with_state: {fn: count}");
	cr_assert_eq(s.s_num, 0, "no timeout means keys never expire");
	s = only_step("map_with_state: {fn: min, timeout: 0}");
	cr_assert_eq(s.s_num, 0);
}

Test(jobfile, parses_union)
{
	rl_job *job = parse_ok(
	    with_step("union: {kafka: {brokers: \"other:9092\", pattern: \"^b-.*\", group: g2}}"));
	const rl_step *s = &job->j_steps[0];
	cr_assert_eq(s->s_kind, RL_OP_UNION);
	cr_assert_not_null(s->s_source);
	cr_assert_str_eq(s->s_source->k_brokers, "other:9092");
	cr_assert_str_eq(s->s_source->k_pattern, "^b-.*");
	cr_assert_str_eq(s->s_source->k_group, "g2");
	cr_assert(s->s_source->k_backpressure, "a second input gets the same defaults");
	cr_assert_eq(s->s_source->k_loc.line, 8);
	cr_assert_eq(s->s_source->k_loc.col, 21);
	cr_assert_null(s->s_sub);
	rl_job_destroy(job);
}

Test(jobfile, parses_join_with_nested_pipeline)
{
	rl_job        *job = parse_ok(with_pipeline("  - join:\n"
	                                                   "      kafka: {brokers: b, topics: [users]}\n"
	                                                   "      pipeline:\n"
	                                                   "        - key_by: {field: 1, sep: \",\"}\n"
	                                                   "        - join: {kafka: {brokers: c, topics: [x]}}\n"
	                                                   "      kind: inner\n"));
	const rl_step *s = &job->j_steps[0];
	cr_assert_eq(s->s_kind, RL_OP_JOIN);
	cr_assert_not(s->s_left);
	cr_assert_str_eq(s->s_source->k_topics[0], "users");
	cr_assert_eq(s->s_nsub, 2);
	cr_assert_eq(s->s_sub[0].s_kind, RL_OP_KEY_BY);
	cr_assert_eq(s->s_sub[0].s_loc.line, 11);
	cr_assert_eq(s->s_sub[0].s_loc.col, 11);
	cr_assert_eq(s->s_sub[1].s_kind, RL_OP_JOIN);
	cr_assert_str_eq(s->s_sub[1].s_source->k_brokers, "c");
	cr_assert_eq(s->s_sub[1].s_nsub, 0);
	rl_job_destroy(job);
}

Test(jobfile, join_kind_defaults_to_inner_and_reads_left)
{
	rl_job *job = parse_ok(with_step("join: {kafka: {brokers: b, topics: [u]}, kind: left}"));
	cr_assert(job->j_steps[0].s_left);
	rl_job_destroy(job);
	job = parse_ok(with_step("join: {kafka: {brokers: b, topics: [u]}}"));
	cr_assert_not(job->j_steps[0].s_left);
	rl_job_destroy(job);
}

Test(jobfile, parses_repartition)
{
	rl_step s = only_step("repartition: 8");
	cr_assert_eq(s.s_kind, RL_OP_REPARTITION);
	cr_assert_eq(s.s_num, 8);
}

// The plan of the pipeline's operators: where the stages are cut, which
// steps each input of stage 0 runs, and what this version refuses (with the
// step's place).
Test(plan, repartition_and_union_shape_the_stages)
{
	rl_job  *job = parse_ok(with_pipeline("  - flat_map: words\n"
	                                       "  - union: {kafka: {brokers: b, topics: [u]}}\n"
	                                       "  - map_values: one\n"
	                                       "  - repartition: 6\n"
	                                       "  - map: upper\n"
	                                       "  - reduce_by_key: sum\n"));
	rl_plan *plan;
	char     err[512];
	cr_assert_eq(rl_plan_build(job, &plan, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(plan->p_nstages, 3);
	cr_assert_eq(plan->p_ninputs, 2);
	// Stage 0: the source runs flat_map and map_values; the union's input
	// map_values only; both end in the repartition's shuffle, uncombined.
	cr_assert_eq(plan->p_stages[0].st_nsteps, 2);
	cr_assert_eq(plan->p_inputs[0].pi_nsteps, 2);
	cr_assert_eq(plan->p_inputs[1].pi_nsteps, 1);
	cr_assert_eq(plan->p_inputs[1].pi_steps[0]->s_kind, RL_OP_MAP_VALUES);
	cr_assert_eq(plan->p_inputs[1].pi_step, &job->j_steps[1]);
	cr_assert_str_eq(plan->p_inputs[1].pi_job.j_source.c_kind, "kafka");
	cr_assert_eq(plan->p_inputs[1].pi_job.j_source.c_conf, job->j_steps[1].s_source);
	cr_assert_eq(plan->p_stages[0].st_combine, RL_FN_NONE);
	// Stage 1: 6 partitions, records as they were written, then the map.
	cr_assert_eq(plan->p_stages[1].st_partitions, 6);
	cr_assert_eq(plan->p_stages[1].st_merge, RL_FN_NONE);
	cr_assert_eq(rl_plan_width(plan, 1, 3), 6);
	cr_assert_eq(plan->p_stages[1].st_combine, RL_FN_SUM);
	// Stage 2: the reduce, at the batch's width.
	cr_assert_eq(plan->p_stages[2].st_partitions, 0);
	cr_assert_eq(rl_plan_width(plan, 2, 3), 3);
	rl_plan_destroy(plan);
	rl_job_destroy(job);
}

Test(plan, a_union_after_a_shuffle_is_refused_with_its_place)
{
	rl_job  *job = parse_ok(with_pipeline("  - map_values: one\n"
	                                       "  - reduce_by_key: sum\n"
	                                       "  - union: {kafka: {brokers: b, topics: [u]}}\n"));
	rl_plan *plan = NULL;
	char     err[512];
	cr_assert_eq(rl_plan_build(job, &plan, err, sizeof(err)), RL_ERR_NOTSUP);
	cr_assert_null(plan);
	cr_assert(strncmp(err, "job.yaml:10:5: union after a shuffle", 36) == 0, "%s", err);
	rl_job_destroy(job);
}

// plan_error builds the plan of a job with pipeline lines and checks that
// it is refused with the message's start.
static void
plan_error(const char *steps, const char *start)
{
	rl_job  *job = parse_ok(with_pipeline(steps));
	rl_plan *plan = NULL;
	char     err[512];
	cr_assert_eq(rl_plan_build(job, &plan, err, sizeof(err)), RL_ERR_NOTSUP, "%s", steps);
	cr_assert_null(plan);
	cr_assert(strncmp(err, start, strlen(start)) == 0, "expected '%s…', got '%s'", start, err);
	rl_job_destroy(job);
}

// A join cuts stage 0: this stream's records and the join's input's (after
// its own pipeline) go by key, uncombined, into the join stage, which runs
// the steps after the join.
Test(plan, join_cuts_stage_0_and_joins_its_input_by_key)
{
	rl_job  *job = parse_ok(with_pipeline("  - key_by: {field: 1, sep: \",\"}\n"
	                                       "  - union: {kafka: {brokers: b, topics: [u]}}\n"
	                                       "  - join:\n"
	                                       "      kafka: {brokers: c, topics: [names]}\n"
	                                       "      pipeline:\n"
	                                       "        - key_by: {field: 1, sep: \",\"}\n"
	                                       "        - map_values: {field: 2, sep: \",\"}\n"
	                                       "      kind: left\n"
	                                       "  - map: upper\n"
	                                       "  - map_values: length\n"
	                                       "  - reduce_by_key: sum\n"));
	rl_plan *plan;
	char     err[512];
	cr_assert_eq(rl_plan_build(job, &plan, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_eq(plan->p_nstages, 3);
	cr_assert_eq(plan->p_ninputs, 3);
	const rl_step *join = &job->j_steps[2];
	// Stage 0: the source's key_by; the union's nothing; the join's input
	// its own two steps. Records as they are, by key.
	cr_assert_eq(plan->p_stages[0].st_nsteps, 1);
	cr_assert_eq(plan->p_inputs[1].pi_nsteps, 0);
	cr_assert_eq(plan->p_inputs[2].pi_step, join);
	cr_assert_eq(plan->p_inputs[2].pi_nsteps, 2);
	cr_assert_eq(plan->p_inputs[2].pi_steps[0], &join->s_sub[0]);
	cr_assert_eq(plan->p_inputs[2].pi_steps[1], &join->s_sub[1]);
	cr_assert_eq(plan->p_inputs[2].pi_job.j_source.c_conf, join->s_source);
	cr_assert_eq(plan->p_stages[0].st_output, RL_OUTPUT_SHUFFLE);
	cr_assert_eq(plan->p_stages[0].st_combine, RL_FN_NONE);
	cr_assert(plan->p_stages[0].st_by_key);
	// Stage 1: the join (input 2 is its right side), at the batch's width,
	// then map and map_values, into the reduce's shuffle.
	cr_assert_eq(plan->p_stages[1].st_join_step, join);
	cr_assert_eq(plan->p_stages[1].st_join_input, 2);
	cr_assert_eq(plan->p_stages[1].st_merge, RL_FN_NONE);
	cr_assert_eq(plan->p_stages[1].st_partitions, 0);
	cr_assert_eq(plan->p_stages[1].st_nsteps, 2);
	cr_assert_eq(plan->p_stages[1].st_combine, RL_FN_SUM);
	cr_assert_not(plan->p_stages[1].st_by_key);
	cr_assert_null(plan->p_stages[2].st_join_step);
	rl_plan_destroy(plan);
	rl_job_destroy(job);
}

Test(plan, a_join_after_a_shuffle_or_with_a_shuffle_inside_is_refused_with_its_place)
{
	plan_error("  - map_values: one\n"
	           "  - reduce_by_key: sum\n"
	           "  - join: {kafka: {brokers: b, topics: [u]}}\n",
	    "job.yaml:10:5: join after a shuffle is not supported");
	plan_error("  - map_values: one\n"
	           "  - join: {kafka: {brokers: b, topics: [u]}}\n"
	           "  - join: {kafka: {brokers: b, topics: [v]}}\n",
	    "job.yaml:10:5: join after a shuffle is not supported");
	plan_error("  - map_values: one\n"
	           "  - join:\n"
	           "      kafka: {brokers: b, topics: [u]}\n"
	           "      pipeline:\n"
	           "        - map_values: one\n"
	           "        - reduce_by_key: sum\n",
	    "job.yaml:13:11: reduce_by_key inside a join's pipeline is not supported");
	plan_error("  - join:\n"
	           "      kafka: {brokers: b, topics: [u]}\n"
	           "      pipeline:\n"
	           "        - union: {kafka: {brokers: b, topics: [v]}}\n",
	    "job.yaml:11:11: union inside a join's pipeline is not supported");
	plan_error("  - join:\n"
	           "      kafka: {brokers: b, topics: [u]}\n"
	           "      pipeline: [{repartition: 4}]\n",
	    "job.yaml:10:19: repartition inside a join's pipeline is not supported");
}

Test(jobfile, accepts_a_udf_in_every_function_position)
{
	expect_step_arg("map: {udf: shout}", RL_OP_MAP, RL_FN_UDF, "shout");
	expect_step_arg("flat_map: {udf: tokens}", RL_OP_FLAT_MAP, RL_FN_UDF, "tokens");
	expect_step_arg("filter: {udf: is_bot}", RL_OP_FILTER, RL_FN_UDF, "is_bot");
	expect_step_arg("key_by: {udf: _user2}", RL_OP_KEY_BY, RL_FN_UDF, "_user2");
	expect_step_arg("map_values: {udf: price}", RL_OP_MAP_VALUES, RL_FN_UDF, "price");
	expect_step_arg("reduce_by_key: {udf: merge}", RL_OP_REDUCE_BY_KEY, RL_FN_UDF, "merge");
	expect_step_arg(
	    "update_state_by_key: {udf: merge}", RL_OP_UPDATE_STATE_BY_KEY, RL_FN_UDF, "merge");
	expect_step_arg("reduce_by_key_and_window: {fn: {udf: merge}, length: 2s}",
	    RL_OP_REDUCE_BY_KEY_AND_WINDOW, RL_FN_UDF, "merge");
	expect_step_arg("map_with_state: {fn: {udf: track}, timeout: 1h}", RL_OP_MAP_WITH_STATE,
	    RL_FN_UDF, "track");
}

Test(jobfile, records_each_step_position)
{
	rl_job *job = parse_ok(with_pipeline("  - map: lower\n"
	                                     "\n"
	                                     "  -   filter: nonempty\n"
	                                     "  - {repartition: 2}\n"));
	cr_assert_eq(job->j_nsteps, 3);
	cr_assert_eq(job->j_steps[0].s_loc.line, 8);
	cr_assert_eq(job->j_steps[0].s_loc.col, 5);
	cr_assert_eq(job->j_steps[1].s_loc.line, 10);
	cr_assert_eq(job->j_steps[1].s_loc.col, 7);
	cr_assert_eq(job->j_steps[2].s_loc.line, 11);
	cr_assert_eq(job->j_steps[2].s_loc.col, 6);
	rl_job_destroy(job);
}

// --- Sinks --------------------------------------------------------------------

Test(jobfile, parses_each_sink)
{
	rl_job *job = parse_ok(with_sink("  files: {path: out/dir}\n"));
	cr_assert_str_eq(job->j_sink.c_kind, "files");
	cr_assert_str_eq(FILES(job)->f_path, "out/dir");
	rl_job_destroy(job);

	job = parse_ok(with_sink("  print: {num: 3}\n"));
	cr_assert_str_eq(job->j_sink.c_kind, "print");
	cr_assert_eq(PRINT(job)->p_num, 3);
	rl_job_destroy(job);

	job = parse_ok(with_sink("  kafka: {brokers: \"b:1\", topic: out}\n"));
	cr_assert_str_eq(job->j_sink.c_kind, "kafka");
	cr_assert_str_eq(KAFKA(job)->k_brokers, "b:1");
	cr_assert_str_eq(KAFKA(job)->k_topic, "out");
	cr_assert_not(KAFKA(job)->k_exactly_once, "exactly_once defaults to false");
	rl_job_destroy(job);

	job = parse_ok(
	    with_sink("  kafka:\n    brokers: b:1\n    topic: out\n    exactly_once: true\n"));
	cr_assert(KAFKA(job)->k_exactly_once);
	cr_assert_eq(job->j_sink.c_loc.line, 10);
	cr_assert_eq(job->j_sink.c_loc.col, 3);
	rl_job_destroy(job);
}

Test(jobfile, print_sink_num_defaults_to_10)
{
	rl_job *job = parse_ok(with_sink("  print:\n"));
	cr_assert_str_eq(job->j_sink.c_kind, "print");
	cr_assert_eq(PRINT(job)->p_num, 10);
	rl_job_destroy(job);
	job = parse_ok(with_sink("  print: {}\n"));
	cr_assert_eq(PRINT(job)->p_num, 10);
	rl_job_destroy(job);
}

// --- Names ----------------------------------------------------------------------

Test(jobfile, names_operators_and_functions_as_in_yaml)
{
	cr_assert_str_eq(rl_op_name(RL_OP_MAP), "map");
	cr_assert_str_eq(rl_op_name(RL_OP_FLAT_MAP), "flat_map");
	cr_assert_str_eq(rl_op_name(RL_OP_REDUCE_BY_KEY_AND_WINDOW), "reduce_by_key_and_window");
	cr_assert_str_eq(rl_op_name(RL_OP_REPARTITION), "repartition");
	cr_assert_str_eq(rl_op_name(RL_OP__COUNT), "unknown");
	cr_assert_str_eq(rl_fn_name(RL_FN_WORDS), "words");
	cr_assert_str_eq(rl_fn_name(RL_FN_NONEMPTY), "nonempty");
	cr_assert_str_eq(rl_fn_name(RL_FN_UDF), "udf");
	cr_assert_str_eq(rl_fn_name((rl_fn)999), "unknown");
}

Test(jobfile, destroy_of_null_is_a_no_op) { rl_job_destroy(NULL); }

// --- YAML errors ------------------------------------------------------------------

Test(jobfile, reports_malformed_yaml_with_its_position)
{
	expect_error("name: t\nbatch: [1s\n", "job.yaml:3:1: ", "without a closing bracket");
	expect_error("name: \"t\nbatch: 1s\n", "job.yaml:1:7: ", "double-quoted scalar");
}

Test(jobfile, rejects_tab_indentation)
{
	expect_error("name: t\nsource:\n\tkafka: {}\n", "job.yaml:3:1: ", "tab");
}

Test(jobfile, rejects_duplicate_keys)
{
	expect_error("name: t\nbatch: 1s\nname: u\n", "job.yaml:3:1: ", "duplicate key");
}

Test(jobfile, yaml_errors_print_nothing_to_stderr, .init = cr_redirect_stderr)
{
	expect_error("name: t\nbatch: [1s\n", "job.yaml:3:1: ", "closing bracket");
	expect_error("", "job.yaml:1:1: ", "empty");
	expect_error("a: *nowhere\n", "job.yaml:1:4: ", "alias");
	fflush(stderr);
	cr_assert_stderr_eq_str("");
}

Test(jobfile, rejects_an_empty_file)
{
	expect_error("", "job.yaml:1:1: ", "the job file is empty");
	expect_error("# nothing here\n", "job.yaml:1:1: ", "the job file is empty");
	expect_error("---\n", "job.yaml:1:1: ", "the job file is empty");
}

Test(jobfile, rejects_a_file_that_is_not_a_mapping)
{
	expect_error("- name: t\n", "job.yaml:1:3: ", "a job file is a mapping of keys");
}

Test(jobfile, rejects_a_second_yaml_document)
{
	char yaml[8192];
	snprintf(yaml, sizeof(yaml), "%s---\nname: u\n", with_step("map: lower"));
	expect_error(yaml, "job.yaml:11:1: ", "one YAML document");
}

Test(jobfile, allows_an_explicit_document_start_and_end)
{
	char yaml[8192];
	snprintf(yaml, sizeof(yaml), "---\n%s...\n", with_step("map: lower"));
	rl_job *job = parse_ok(yaml);
	rl_job_destroy(job);
}

// --- Top-level errors ----------------------------------------------------------------

Test(jobfile, rejects_an_unknown_top_level_key)
{
	expect_error(HEAD "pipelines:\n  - map: lower\n" SINK, "job.yaml:7:1: ",
	    "unknown key 'pipelines' (expected one of: name, batch, catch_up, shuffle_partitions, "
	    "state_memory, source, pipeline, sink)");
}

Test(jobfile, reports_each_missing_required_key_at_the_file_start)
{
	expect_error(with_top("batch: 1s\n"), "job.yaml:1:1: ", "missing required key 'name'");
	expect_error(with_top("name: t\n"), "job.yaml:1:1: ", "missing required key 'batch'");
	expect_error("name: t\nbatch: 1s\npipeline: [{map: lower}]\n" SINK,
	    "job.yaml:1:1: ", "missing required key 'source'");
	expect_error(HEAD SINK, "job.yaml:1:1: ", "missing required key 'pipeline'");
	expect_error(
	    HEAD "pipeline: [{map: lower}]\n", "job.yaml:1:1: ", "missing required key 'sink'");
}

Test(jobfile, rejects_a_bad_duration)
{
	expect_error(with_top("name: t\nbatch: 5x\n"),
	    "job.yaml:2:8: ", "batch: '5x' is not a duration (use e.g. 500ms, 1s, 5m, 1h)");
	expect_error(
	    with_top("name: t\nbatch: 1.5s\n"), "job.yaml:2:8: ", "'1.5s' is not a duration");
	expect_error(
	    with_top("name: t\nbatch: 1000\n"), "job.yaml:2:8: ", "'1000' is not a duration");
	expect_error(
	    with_top("name: t\nbatch: [1s]\n"), "job.yaml:2:9: ", "a list is not a duration");
}

Test(jobfile, rejects_a_batch_interval_out_of_range)
{
	expect_error(with_top("name: t\nbatch: 5ms\n"),
	    "job.yaml:2:8: ", "batch: '5ms' is out of range (10ms to 1h)");
	expect_error(
	    with_top("name: t\nbatch: 61m\n"), "job.yaml:2:8: ", "batch: '61m' is out of range");
	expect_error(with_top("name: t\nbatch: 0s\n"), "job.yaml:2:8: ", "out of range");
}

Test(jobfile, rejects_a_bad_job_name)
{
	expect_error(with_top("name: Word Count\nbatch: 1s\n"), "job.yaml:1:7: ",
	    "name: 'Word Count' is not a valid job name (use 1 to 64 of a-z, 0-9 and '-')");
	expect_error(
	    with_top("name: word_count\nbatch: 1s\n"), "job.yaml:1:7: ", "is not a valid job name");
	expect_error(with_top("name: \"\"\nbatch: 1s\n"),
	    "job.yaml:1:7: ", "name: expected a job name, got an empty string");
	expect_error(with_top("name:\nbatch: 1s\n"),
	    "job.yaml:1:1: ", "name: expected a job name, got nothing");
}

Test(jobfile, rejects_bad_optional_top_level_values)
{
	expect_error(with_top("name: t\nbatch: 1s\ncatch_up: some\n"),
	    "job.yaml:3:11: ", "catch_up: 'some' is not valid (expected one of: all, latest)");
	expect_error(with_top("name: t\nbatch: 1s\nshuffle_partitions: 0\n"), "job.yaml:3:21: ",
	    "shuffle_partitions: '0' is out of range (expected an integer from 1 to 65536)");
	expect_error(with_top("name: t\nbatch: 1s\nshuffle_partitions: 65537\n"),
	    "job.yaml:3:21: ", "out of range");
	expect_error(with_top("name: t\nbatch: 1s\nshuffle_partitions: many\n"),
	    "job.yaml:3:21: ", "'many' is not an integer");
}

Test(jobfile, reads_state_memory_as_a_size)
{
	const char *forms[][2] = { { "65536", "65536" }, { "64KB", "65536" }, { "3MB", "3145728" },
		{ "2GB", "2147483648" }, { "100B", "100" } };
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char top[128];
		snprintf(top, sizeof(top), "name: t\nbatch: 1s\nstate_memory: %s\n", forms[i][0]);
		rl_job *job = parse_ok(with_top(top));
		cr_assert_eq(
		    job->j_state_memory, strtoll(forms[i][1], NULL, 10), "%s", forms[i][0]);
		rl_job_destroy(job);
	}
	rl_job *job = parse_ok(with_top("name: t\nbatch: 1s\n"));
	cr_assert_eq(job->j_state_memory, 0, "no budget unless asked");
	rl_job_destroy(job);
	expect_error(with_top("name: t\nbatch: 1s\nstate_memory: lots\n"), "job.yaml:3:15: ",
	    "state_memory: 'lots' is not a size (e.g. 64MB; units B, KB, MB, GB)");
	expect_error(with_top("name: t\nbatch: 1s\nstate_memory: 5TB\n"),
	    "job.yaml:3:15: ", "is not a size");
	expect_error(with_top("name: t\nbatch: 1s\nstate_memory: -1MB\n"),
	    "job.yaml:3:15: ", "is not a size");
}

// --- Source errors ----------------------------------------------------------------------

Test(jobfile, rejects_topics_and_pattern_together)
{
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    pattern: \"a.*\"\n"),
	    "job.yaml:7:5: ", "source.kafka: give either 'topics' or 'pattern', not both");
}

Test(jobfile, requires_topics_or_pattern)
{
	expect_error(
	    with_kafka("    brokers: b:1\n"), "job.yaml:5:5: ", "source.kafka: missing 'topics'");
}

Test(jobfile, rejects_a_bad_topic_pattern)
{
	expect_error(with_kafka("    brokers: b:1\n    pattern: \"logs-(\"\n"), "job.yaml:6:14: ",
	    "source.kafka.pattern: 'logs-(' is not a valid regular expression: ");
}

Test(jobfile, rejects_bad_topic_lists)
{
	expect_error(with_kafka("    brokers: b:1\n    topics: []\n"),
	    "job.yaml:6:5: ", "source.kafka.topics: expected a non-empty list of topic names");
	expect_error(with_kafka("    brokers: b:1\n    topics: words\n"), "job.yaml:6:13: ",
	    "expected a non-empty list of topic names like [words], got 'words'");
	expect_error(with_kafka("    brokers: b:1\n    topics: [ok, \"\"]\n"), "job.yaml:6:18: ",
	    "source.kafka.topics[1]: expected a topic name, got an empty string");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a, \"b c\"]\n"),
	    "job.yaml:6:17: ", "'b c' is not a Kafka topic name");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a, a]\n"),
	    "job.yaml:6:17: ", "topic 'a' is listed twice");
}

Test(jobfile, rejects_a_typo_in_a_source_key)
{
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    backpresure: false\n"),
	    "job.yaml:7:5: ",
	    "source.kafka: unknown key 'backpresure' (expected one of: brokers, topics, pattern, "
	    "group, starting_offsets, max_rate_per_partition, backpressure, initial_rate, "
	    "fail_on_data_loss, "
	    "properties)");
	expect_error(
	    "name: t\nbatch: 1s\nsource:\n  kafka: {brokers: b, topics: [a]}\n  kafak: {}\n"
	    "pipeline: [{map: lower}]\n" SINK,
	    "job.yaml:5:3: ", "source: unknown key 'kafak' (expected one of: kafka)");
}

Test(jobfile, requires_brokers_and_a_kafka_source)
{
	expect_error(with_kafka("    topics: [a]\n"),
	    "job.yaml:5:5: ", "source.kafka: missing required key 'brokers'");
	expect_error("name: t\nbatch: 1s\nsource:\npipeline: [{map: lower}]\n" SINK,
	    "job.yaml:3:1: ", "source: missing required key 'kafka'");
	expect_error("name: t\nbatch: 1s\nsource: kafka\npipeline: [{map: lower}]\n" SINK,
	    "job.yaml:3:9: ", "source: expected a mapping like {kafka:");
}

Test(jobfile, rejects_a_non_integer_max_rate)
{
	expect_error(
	    with_kafka("    brokers: b:1\n    topics: [a]\n    max_rate_per_partition: 1.5\n"),
	    "job.yaml:7:29: ",
	    "source.kafka.max_rate_per_partition: '1.5' is not an integer (expected a non-negative "
	    "integer)");
	expect_error(
	    with_kafka("    brokers: b:1\n    topics: [a]\n    max_rate_per_partition: -1\n"),
	    "job.yaml:7:29: ", "'-1' is out of range");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n"
	                        "    max_rate_per_partition: 99999999999999999999\n"),
	    "job.yaml:7:29: ", "out of range");
}

Test(jobfile, rejects_bad_source_values)
{
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    starting_offsets: first\n"),
	    "job.yaml:7:23: ",
	    "source.kafka.starting_offsets: 'first' is not valid (expected one of: earliest, "
	    "latest, "
	    "committed, none)");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    backpressure: yes\n"),
	    "job.yaml:7:19: ",
	    "source.kafka.backpressure: 'yes' is not a boolean (use true or false)");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    group: \"\"\n"),
	    "job.yaml:7:12: ",
	    "source.kafka.group: expected a consumer group name, got an empty string");
	expect_error(with_kafka("    brokers: [b]\n    topics: [a]\n"),
	    "job.yaml:5:15: ", "source.kafka.brokers: expected a broker list");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    properties: [x]\n"),
	    "job.yaml:7:18: ",
	    "source.kafka.properties: expected a mapping of librdkafka properties");
	expect_error(with_kafka("    brokers: b:1\n    topics: [a]\n    properties: {acks:}\n"),
	    "job.yaml:7:18: ", "source.kafka.properties.acks: expected a value");
}

// --- Pipeline errors ------------------------------------------------------------------------

Test(jobfile, rejects_an_unknown_operator)
{
	expect_error(with_step("flatmap: words"), "job.yaml:8:5: ",
	    "unknown operator 'flatmap' (expected one of: map, flat_map, filter, key_by, "
	    "map_values, "
	    "reduce_by_key, count_by_value, window, reduce_by_key_and_window, count_by_window, "
	    "update_state_by_key, map_with_state, union, join, repartition)");
}

Test(jobfile, rejects_a_step_with_two_keys)
{
	expect_error(with_pipeline("  - flat_map: words\n    map_values: one\n"), "job.yaml:8:5: ",
	    "a pipeline step has exactly one operator, this one has 2 keys ('flat_map', "
	    "'map_values')");
}

Test(jobfile, rejects_malformed_pipelines)
{
	expect_error(HEAD "pipeline: []\n" SINK, "job.yaml:7:1: ",
	    "pipeline: expected a non-empty list of steps (e.g. '- flat_map: words'), got []");
	expect_error(HEAD "pipeline:\n" SINK, "job.yaml:7:1: ", "got nothing");
	expect_error(HEAD "pipeline: {map: lower}\n" SINK, "job.yaml:7:12: ", "got a mapping");
	expect_error(with_step("flat_map words"), "job.yaml:8:5: ",
	    "a pipeline step is one operator and its argument, e.g. '- map: lower'; got 'flat_map "
	    "words'");
	expect_error(with_step("{}"), "job.yaml:7:1: ", "empty pipeline step");
}

Test(jobfile, rejects_unknown_functions_and_forms)
{
	expect_error(with_step("map: title"), "job.yaml:8:10: ",
	    "map: unknown function 'title' (expected lower | upper | trim | {udf: NAME})");
	expect_error(with_step("flat_map: split"),
	    "job.yaml:8:15: ", "flat_map: 'split' needs an argument: {split: SEP}");
	expect_error(with_step("flat_map: {splt: \",\"}"), "job.yaml:8:16: ",
	    "flat_map: unknown argument 'splt' (expected words | {split: SEP} | {udf: NAME})");
	expect_error(with_step("flat_map: {split: \"\"}"), "job.yaml:8:23: ",
	    "flat_map.split: expected a non-empty separator, got an empty string");
	expect_error(with_step("filter: {contains: x, regex: y}"),
	    "job.yaml:8:27: ", "filter: unknown key 'regex' (expected one of: contains)");
	expect_error(with_step("reduce_by_key: avg"), "job.yaml:8:20: ",
	    "reduce_by_key: unknown function 'avg' (expected sum | min | max | count | {udf: "
	    "NAME})");
	expect_error(
	    with_step("reduce_by_key:"), "job.yaml:8:5: ", "reduce_by_key: missing function");
	expect_error(with_step("map: [lower]"), "job.yaml:8:11: ", "map: expected lower | upper");
}

Test(jobfile, rejects_a_bad_regex)
{
	expect_error(with_step("filter: {regex: \"a(\"}"),
	    "job.yaml:8:21: ", "filter.regex: 'a(' is not a valid regular expression: ");
}

Test(jobfile, rejects_bad_field_arguments)
{
	expect_error(with_step("key_by: {field: 2}"), "job.yaml:8:14: ",
	    "key_by: {field: N} needs a separator as well, e.g. {field: 2, sep: \",\"}");
	expect_error(with_step("key_by: {field: 0, sep: \",\"}"), "job.yaml:8:21: ",
	    "key_by.field: '0' is out of range (expected an integer of at least 1)");
	expect_error(with_step("map_values: {field: two, sep: \",\"}"),
	    "job.yaml:8:25: ", "map_values.field: 'two' is not an integer");
	expect_error(with_step("key_by: {field: 1, sep: \",\", skip: 1}"),
	    "job.yaml:8:34: ", "key_by: unknown key 'skip' (expected one of: field, sep)");
	expect_error(with_step("key_by: {json: \"user..id\"}"),
	    "job.yaml:8:20: ", "key_by.json: 'user..id' is not a field path");
}

Test(jobfile, rejects_a_udf_name_that_is_not_an_identifier)
{
	expect_error(with_step("map: {udf: my-fn}"), "job.yaml:8:16: ",
	    "map.udf: 'my-fn' is not a function name (use a C identifier such as my_fn)");
	expect_error(with_step("map: {udf: 2fn}"), "job.yaml:8:16: ", "is not a function name");
}

Test(jobfile, rejects_an_argument_to_count_by_value)
{
	expect_error(with_step("count_by_value: words"), "job.yaml:8:21: ",
	    "count_by_value: takes no argument (write 'count_by_value: {}'), got 'words'");
}

Test(jobfile, rejects_a_window_that_is_not_a_multiple_of_batch)
{
	expect_error(with_step("window: {length: 1500ms}"), "job.yaml:8:22: ",
	    "window.length: '1500ms' is not a multiple of the batch interval (1000ms)");
	expect_error(with_step("count_by_window: {length: 30s, slide: 2500ms}"), "job.yaml:8:43: ",
	    "count_by_window.slide: '2500ms' is not a multiple of the batch interval (1000ms)");
}

Test(jobfile, rejects_bad_window_shapes)
{
	expect_error(with_step("window: {length: 10s, slide: 20s}"), "job.yaml:8:34: ",
	    "window.slide: slide (20000ms) must not be longer than length (10000ms)");
	expect_error(with_step("window: {length: 0s}"),
	    "job.yaml:8:22: ", "window.length: must be longer than 0");
	expect_error(with_step("window: {slide: 2s}"),
	    "job.yaml:8:14: ", "window: missing required key 'length'");
	expect_error(with_step("window: {length: 2s, step: 1s}"), "job.yaml:8:26: ",
	    "window: unknown key 'step' (expected one of: length, slide, time, allowed_lateness, "
	    "late)");
	expect_error(with_step("window: 30s"), "job.yaml:8:13: ",
	    "window: expected a mapping like {length: 30s, slide: 10s}, got '30s'");
	expect_error(with_step("window: {length: soon}"),
	    "job.yaml:8:22: ", "window.length: 'soon' is not a duration");
}

Test(jobfile, rejects_bad_windowed_reductions)
{
	expect_error(with_step("reduce_by_key_and_window: {length: 2s}"),
	    "job.yaml:8:32: ", "reduce_by_key_and_window: missing required key 'fn'");
	expect_error(with_step("reduce_by_key_and_window: {fn: min, length: 2s, inverse: true}"),
	    "job.yaml:8:62: ",
	    "reduce_by_key_and_window.inverse: 'min' has no inverse (inverse: true needs sum or "
	    "count)");
	expect_error(with_step("reduce_by_key_and_window: {fn: max, length: 2s, inverse: true}"),
	    "job.yaml:8:62: ",
	    "reduce_by_key_and_window.inverse: 'max' has no inverse (inverse: true needs sum or "
	    "count)");
	expect_error(
	    with_step("reduce_by_key_and_window: {fn: {udf: f}, length: 2s, inverse: true}"),
	    "job.yaml:8:67: ", "reduce_by_key_and_window.inverse: '{udf: ...}' has no inverse");
	expect_error(with_step("reduce_by_key_and_window: {fn: sum, length: 2s, inverse: maybe}"),
	    "job.yaml:8:62: ", "'maybe' is not a boolean");
}

Test(jobfile, rejects_bad_map_with_state_arguments)
{
	expect_error(with_step("map_with_state: {fn: sum, timeout: forever}"),
	    "job.yaml:8:40: ", "map_with_state.timeout: 'forever' is not a duration");
	expect_error(with_step("map_with_state: sum"), "job.yaml:8:21: ",
	    "map_with_state: expected a mapping like {fn: sum, timeout: 10m}, got 'sum'");
}

Test(jobfile, rejects_bad_union_and_join)
{
	expect_error(with_step("union: {brokers: b, topics: [a]}"),
	    "job.yaml:8:13: ", "union: unknown key 'brokers' (expected one of: kafka)");
	expect_error(with_step("union: {kafka: {brokers: b}}"),
	    "job.yaml:8:21: ", "union.kafka: missing 'topics'");
	expect_error(with_step("join: {kafka: {brokers: b, topics: [a]}, kind: outer}"),
	    "job.yaml:8:52: ", "join.kind: 'outer' is not valid (expected one of: inner, left)");
	expect_error(with_step("join: {pipeline: [{map: lower}]}"),
	    "job.yaml:8:12: ", "join: missing required key 'kafka'");
	expect_error(with_pipeline("  - join:\n"
	                           "      kafka: {brokers: b, topics: [u]}\n"
	                           "      pipeline:\n"
	                           "        - map: lower\n"
	                           "        - mapp: upper\n"),
	    "job.yaml:12:11: ", "unknown operator 'mapp'");
}

Test(jobfile, rejects_a_bad_partition_count)
{
	expect_error(with_step("repartition: 0"), "job.yaml:8:18: ",
	    "repartition: '0' is out of range (expected an integer from 1 to 65536)");
	expect_error(with_step("repartition: lots"), "job.yaml:8:18: ", "'lots' is not an integer");
}

// --- Sink errors -----------------------------------------------------------------------------

Test(jobfile, rejects_a_bad_sink)
{
	expect_error(with_sink("  file: {path: /x}\n"),
	    "job.yaml:10:3: ", "sink: unknown key 'file' (expected one of: files, print, kafka)");
	expect_error(with_sink("  files: {path: /x}\n  print: {}\n"),
	    "job.yaml:11:3: ", "sink: only one sink is allowed, found 'files' and 'print'");
	expect_error(
	    with_sink("  {}\n"), "job.yaml:9:1: ", "sink: expected one of: files, print, kafka");
	expect_error(with_sink("  files: {}\n"),
	    "job.yaml:10:3: ", "sink.files: missing required key 'path'");
	expect_error(with_sink("  files: {path: \"\"}\n"),
	    "job.yaml:10:17: ", "sink.files.path: expected a directory path, got an empty string");
	expect_error(with_sink("  files: /tmp/out\n"),
	    "job.yaml:10:10: ", "sink.files: expected a mapping like {path: DIR}, got '/tmp/out'");
	expect_error(with_sink("  kafka: {brokers: b}\n"),
	    "job.yaml:10:11: ", "sink.kafka: missing required key 'topic'");
	expect_error(with_sink("  kafka: {brokers: b, topic: t, exactly_once: 1}\n"),
	    "job.yaml:10:47: ", "sink.kafka.exactly_once: '1' is not a boolean");
}

Test(jobfile, rejects_a_missing_sink)
{
	expect_error(
	    HEAD "pipeline:\n  - map: lower\n", "job.yaml:1:1: ", "missing required key 'sink'");
	expect_error(HEAD "pipeline:\n  - map: lower\nsink:\n",
	    "job.yaml:9:1: ", "sink: expected one of: files, print, kafka");
}

Test(jobfile, rejects_print_num_0)
{
	expect_error(with_sink("  print: {num: 0}\n"), "job.yaml:10:16: ",
	    "sink.print.num: '0' is out of range (expected an integer of at least 1)");
	expect_error(with_sink("  print: {n: 5}\n"),
	    "job.yaml:10:11: ", "sink.print: unknown key 'n' (expected one of: num)");
}

// --- Loading files -----------------------------------------------------------------------------

Test(jobfile, load_reports_a_missing_file)
{
	char    err[512] = "";
	rl_job  sentinel;
	rl_job *job = &sentinel;
	rl_err  rv = rl_job_load("/nonexistent/rill/job.yaml", &job, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_IO);
	cr_assert_eq(job, &sentinel);
	cr_assert_str_eq(err, "/nonexistent/rill/job.yaml: No such file or directory");
}

Test(jobfile, load_reports_a_directory)
{
	char        err[512] = "";
	rl_job     *job = NULL;
	const char *dir = source_path("tests/common/jobs");
	cr_assert_eq(rl_job_load(dir, &job, err, sizeof(err)), RL_ERR_IO);
	cr_assert_null(job);
	char want[4200];
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	cr_assert_str_eq(err, want);
}

Test(jobfile, load_names_the_file_in_content_errors)
{
	char        err[512] = "";
	rl_job     *job = NULL;
	const char *path = source_path("tests/common/jobs/typo.yaml");
	cr_assert_eq(rl_job_load(path, &job, err, sizeof(err)), RL_ERR_PARSE);
	cr_assert_null(job);
	char want[4200];
	snprintf(want, sizeof(want), "%s:8:5: unknown operator 'flatmap'", path);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
}

Test(jobfile, truncates_long_messages_to_errbuf)
{
	char        err[16];
	rl_job     *job = NULL;
	const char *yaml = with_step("flatmap: words");
	cr_assert_eq(
	    rl_job_parse(yaml, strlen(yaml), "job.yaml", &job, err, sizeof(err)), RL_ERR_PARSE);
	cr_assert_str_eq(err, "job.yaml:8:5: u");
	cr_assert_eq(rl_job_parse(yaml, strlen(yaml), "job.yaml", &job, NULL, 0), RL_ERR_PARSE);
}

// libfyaml 0.7 never returns from a directive line holding an invalid byte;
// the job text (which also arrives in every task launch) is checked first.
Test(jobfile, refuses_bytes_that_are_not_utf8, .timeout = 10)
{
	expect_error("name: t\n%   fail_on_d\xcbta_loss: true\n",
	    "job.yaml:2:14: ", "byte 0xCB is not UTF-8");
	expect_error("%\xcb\n", "job.yaml:1:2: ", "byte 0xCB is not UTF-8");
	expect_error("# comment \xff\nname: t\n", "job.yaml:1:11: ", "byte 0xFF is not UTF-8");
	expect_error(with_top("name: caf\xc3\n"), "job.yaml:1:10: ", "byte 0xC3 is not UTF-8");
	expect_error(
	    "name: \xed\xa0\x80\n", "job.yaml:1:7: ", "byte 0xED is not UTF-8"); // a surrogate
	expect_error("name: \xc0\xafx\n", "job.yaml:1:7: ", "byte 0xC0 is not UTF-8"); // overlong
}

Test(jobfile, refuses_a_nul_byte)
{
	const char yaml[] = "name: t\nbatch: 1s\0\n";
	char       err[512] = "";
	rl_job    *job = NULL;
	cr_assert_eq(
	    rl_job_parse(yaml, sizeof(yaml) - 1, "job.yaml", &job, err, sizeof(err)), RL_ERR_PARSE);
	cr_assert_str_eq(err, "job.yaml:2:10: a NUL byte: a job file is UTF-8 text");
}

Test(jobfile, accepts_utf8_in_comments_and_values)
{
	rl_job *job = parse_ok(
	    "# débit, 10ms … 1h\n" HEAD "pipeline:\n  - filter: {contains: \"café ☕\"}\n" SINK);
	rl_job_destroy(job);
}
