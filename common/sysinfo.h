// SPDX-License-Identifier: Apache-2.0
// What the process knows about itself: resident memory now and at its peak.
#ifndef RL_SYSINFO_H
#define RL_SYSINFO_H

#include <stdint.h>

// rl_rss_bytes is the resident set size now; 0 if unknown.
uint64_t rl_rss_bytes(void);
// rl_peak_rss_bytes is the largest resident set size so far (VmHWM); 0 if unknown.
uint64_t rl_peak_rss_bytes(void);

#endif
