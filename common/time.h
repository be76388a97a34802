// SPDX-License-Identifier: Apache-2.0
// Clocks, sleeping and duration strings ("10ms", "1s", "5m", "1h").
#ifndef RL_TIME_H
#define RL_TIME_H

#include <stdint.h>

#include "common/error.h"

// Wall clock, milliseconds since the Unix epoch (batch times use this clock).
int64_t rl_now_ms(void);
// Monotonic clocks, for measuring durations.
int64_t rl_mono_us(void);
int64_t rl_mono_ms(void);

void rl_sleep_ms(int64_t ms);
// rl_sleep_until_ms sleeps until the wall clock reaches wall_ms (returns at once if past).
void rl_sleep_until_ms(int64_t wall_ms);

// rl_parse_duration_ms parses "<integer><unit>" with unit ms, s, m or h.
// *ret is written only on success. Returns RL_ERR_PARSE on a malformed string.
rl_err rl_parse_duration_ms(const char *s, int64_t *ret);

#endif
