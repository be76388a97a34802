// SPDX-License-Identifier: Apache-2.0
// What every rill command line shares: the option parser, option values and
// the stop signals.
#ifndef RL_CMDLINE_H
#define RL_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// Exit codes of every rill binary (SPEC.md): 0 success, 1 runtime failure,
// 2 bad usage or a bad job file.
enum { RL_EXIT_OK = 0, RL_EXIT_FAILURE = 1, RL_EXIT_USAGE = 2 };

// What an option does with its argument.
typedef enum rl_opt_type {
	RL_OPTION_FLAG, // no argument: *(bool *)dest = true
	RL_OPTION_STRING, // *(const char **)dest = the argument (it points into argv)
	RL_OPTION_INT, // a whole number from min to max: *(int *)dest
	RL_OPTION_DURATION, // a positive duration ("500ms", "30s"): *(int64_t *)dest in ms
	RL_OPTION_CALL, // call(dest, prog, argument); false: a usage error it has printed
	RL_OPTION_REFUSED, // not in this version: prints "PROG: refusal", a usage error
} rl_opt_type;

// rl_opt is one long option, "--name" or "--name ARG"; write them with the
// RL_OPT_* macros below, which check dest's type. A table ends with RL_OPT_END.
typedef struct rl_opt {
	const char *name; // without the dashes
	rl_opt_type type;
	void       *dest; // where the value goes (see rl_opt_type)
	const char *arg; // the argument's name in the usage ("N", "DIR"); NULL: no argument
	const char *help; // a sentence, wrapped to 80 columns; NULL: not in the usage
	long        min, max; // RL_OPTION_INT's bounds
	bool (*call)(void *dest, const char *prog, const char *arg); // RL_OPTION_CALL
	const char *refusal; // RL_OPTION_REFUSED's message
} rl_opt;

// RL_OPT_DEST_ is dest if it points to a T, else a compile error.
#define RL_OPT_DEST_(T, dest) _Generic((dest), T * : (dest))
#define RL_OPT_(name, type, dest, arg, help, min, max, call, refusal)                              \
	{                                                                                          \
		(name), (type), (dest), (arg), (help), (min), (max), (call), (refusal)             \
	}

#define RL_OPT_FLAG(name, dest, help)                                                              \
	RL_OPT_(name, RL_OPTION_FLAG, RL_OPT_DEST_(bool, dest), NULL, help, 0, 0, NULL, NULL)
#define RL_OPT_STRING(name, dest, arg, help)                                                       \
	RL_OPT_(                                                                                   \
	    name, RL_OPTION_STRING, RL_OPT_DEST_(const char *, dest), arg, help, 0, 0, NULL, NULL)
#define RL_OPT_INT(name, dest, arg, min, max, help)                                                \
	RL_OPT_(name, RL_OPTION_INT, RL_OPT_DEST_(int, dest), arg, help, min, max, NULL, NULL)
#define RL_OPT_DURATION(name, dest, arg, help)                                                     \
	RL_OPT_(name, RL_OPTION_DURATION, RL_OPT_DEST_(int64_t, dest), arg, help, 0, 0, NULL, NULL)
#define RL_OPT_CALL(name, call, dest, arg, help)                                                   \
	RL_OPT_(name, RL_OPTION_CALL, dest, arg, help, 0, 0, call, NULL)
// RL_OPT_REFUSED takes arg (NULL: none) and answers refusal when it is given.
#define RL_OPT_REFUSED(name, arg, help, refusal)                                                   \
	RL_OPT_(name, RL_OPTION_REFUSED, NULL, arg, help, 0, 0, NULL, refusal)
#define RL_OPT_END RL_OPT_(NULL, RL_OPTION_FLAG, NULL, NULL, NULL, 0, 0, NULL, NULL)

// rl_cmdline describes one command line; its usage is printed as
//   usage: PROG SYNOPSIS
//   <blank line> ABOUT
//   <blank line> the options with their help, and --help
//   <blank line> EPILOG
typedef struct rl_cmdline {
	const char   *prog; // "rill run": the errors' prefix and the usage's
	const char   *synopsis; // what follows PROG, one line; wrapped at option brackets
	const char   *about; // text with its own line breaks; NULL: none
	const rl_opt *opts; // ends with { .name = NULL }
	const char   *epilog; // text with its own line breaks; NULL: none
	int           max_operands; // arguments that are not options; more is a usage error
} rl_cmdline;

typedef enum rl_cmdline_result {
	RL_CMDLINE_OK, // options stored; operands are argv[*ret_first .. argc)
	RL_CMDLINE_HELP, // --help or -h: the usage went to stdout (exit 0)
	RL_CMDLINE_USAGE, // bad usage: "PROG: what" and the usage went to stderr (exit 2)
} rl_cmdline_result;

// rl_cmdline_parse parses argv[1 .. argc) with getopt_long against cl->opts
// (plus --help and -h), storing each option's value as it comes; options and
// operands may be mixed, and "--" ends the options. argv may be permuted, so
// that the operands come last. *ret_first is written only on RL_CMDLINE_OK.
// Not thread-safe (getopt's globals).
rl_cmdline_result rl_cmdline_parse(const rl_cmdline *cl, int argc, char **argv, int *ret_first);

// rl_cmdline_usage prints cl's usage to out.
void rl_cmdline_usage(const rl_cmdline *cl, FILE *out);

// rl_cmdline_error prints "PROG: " and the message, then the usage, to stderr:
// the usage errors that the caller finds itself (a missing operand).
void rl_cmdline_error(const rl_cmdline *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// rl_arg_long parses a whole decimal number from min to max for option opt.
// On error it prints "PROG: OPT: 'S' is not a number from MIN to MAX" to
// stderr and returns false; *ret is written only on success.
bool rl_arg_long(const char *prog, const char *opt, const char *s, long min, long max, long *ret);
// rl_arg_duration parses a positive duration ("500ms", "30s", "5m", "1h").
bool rl_arg_duration(const char *prog, const char *opt, const char *s, int64_t *ret_ms);

// rl_stop_signals routes SIGINT and SIGTERM: the first one calls stop(arg),
// which must be async-signal-safe (set a flag); a second one ends the
// process by that signal at once. SIGPIPE is ignored.
void rl_stop_signals(void (*stop)(void *arg), void *arg);

#endif
