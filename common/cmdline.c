// SPDX-License-Identifier: Apache-2.0
// The option parser, option values and the graceful-then-abort stop signals
// of rill's commands.
#include "common/cmdline.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"

#define LINE_WIDTH 80 // a line holds at most LINE_WIDTH - 1 characters
#define HELP_COLUMN_MAX 26 // an option wider than this puts its help on the next line
#define OPT_VAL_BASE 256 // getopt_long's val for cl->opts[i] is OPT_VAL_BASE + i

// print_wrapped prints text's words from column col on, breaking lines
// before LINE_WIDTH and indenting the next ones by indent. With brackets,
// a bracketed group ("[--for DUR]") is one word.
static void
print_wrapped(FILE *out, const char *text, size_t col, size_t indent, bool brackets)
{
	bool first = true;
	for (const char *p = text; *p != '\0';) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t len = 0;
		int    depth = 0;
		for (; p[len] != '\0' && (p[len] != ' ' || depth > 0); len++) {
			if (brackets && p[len] == '[')
				depth++;
			else if (brackets && p[len] == ']' && depth > 0)
				depth--;
		}
		if (!first && col + 1 + len >= LINE_WIDTH) {
			fprintf(out, "\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)len, p);
		col += len;
		p += len;
		first = false;
	}
	fputc('\n', out);
}

// opt_width is the width of "  --name ARG".
static size_t
opt_width(const char *name, const char *arg)
{
	return 4 + strlen(name) + (arg != NULL ? 1 + strlen(arg) : 0);
}

static void
print_opt(FILE *out, const char *name, const char *arg, const char *help, size_t column)
{
	size_t w = opt_width(name, arg);
	fprintf(out, "  --%s%s%s", name, arg != NULL ? " " : "", arg != NULL ? arg : "");
	if (w + 2 > column)
		fprintf(out, "\n%*s", (int)column, "");
	else
		fprintf(out, "%*s", (int)(column - w), "");
	print_wrapped(out, help, column, column, false);
}

void
rl_cmdline_usage(const rl_cmdline *cl, FILE *out)
{
	fprintf(out, "usage: %s ", cl->prog);
	size_t col = strlen("usage: ") + strlen(cl->prog) + 1;
	print_wrapped(out, cl->synopsis, col, col, true);
	if (cl->about != NULL)
		fprintf(out, "\n%s", cl->about);
	size_t column = opt_width("help", NULL) + 2;
	for (const rl_opt *o = cl->opts; o->name != NULL; o++) {
		size_t w = opt_width(o->name, o->arg) + 2;
		if (o->help != NULL && w > column && w <= HELP_COLUMN_MAX)
			column = w;
	}
	fputc('\n', out);
	for (const rl_opt *o = cl->opts; o->name != NULL; o++)
		if (o->help != NULL)
			print_opt(out, o->name, o->arg, o->help, column);
	print_opt(out, "help", NULL, "print this text and exit 0", column);
	if (cl->epilog != NULL)
		fprintf(out, "\n%s", cl->epilog);
}

void
rl_cmdline_error(const rl_cmdline *cl, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", cl->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	rl_cmdline_usage(cl, stderr);
}

// store gives option o its argument (NULL for a flag).
static rl_cmdline_result
store(const rl_cmdline *cl, const rl_opt *o, const char *arg)
{
	char dashed[128];
	snprintf(dashed, sizeof(dashed), "--%s", o->name);
	int64_t ms;
	long    n;
	switch (o->type) {
	case RL_OPTION_FLAG:
		*(bool *)o->dest = true;
		return RL_CMDLINE_OK;
	case RL_OPTION_STRING:
		*(const char **)o->dest = arg;
		return RL_CMDLINE_OK;
	case RL_OPTION_INT:
		if (!rl_arg_long(cl->prog, dashed, arg, o->min, o->max, &n))
			break;
		*(int *)o->dest = (int)n;
		return RL_CMDLINE_OK;
	case RL_OPTION_DURATION:
		if (!rl_arg_duration(cl->prog, dashed, arg, &ms))
			break;
		*(int64_t *)o->dest = ms;
		return RL_CMDLINE_OK;
	case RL_OPTION_CALL:
		if (!o->call(o->dest, cl->prog, arg))
			break;
		return RL_CMDLINE_OK;
	case RL_OPTION_REFUSED:
		fprintf(stderr, "%s: %s\n", cl->prog, o->refusal);
		break;
	}
	rl_cmdline_usage(cl, stderr);
	return RL_CMDLINE_USAGE;
}

// bad_option says what getopt_long's answer c (':' or '?') means; optopt is
// the option's val, 0 for an unknown long option; word is the argument
// getopt_long was looking at.
static void
bad_option(const rl_cmdline *cl, int c, const char *word)
{
	const char *name = optopt >= OPT_VAL_BASE ? cl->opts[optopt - OPT_VAL_BASE].name
	    : optopt == 'h'                       ? "help"
	                                          : NULL;
	if (c == ':')
		rl_cmdline_error(cl, "option '--%s' needs an argument", name);
	else if (name != NULL && strncmp(word, "--", 2) == 0)
		rl_cmdline_error(cl, "option '--%s' takes no argument", name);
	else if (optopt != 0)
		rl_cmdline_error(cl, "unknown option '-%c'", optopt);
	else
		rl_cmdline_error(cl, "unknown option '%s'", word);
}

rl_cmdline_result
rl_cmdline_parse(const rl_cmdline *cl, int argc, char **argv, int *ret_first)
{
	size_t nopts = 0;
	while (cl->opts[nopts].name != NULL)
		nopts++;
	struct option *longopts = rl_calloc(nopts + 2, sizeof(*longopts));
	for (size_t i = 0; i < nopts; i++)
		longopts[i] = (struct option) {
			.name = cl->opts[i].name,
			.has_arg = cl->opts[i].arg != NULL ? required_argument : no_argument,
			.val = OPT_VAL_BASE + (int)i,
		};
	longopts[nopts] = (struct option) { .name = "help", .val = 'h' };

	rl_cmdline_result res = RL_CMDLINE_OK;
	int               c;
	optind = 0; // glibc: start afresh, also after an earlier parse
	opterr = 0; // the messages are ours, with our prefix
	while (res == RL_CMDLINE_OK && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			rl_cmdline_usage(cl, stdout);
			res = RL_CMDLINE_HELP;
		} else if (c >= OPT_VAL_BASE) {
			res = store(cl, &cl->opts[c - OPT_VAL_BASE], optarg);
		} else {
			res = RL_CMDLINE_USAGE;
			bad_option(cl, c, argv[optind - 1]);
		}
	}
	rl_free(longopts);
	if (res != RL_CMDLINE_OK)
		return res;
	if (argc - optind > cl->max_operands) {
		rl_cmdline_error(cl, "unexpected argument '%s'", argv[optind + cl->max_operands]);
		return RL_CMDLINE_USAGE;
	}
	*ret_first = optind;
	return RL_CMDLINE_OK;
}

bool
rl_arg_long(const char *prog, const char *opt, const char *s, long min, long max, long *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "%s: %s: '%s' is not a number from %ld to %ld\n", prog, opt, s, min,
		    max);
		return false;
	}
	*ret = v;
	return true;
}

bool
rl_arg_duration(const char *prog, const char *opt, const char *s, int64_t *ret_ms)
{
	int64_t ms;
	if (rl_parse_duration_ms(s, &ms) != RL_OK || ms == 0) {
		fprintf(stderr, "%s: %s: '%s' is not a duration (e.g. 500ms, 30s, 5m, 1h)\n", prog,
		    opt, s);
		return false;
	}
	*ret_ms = ms;
	return true;
}

static void (*volatile stop_fn)(void *);
static void *volatile stop_arg;
static volatile sig_atomic_t stops_seen;

static void
on_stop_signal(int sig)
{
	if (stops_seen++ == 0 && stop_fn != NULL) {
		stop_fn(stop_arg);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
rl_stop_signals(void (*stop)(void *arg), void *arg)
{
	stop_arg = arg;
	stop_fn = stop;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
