// SPDX-License-Identifier: Apache-2.0
// User functions (include/rill.h) from load to data path: the sha256 is
// checked before dlopen, an unknown ABI and malformed bindings are refused
// with the job file's place, and the example library's functions run
// through the operator chain, the combiner and the update fold.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/udf.h"
#include "executor/combine.h"
#include "executor/executor.h"
#include "executor/operator.h"

// Paths of the test artifacts, from tests/meson.build.
#ifndef EXAMPLE_UDF
#error "EXAMPLE_UDF: the path of examples/udf's library"
#endif

#define HEAD                                                                                       \
	"name: t\n"                                                                                \
	"batch: 1s\n"                                                                              \
	"source:\n"                                                                                \
	"  kafka:\n"                                                                               \
	"    brokers: localhost:9092\n"                                                            \
	"    topics: [in]\n"                                                                       \
	"pipeline:\n"
#define SINK "sink:\n  print: {}\n"

typedef struct artifact {
	void  *data;
	size_t len;
	char   sha[RL_SHA256_HEX_LEN];
} artifact;

static artifact
read_artifact(const char *path)
{
	artifact a;
	char     why[512];
	cr_assert_eq(
	    rl_udf_lib_read(path, &a.data, &a.len, a.sha, why, sizeof(why)), RL_OK, "%s", why);
	return a;
}

static rl_udf_lib *
load(const char *path)
{
	artifact    a = read_artifact(path);
	rl_udf_lib *lib;
	char        why[512];
	cr_assert_eq(
	    rl_udf_lib_load(a.data, a.len, a.sha, &lib, why, sizeof(why)), RL_OK, "%s", why);
	rl_free(a.data);
	return lib;
}

static rl_job *
job_of(const char *steps)
{
	char    text[2048], why[512];
	rl_job *job;
	snprintf(text, sizeof(text), HEAD "%s" SINK, steps);
	cr_assert_eq(
	    rl_job_parse(text, strlen(text), "job.yaml", &job, why, sizeof(why)), RL_OK, "%s", why);
	return job;
}

// bind_error binds steps to lib and returns the error message.
static const char *
bind_error(rl_udf_lib *lib, const char *steps)
{
	static char why[1024];
	rl_job     *job = job_of(steps);
	rl_err      rv = rl_udf_bind(lib, job, why, sizeof(why));
	rl_job_destroy(job);
	cr_assert_eq(rv, RL_ERR_INVAL, "binding '%s' should fail", steps);
	return why;
}

// ---- loading ----

Test(udf, a_sha256_mismatch_is_refused_before_dlopen)
{
	unsetenv("RILL_TEST_ARTIFACT_LOADED");
	artifact a = read_artifact(BAD_ABI_UDF);
	// The sha256 of other bytes (the example library's).
	artifact    other = read_artifact(EXAMPLE_UDF);
	rl_udf_lib *lib = NULL;
	char        why[512];
	cr_assert_eq(
	    rl_udf_lib_load(a.data, a.len, other.sha, &lib, why, sizeof(why)), RL_ERR_AUTH);
	cr_assert_null(lib);
	cr_assert_not_null(strstr(why, a.sha), "names the sha256 the bytes have: %s", why);
	cr_assert_not_null(strstr(why, other.sha), "and the one expected: %s", why);
	cr_assert_null(getenv("RILL_TEST_ARTIFACT_LOADED"), "the library's constructor ran");
	// One flipped byte is a mismatch too.
	((unsigned char *)other.data)[other.len / 2] ^= 1;
	cr_assert_eq(
	    rl_udf_lib_load(other.data, other.len, other.sha, &lib, why, sizeof(why)), RL_ERR_AUTH);
	rl_free(a.data);
	rl_free(other.data);
}

Test(udf, an_unknown_abi_version_is_refused)
{
	unsetenv("RILL_TEST_ARTIFACT_LOADED");
	artifact    a = read_artifact(BAD_ABI_UDF);
	rl_udf_lib *lib = NULL;
	char        why[512];
	cr_assert_eq(rl_udf_lib_load(a.data, a.len, a.sha, &lib, why, sizeof(why)), RL_ERR_VERSION,
	    "%s", why);
	cr_assert_null(lib);
	cr_assert_not_null(strstr(why, "ABI version 999"), "%s", why);
	cr_assert_not_null(strstr(why, "knows version 1"), "%s", why);
	// The sha256 matched, so it was loaded (and unloaded) to read its version.
	cr_assert_str_eq(getenv("RILL_TEST_ARTIFACT_LOADED"), "bad_abi");
	rl_free(a.data);
}

