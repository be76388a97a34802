// SPDX-License-Identifier: Apache-2.0
// Command-line parser tests: each option type, --help, usage errors and the
// usage's layout.
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cmdline.h"

typedef struct values {
	bool        flag;
	const char *str;
	int         num;
	int64_t     dur_ms;
	int         calls;
	const char *called_with;
} values;

static bool
count_call(void *dest, const char *prog, const char *arg)
{
	values *v = dest;
	if (strcmp(arg, "bad") == 0) {
		fprintf(stderr, "%s: --call: bad is bad\n", prog);
		return false;
	}
	v->calls++;
	v->called_with = arg;
	return true;
}

// The table every test parses against; v receives the values.
#define OPTS(v)                                                                                    \
	{                                                                                          \
		RL_OPT_FLAG("flag", &(v).flag, "a flag"),                                          \
		    RL_OPT_STRING("str", &(v).str, "S", "a string"),                               \
		    RL_OPT_INT("num", &(v).num, "N", 1, 64, "a number from 1 to 64"),              \
		    RL_OPT_DURATION("for", &(v).dur_ms, "DUR", "a duration"),                      \
		    RL_OPT_CALL("call", count_call, &(v), "X", "a callback"),                      \
		    RL_OPT_REFUSED("http", "IP:PORT", NULL, "--http is not in this version"),      \
		    RL_OPT_END,                                                                    \
	}

static const char synopsis[] = "JOB.yaml [--flag] [--str S] [--num N] [--for DUR] [--call X] "
                               "[--a-rather-long-option-name VALUE]";

// args makes a mutable argv from its NULL-terminated strings (getopt_long
// permutes it); it lasts until the next call.
static char **
args(int *ret_argc, ...)
{
	static char *argv[32];
	static int   made;
	va_list      ap;
	int          n = 0;
	while (made > 0)
		free(argv[--made]); // the previous call's
	va_start(ap, ret_argc);
	for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
		argv[n++] = strdup(s);
	va_end(ap);
	argv[n] = NULL;
	made = n;
	*ret_argc = n;
	return argv;
}

typedef struct captured {
	rl_cmdline_result result;
	int               first;
	char              out[8192]; // stdout
	char              err[8192]; // stderr
} captured;

