// SPDX-License-Identifier: Apache-2.0
// The one place that decides what out-of-memory means: it logs and aborts.
#ifndef RL_ALLOC_H
#define RL_ALLOC_H

#include <stddef.h>

// These never return NULL (except rl_malloc(0) may); on failure they abort.
void *rl_malloc(size_t size);
void *rl_calloc(size_t count, size_t size);
void *rl_realloc(void *ptr, size_t size);
char *rl_strdup(const char *s);
char *rl_strndup(const char *s, size_t n);
// rl_strdup_printf returns a new string formatted as printf formats it.
char *rl_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void  rl_free(void *ptr);

// rl_growth returns a capacity >= need, doubling from cur (at least min).
size_t rl_growth(size_t cur, size_t need, size_t min);

#define RL_NEW(type) ((type *)rl_calloc(1, sizeof(type)))

#endif