Test(udf, bytes_that_are_no_library_are_refused)
{
	const char  junk[] = "not an ELF file at all";
	char        sha[RL_SHA256_HEX_LEN], why[512];
	rl_udf_lib *lib = NULL;
	rl_sha256_hex(junk, sizeof(junk), sha);
	cr_assert_eq(rl_udf_lib_load(junk, sizeof(junk), sha, &lib, why, sizeof(why)), RL_ERR_INVAL,
	    "%s", why);
	cr_assert_not_null(strstr(why, "not a loadable library"), "%s", why);
}

// ---- binding: names and kinds, at the job file's line:col ----

Test(udf, an_unknown_name_is_refused_at_its_line_and_column)
{
	rl_udf_lib *lib = load(EXAMPLE_UDF);
	const char *why = bind_error(lib, "  - flat_map: {udf: tokens}\n  - map: {udf: nope}\n");
	cr_assert(strncmp(why, "job.yaml:9:5: map: {udf: nope}", 30) == 0, "%s", why);
	cr_assert_not_null(strstr(why, "no function nope"), "%s", why);
	cr_assert_not_null(strstr(why, "tokens, not_short"), "lists what it has: %s", why);
	rl_udf_lib_destroy(lib);
}

Test(udf, a_function_of_the_wrong_kind_is_refused)
{
	rl_udf_lib *lib = load(EXAMPLE_UDF);
	const char *why = bind_error(lib, "  - filter: {udf: shout}\n");
	cr_assert(strncmp(why, "job.yaml:8:5: filter: {udf: shout} is a map function", 51) == 0,
	    "%s", why);
	why = bind_error(lib, "  - map_values: one\n  - reduce_by_key: {udf: tokens}\n");
	cr_assert_not_null(strstr(why, "job.yaml:9:5:"), "%s", why);
	cr_assert_not_null(strstr(why, "needs a reduce function"), "%s", why);
	rl_udf_lib_destroy(lib);
}

