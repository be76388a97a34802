// SPDX-License-Identifier: Apache-2.0
// logfmt lines to stderr, written whole with one write(2).
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = RL_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
rl_log_init(void)
{
	const char *env = getenv("RILL_LOG_LEVEL");
	if (env == NULL)
		return;
	for (int i = 0; i < 4; i++)
		if (strcmp(env, level_names[i]) == 0)
			min_level = i;
}

void
rl_log_set_level(rl_log_level level)
{
	min_level = level;
}

int
rl_log_enabled(rl_log_level level)
{
	return (int)level >= min_level;
}

// append_quoted writes s between quotes, escaping quotes, backslashes and newlines.
static size_t
append_quoted(char *dst, size_t cap, size_t len, const char *s)
{
	if (len < cap)
		dst[len] = '"';
	len++;
	for (; *s != '\0'; s++) {
		char c = *s, esc = 0;
		if (c == '"' || c == '\\')
			esc = c;
		else if (c == '\n')
			esc = 'n';
		if (esc != 0) {
			if (len + 1 < cap) {
				dst[len] = '\\';
				dst[len + 1] = esc;
			}
			len += 2;
		} else {
			if (len < cap)
				dst[len] = c;
			len++;
		}
	}
	if (len < cap)
		dst[len] = '"';
	return len + 1;
}

void
rl_log(rl_log_level level, const char *comp, const char *msg, const char *kv, ...)
{
	if (!rl_log_enabled(level))
		return;
	char            line[4096];
	size_t          cap = sizeof(line) - 2; // room for the newline
	struct timespec ts;
	struct tm       tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int    n = snprintf(line, cap,
	       "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=", tm.tm_year + 1900,
	       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	       level_names[level], comp);
	size_t len = n < 0 ? 0 : (size_t)n;
	len = append_quoted(line, cap, len, msg);
	if (kv != NULL && kv[0] != '\0' && len + 1 < cap) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, kv);
		n = vsnprintf(line + len, cap - len, kv, ap);
		va_end(ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len > cap)
		len = cap;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
