// SPDX-License-Identifier: Apache-2.0
// Allocation wrappers: out-of-memory is fatal for a rill process, decided here only.
#include "common/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t size)
{
	fprintf(stderr, "level=fatal comp=alloc msg=\"out of memory\" bytes=%zu\n", size);
	abort();
}

void *
rl_malloc(size_t size)
{
	void *p = malloc(size);
	if (p == NULL && size != 0)
		oom(size);
	return p;
}

void *
rl_calloc(size_t count, size_t size)
{
	void *p = calloc(count, size);
	if (p == NULL && count != 0 && size != 0)
		oom(count * size);
	return p;
}

void *
rl_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);
	if (p == NULL && size != 0)
		oom(size);
	return p;
}

char *
rl_strdup(const char *s)
{
	return s == NULL ? NULL : rl_strndup(s, strlen(s));
}

char *
rl_strndup(const char *s, size_t n)
{
	char *p = rl_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
rl_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char   *s;
	va_start(ap, fmt);
	int len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0)
		oom(strlen(fmt)); // the one way vasprintf fails with a valid format
	return s;
}

void
rl_free(void *ptr)
{
	free(ptr);
}

size_t
rl_growth(size_t cur, size_t need, size_t min)
{
	size_t cap = cur < min ? min : cur;
	while (cap < need)
		cap *= 2;
	return cap;
}