Test(udf, a_job_with_udfs_and_no_artifact_is_refused)
{
	rl_job *job = job_of("  - map: lower\n  - map: {udf: shout}\n");
	char    why[512];
	cr_assert(rl_job_uses_udfs(job));
	cr_assert_eq(rl_udf_check(job, NULL, 0, NULL, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert(
	    strncmp(why, "job.yaml:9:5: map: {udf: shout} needs the library", 48) == 0, "%s", why);
	cr_assert_not_null(strstr(why, "--artifact"), "%s", why);
	rl_job_destroy(job);
	// Without udfs the artifact is not even looked at.
	job = job_of("  - map: lower\n");
	cr_assert_not(rl_job_uses_udfs(job));
	cr_assert_eq(rl_udf_check(job, "junk", 4, "x", why, sizeof(why)), RL_OK);
	rl_job_destroy(job);
}

// ---- the data path ----

typedef struct sink {
	char   out[4096];
	size_t len;
	int    n;
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

// run pushes values through job's pipeline bound to lib; returns the
// first error (with why) or RL_OK.
static rl_err
run(rl_udf_lib *lib, const char *steps, const char *const *values, size_t nvalues, sink *s,
    char *why, size_t whylen)
{
	rl_job *job = job_of(steps);
	cr_assert_eq(rl_udf_bind(lib, job, why, whylen), RL_OK, "%s", why);
	const rl_step *ptrs[8];
	for (size_t i = 0; i < job->j_nsteps; i++)
		ptrs[i] = &job->j_steps[i];
	rl_arena scratch;
	rl_arena_init(&scratch, 256);
	rl_chain c;
	memset(s, 0, sizeof(*s));
	cr_assert_eq(rl_chain_init(&c, ptrs, job->j_nsteps, &scratch, collect, s, why, whylen),
	    RL_OK, "%s", why);
	rl_err rv = RL_OK;
	for (size_t i = 0; i < nvalues && rv == RL_OK; i++) {
		rl_rec rec
		    = { .r_val = (const uint8_t *)values[i], .r_val_len = strlen(values[i]) };
		rv = rl_chain_push(&c, &rec);
	}
	rl_chain_fini(&c);
	rl_arena_fini(&scratch);
	rl_job_destroy(job);
	return rv;
}

Test(udf, example_functions_run_through_the_chain)
{
	rl_udf_lib *lib = load(EXAMPLE_UDF);
	char        why[512];
	sink        s;
	// A word longer than the example's stack buffer goes through scratch space.
	char long_word[200];
	memset(long_word, 'Q', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	const char *lines[] = { "The cat, the HAT!", "a an", long_word };
	cr_assert_eq(run(lib,
	                 "  - flat_map: {udf: tokens}\n  - filter: {udf: not_short}\n"
	                 "  - map_values: {udf: one}\n",
	                 lines, 3, &s, why, sizeof(why)),
	    RL_OK, "%s", why);
	char lowered[200];
	memset(lowered, 'q', sizeof(lowered) - 1);
	lowered[sizeof(lowered) - 1] = '\0';
	char want[1024];
	snprintf(want, sizeof(want), "the=1|cat=1|the=1|hat=1|%s=1|", lowered);
	cr_assert_str_eq(s.out, want);

	const char *words[] = { "abc", "" };
	cr_assert_eq(run(lib, "  - key_by: {udf: first_letter}\n  - map: {udf: shout}\n", words, 2,
	                 &s, why, sizeof(why)),
	    RL_OK, "%s", why);
	cr_assert_str_eq(s.out, "a=ABC|", "the empty value has no key: dropped");
	rl_udf_lib_destroy(lib);
}

Test(udf, broken_rules_fail_the_task_with_a_reason)
{
	rl_udf_lib *lib = load(MISBEHAVING_UDF);
	char        why[512];
	sink        s;
	const char *v[] = { "ok", "xy" };
	cr_assert_eq(run(lib, "  - map: {udf: twice}\n", v, 1, &s, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert_not_null(strstr(why, "emitted more than once"), "%s", why);
	cr_assert_eq(run(lib, "  - filter: {udf: chatty_filter}\n", v, 1, &s, why, sizeof(why)),
	    RL_ERR_INVAL);
	cr_assert_not_null(strstr(why, "emitted a value"), "%s", why);
	cr_assert_eq(run(lib, "  - map: {udf: picky}\n", v, 2, &s, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert_str_eq(s.out, "-=ok|", "the first value went through");
	cr_assert_str_eq(why, "map: {udf: picky}: values starting with x are not allowed");
	cr_assert_eq(
	    run(lib, "  - flat_map: {udf: broken}\n", v, 1, &s, why, sizeof(why)), RL_ERR_INVAL);
	cr_assert_not_null(strstr(why, "returned -7"), "%s", why);
	rl_udf_lib_destroy(lib);
}

Test(udf, a_reduce_udf_folds_like_the_builtin_sum)
{
	rl_udf_lib *lib = load(EXAMPLE_UDF);
	rl_job     *job = job_of("  - map_values: one\n  - reduce_by_key: {udf: add}\n");
	char        why[256];
	cr_assert_eq(rl_udf_bind(lib, job, why, sizeof(why)), RL_OK, "%s", why);
	const rl_step *red = &job->j_steps[1];
	rl_arena       keys;
	rl_arena_init(&keys, 1024);
	rl_combiner mine, builtin;
	rl_combiner_init_udf(&mine, red->s_udf->reduce, red->s_udf_data, red->s_udf->name, &keys);
	rl_combiner_init(&builtin, RL_FN_SUM, &keys);
	srand(7);
	for (int i = 0; i < 20000; i++) {
		char   k[16];
		int    n = snprintf(k, sizeof(k), "k%d", rand() % 500);
		rl_rec r = { .r_key = (const uint8_t *)k,
			.r_key_len = (size_t)n,
			.r_num = rand() % 1000 - 300,
			.r_is_num = true };
		cr_assert_eq(rl_combiner_add(&mine, &r, why, sizeof(why)), RL_OK);
		cr_assert_eq(rl_combiner_add(&builtin, &r, why, sizeof(why)), RL_OK);
	}
	cr_assert_eq(rl_combiner_count(&mine), rl_combiner_count(&builtin));
	for (size_t i = 0; i < builtin.c_cap; i++) {
		const rl_combine_entry *e = &builtin.c_slots[i];
		int64_t                 v;
		if (e->e_key == NULL)
			continue;
		cr_assert(rl_combiner_get(&mine, e->e_key, e->e_key_len, &v));
		cr_assert_eq(v, e->e_acc, "key %.*s", (int)e->e_key_len, e->e_key);
	}
	rl_combiner_fini(&mine);
	rl_combiner_fini(&builtin);
	rl_arena_fini(&keys);
	rl_job_destroy(job);
	rl_udf_lib_destroy(lib);
}

// A reduce the combiner could not do by itself: the library's own function
// is what folds (a combiner that summed, or kept the built-in max, differs).
Test(udf, a_reduce_udf_is_the_library_s_own_fold)
{
	rl_udf_lib *lib = load(MISBEHAVING_UDF);
	rl_job     *job = job_of("  - map_values: one\n  - reduce_by_key: {udf: max_odd}\n");
	char        why[256];
	cr_assert_eq(rl_udf_bind(lib, job, why, sizeof(why)), RL_OK, "%s", why);
	const rl_step *red = &job->j_steps[1];
	rl_arena       keys;
	rl_arena_init(&keys, 1024);
	rl_combiner c;
	rl_combiner_init_udf(&c, red->s_udf->reduce, red->s_udf_data, red->s_udf->name, &keys);
	enum { KEYS = 50 };
	int64_t want[KEYS];
	bool    seen[KEYS] = { false };
	srand(11);
	for (int i = 0; i < 5000; i++) {
		int     k = rand() % KEYS;
		int64_t v = rand() % 1000 - 300;
		char    key[16];
		int     n = snprintf(key, sizeof(key), "k%d", k);
		rl_rec  r = { .r_key = (const uint8_t *)key,
			 .r_key_len = (size_t)n,
			 .r_num = v,
			 .r_is_num = true };
		cr_assert_eq(rl_combiner_add(&c, &r, why, sizeof(why)), RL_OK, "%s", why);
		// The largest odd value, else the largest even one.
		if (!seen[k] || (v % 2 != 0 && (want[k] % 2 == 0 || v > want[k]))
		    || (v % 2 == 0 && want[k] % 2 == 0 && v > want[k]))
			want[k] = v;
		seen[k] = true;
	}
	for (int k = 0; k < KEYS; k++) {
		char    key[16];
		int     n = snprintf(key, sizeof(key), "k%d", k);
		int64_t got;
		cr_assert(rl_combiner_get(&c, (const uint8_t *)key, (size_t)n, &got));
		cr_assert_eq(got, want[k], "key %s", key);
	}
	rl_combiner_fini(&c);
	rl_arena_fini(&keys);
	rl_job_destroy(job);
	rl_udf_lib_destroy(lib);
}

// ---- an executor fetching an artifact from its driver ----

// A stand-in for the driver's pool: answers ArtifactFetch with `serve`.
static artifact serve;
static int      fetches;

static void
fake_driver(void *arg, const rl_msg *req, const char *peer, rl_reply *reply)
{
	(void)arg;
	(void)peer;
	if (req->m_env->body_case != RILL__ENVELOPE__BODY_ARTIFACT_FETCH)
		return;
	fetches++;
	Rill__ArtifactData *d = rl_arena_alloc(reply->r_arena, sizeof(*d));
	rill__artifact_data__init(d);
	d->sha256 = req->m_env->artifact_fetch->sha256;
	d->size = serve.len;
	reply->r_env.body_case = RILL__ENVELOPE__BODY_ARTIFACT_DATA;
	reply->r_env.artifact_data = d;
	reply->r_tail = serve.data;
	reply->r_tail_len = serve.len;
}

#define JOB_TEXT HEAD "  - map: {udf: shout}\n" SINK

// launch sends a task of JOB_TEXT naming artifact sha (served at url) and
// returns its result's status, code and error.
static int
launch(
    rl_executor *ex, const char *sha, const char *url, uint32_t *ret_code, char *err, size_t errlen)
{
	rl_rpc_client *cli;
	char           why[512];
	cr_assert_eq(rl_rpc_client_create(rl_executor_url(ex), &cli, why, sizeof(why)), RL_OK);
	Rill__TaskLaunch tl = RILL__TASK_LAUNCH__INIT;
	tl.epoch = 1;
	tl.job = "t";
	tl.job_spec.data = (uint8_t *)JOB_TEXT;
	tl.job_spec.len = strlen(JOB_TEXT);
	tl.spec_hash = rl_hash64(JOB_TEXT, strlen(JOB_TEXT));
	tl.batch_time_ms = 1000;
	tl.stage = 1; // past the job's one stage: fails once the job is compiled
	tl.num_stages = 2;
	tl.artifact_sha256 = (char *)sha;
	tl.artifact_url = (char *)url;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_LAUNCH;
	env.task_launch = &tl;
	rl_msg *reply;
	cr_assert_eq(
	    rl_rpc_call(cli, &env, NULL, 0, 20000, &reply, why, sizeof(why)), RL_OK, "%s", why);
	cr_assert_eq(reply->m_env->body_case, RILL__ENVELOPE__BODY_TASK_RESULT);
	const Rill__TaskResult *res = reply->m_env->task_result;
	int                     status = res->status;
	*ret_code = res->code;
	snprintf(err, errlen, "%s", res->error != NULL ? res->error : "");
	rl_msg_free(reply);
	rl_rpc_client_destroy(cli);
	return status;
}

Test(udf, an_executor_refuses_bytes_that_do_not_hash_to_the_launch_s_sha256)
{
	rl_log_set_level(RL_LOG_ERROR); // the launches fail on purpose
	unsetenv("RILL_TEST_ARTIFACT_LOADED");
	artifact good = read_artifact(EXAMPLE_UDF);
	serve = read_artifact(BAD_ABI_UDF); // what a tampered store would hand out
	fetches = 0;
	rl_rpc_server *drv;
	char           why[512];
	cr_assert_eq(
	    rl_rpc_server_create("tcp://127.0.0.1:0", 1, fake_driver, NULL, &drv, why, sizeof(why)),
	    RL_OK, "%s", why);
	rl_executor_opts opts = { .listen_url = "tcp://127.0.0.1:0", .id = "x", .cores = 2 };
	rl_executor     *ex;
	cr_assert_eq(rl_executor_create(&opts, &ex, why, sizeof(why)), RL_OK, "%s", why);
	uint32_t code;
	char     err[512];
	int      st = launch(ex, good.sha, rl_rpc_server_url(drv), &code, err, sizeof(err));
	cr_assert_eq(st, RILL__TASK_RESULT__STATUS__FAILED);
	cr_assert_eq(code, RL_ERR_AUTH, "%s", err);
	cr_assert_not_null(strstr(err, "artifact refused"), "%s", err);
	cr_assert_not_null(strstr(err, serve.sha), "%s", err);
	cr_assert_null(getenv("RILL_TEST_ARTIFACT_LOADED"), "the served library was loaded");
	// Not remembered: the next launch asks again; with the right bytes the
	// job compiles, and only the stage past its plan fails.
	rl_free(serve.data);
	serve = good;
	st = launch(ex, good.sha, rl_rpc_server_url(drv), &code, err, sizeof(err));
	cr_assert_eq(st, RILL__TASK_RESULT__STATUS__FAILED);
	cr_assert_not_null(strstr(err, "does not match this job's plan"), "%s", err);
	cr_assert_eq(fetches, 2);
	// Loaded once: a third launch, which gets as far, does not fetch.
	st = launch(ex, good.sha, rl_rpc_server_url(drv), &code, err, sizeof(err));
	cr_assert_eq(st, RILL__TASK_RESULT__STATUS__FAILED);
	cr_assert_not_null(strstr(err, "does not match this job's plan"), "%s", err);
	cr_assert_eq(fetches, 2);
	rl_executor_destroy(ex);
	rl_rpc_server_destroy(drv);
	rl_free(good.data);
}
