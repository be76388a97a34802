// SPDX-License-Identifier: Apache-2.0
// Clock reads, sleeps and duration parsing.
#include "common/time.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
rl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
rl_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
rl_mono_ms(void)
{
	return rl_mono_us() / 1000;
}

void
rl_sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
rl_sleep_until_ms(int64_t wall_ms)
{
	struct timespec ts = { .tv_sec = wall_ms / 1000, .tv_nsec = (wall_ms % 1000) * 1000000 };
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

rl_err
rl_parse_duration_ms(const char *s, int64_t *ret)
{
	if (s == NULL || *s < '0' || *s > '9')
		return RL_ERR_PARSE;
	errno = 0;
	char     *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return RL_ERR_PARSE;
	int64_t mult;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else
		return RL_ERR_PARSE;
	if (v > INT64_MAX / mult)
		return RL_ERR_PARSE;
	*ret = (int64_t)v * mult;
	return RL_OK;
}