static void
read_back(FILE *f, char *buf, size_t len)
{
	rewind(f);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

// parse runs rl_cmdline_parse with stdout and stderr caught in c.
static void
parse(const rl_cmdline *cl, int argc, char **argv, captured *c)
{
	FILE *out = tmpfile(), *err = tmpfile();
	cr_assert(out != NULL && err != NULL);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	c->first = -1;
	c->result = rl_cmdline_parse(cl, argc, argv, &c->first);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	read_back(out, c->out, sizeof(c->out));
	read_back(err, c->err, sizeof(c->err));
}

Test(cmdline, stores_every_option_type_and_puts_operands_last)
{
	values           v = { .num = 2 };
	const rl_opt     opts[] = OPTS(v);
	const rl_cmdline cl
	    = { .prog = "t", .synopsis = synopsis, .opts = opts, .max_operands = 1 };
	int      argc;
	char   **argv = args(&argc, "t", "--num", "7", "job.yaml", "--flag", "--for", "500ms",
	      "--str=hello", "--call", "a", "--call", "b", NULL);
	captured c;
	parse(&cl, argc, argv, &c);
	cr_assert_eq(c.result, RL_CMDLINE_OK, "%s", c.err);
	cr_assert_str_empty(c.out);
	cr_assert_str_empty(c.err);
	cr_assert(v.flag);
	cr_assert_str_eq(v.str, "hello");
	cr_assert_eq(v.num, 7);
	cr_assert_eq(v.dur_ms, 500);
	cr_assert_eq(v.calls, 2);
	cr_assert_str_eq(v.called_with, "b");
	cr_assert_eq(c.first, argc - 1);
	cr_assert_str_eq(argv[c.first], "job.yaml");
}

Test(cmdline, parses_afresh_each_time)
{
	values           v = { 0 };
	const rl_opt     opts[] = OPTS(v);
	const rl_cmdline cl = { .prog = "t", .synopsis = synopsis, .opts = opts };
	int              argc;
	char           **argv = args(&argc, "t", "--num", "3", NULL);
	captured         c;
	parse(&cl, argc, argv, &c);
	cr_assert_eq(c.result, RL_CMDLINE_OK, "%s", c.err);
	argv = args(&argc, "t", "--num", "5", "--flag", NULL);
	parse(&cl, argc, argv, &c);
	cr_assert_eq(c.result, RL_CMDLINE_OK, "%s", c.err);
	cr_assert_eq(v.num, 5);
	cr_assert(v.flag);
	cr_assert_eq(c.first, argc);
}

Test(cmdline, help_goes_to_stdout_with_every_listed_option)
{
	values           v = { 0 };
	const rl_opt     opts[] = OPTS(v);
	const rl_cmdline cl = { .prog = "t", .synopsis = synopsis, .opts = opts };
	const char      *forms[] = { "--help", "-h" };
	for (size_t i = 0; i < 2; i++) {
		int      argc;
		char   **argv = args(&argc, "t", "--num", "3", forms[i], NULL);
		captured c;
		parse(&cl, argc, argv, &c);
		cr_assert_eq(c.result, RL_CMDLINE_HELP, "%s", forms[i]);
		cr_assert_str_empty(c.err);
		cr_assert(strncmp(c.out, "usage: t JOB.yaml [--flag]", 26) == 0, "%s", c.out);
		cr_assert_not_null(strstr(c.out, "\n  --num N "), "%s", c.out);
		cr_assert_not_null(strstr(c.out, "a number from 1 to 64"), "%s", c.out);
		cr_assert_not_null(strstr(c.out, "\n  --help "), "%s", c.out);
		cr_assert_null(
		    strstr(c.out, "--http"), "a refused option without help is unlisted");
	}
}

// expect_usage_error parses argv and checks the result, that stderr starts
// with want and ends with the usage, and that stdout is empty.
static void
expect_usage_error(const rl_cmdline *cl, char **argv, int argc, const char *want)
{
	captured c;
	parse(cl, argc, argv, &c);
	cr_assert_eq(c.result, RL_CMDLINE_USAGE, "%s", want);
	cr_assert_eq(c.first, -1, "*ret_first is written only on success");
	cr_assert_str_empty(c.out);
	cr_assert(strncmp(c.err, want, strlen(want)) == 0, "wanted '%s' in:\n%s", want, c.err);
	cr_assert_not_null(strstr(c.err, "\nusage: t "), "%s", c.err);
}

Test(cmdline, usage_errors_name_the_option_and_the_problem)
{
	values           v = { 0 };
	const rl_opt     opts[] = OPTS(v);
	const rl_cmdline cl
	    = { .prog = "t", .synopsis = synopsis, .opts = opts, .max_operands = 1 };
	int    argc;
	char **argv;
	argv = args(&argc, "t", "--num", "0", NULL);
	expect_usage_error(&cl, argv, argc, "t: --num: '0' is not a number from 1 to 64\n");
	argv = args(&argc, "t", "--num", "many", NULL);
	expect_usage_error(&cl, argv, argc, "t: --num: 'many' is not a number from 1 to 64\n");
	argv = args(&argc, "t", "--for", "soon", NULL);
	expect_usage_error(&cl, argv, argc, "t: --for: 'soon' is not a duration");
	argv = args(&argc, "t", "--for", NULL);
	expect_usage_error(&cl, argv, argc, "t: option '--for' needs an argument\n");
	argv = args(&argc, "t", "--flag=yes", NULL);
	expect_usage_error(&cl, argv, argc, "t: option '--flag' takes no argument\n");
	argv = args(&argc, "t", "--frob", NULL);
	expect_usage_error(&cl, argv, argc, "t: unknown option '--frob'\n");
	argv = args(&argc, "t", "-x", NULL);
	expect_usage_error(&cl, argv, argc, "t: unknown option '-x'\n");
	argv = args(&argc, "t", "--http", "0.0.0.0:80", NULL);
	expect_usage_error(&cl, argv, argc, "t: --http is not in this version\n");
	argv = args(&argc, "t", "--call", "bad", NULL);
	expect_usage_error(&cl, argv, argc, "t: --call: bad is bad\n");
	argv = args(&argc, "t", "a.yaml", "b.yaml", NULL);
	expect_usage_error(&cl, argv, argc, "t: unexpected argument 'b.yaml'\n");
}

Test(cmdline, usage_wraps_to_80_columns_and_keeps_brackets_whole)
{
	values           v = { 0 };
	const rl_opt     opts[] = OPTS(v);
	const rl_cmdline cl = { .prog = "rill something", .synopsis = synopsis, .opts = opts };
	char            *text = NULL;
	size_t           len = 0;
	FILE            *f = open_memstream(&text, &len);
	rl_cmdline_usage(&cl, f);
	fclose(f);
	// The synopsis is 103 characters: it takes two lines, broken between
	// brackets, the second one indented under the first operand.
	cr_assert(strncmp(text, "usage: rill something JOB.yaml [--flag]", 39) == 0, "%s", text);
	cr_assert_not_null(
	    strstr(
	        text, "\n                      [--call X] [--a-rather-long-option-name VALUE]\n\n"),
	    "%s", text);
	for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
		cr_assert_lt(nl - line, 80, "line too long: %.*s", (int)(nl - line), line);
	free(text);
}
