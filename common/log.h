// SPDX-License-Identifier: Apache-2.0
// Logging: one logfmt line per event on stderr, `ts=… level=… comp=… msg="…" k=v…`.
#ifndef RL_LOG_H
#define RL_LOG_H

typedef enum rl_log_level {
	RL_LOG_DEBUG,
	RL_LOG_INFO,
	RL_LOG_WARN,
	RL_LOG_ERROR,
} rl_log_level;

// rl_log_init reads RILL_LOG_LEVEL (debug|info|warn|error) once; optional.
void rl_log_init(void);
void rl_log_set_level(rl_log_level level);
int  rl_log_enabled(rl_log_level level);

// rl_log writes one line with a single write(2), so lines of concurrent
// threads and processes do not interleave. msg is quoted and escaped; kv is a
// printf format for the `key=value` tail (quote free text yourself: k="%s").
// @locality any thread
void rl_log(rl_log_level level, const char *comp, const char *msg, const char *kv, ...)
    __attribute__((format(printf, 4, 5)));

#define rl_debug(comp, msg, ...)                                                                   \
	do {                                                                                       \
		if (rl_log_enabled(RL_LOG_DEBUG))                                                  \
			rl_log(RL_LOG_DEBUG, comp, msg, __VA_ARGS__);                              \
	} while (0)
#define rl_info(comp, msg, ...) rl_log(RL_LOG_INFO, comp, msg, __VA_ARGS__)
#define rl_warn(comp, msg, ...) rl_log(RL_LOG_WARN, comp, msg, __VA_ARGS__)
#define rl_error(comp, msg, ...) rl_log(RL_LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
