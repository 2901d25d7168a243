/*
 * Logging: one line per message, as text ("2026-11-26T19:24:46.123Z info
 * watch: message") or JSON lines ({"ts":...,"level":...,"module":...,"msg":...}),
 * to stderr unless configured otherwise.
 *
 * Thread-safety: every function may be called from any thread; a line is
 * written with one call, so lines from threads never interleave.
 * Configure once at start-up, before threads start.
 */
#ifndef BW_LOG_H
#define BW_LOG_H

#include <stdio.h>

enum bw_log_level {
	BW_LOG_ERROR = 0,
	BW_LOG_WARN = 1,
	BW_LOG_INFO = 2,
	BW_LOG_DEBUG = 3,
	BW_LOG_TRACE = 4,
};

enum bw_log_format {
	BW_LOG_TEXT = 0,
	BW_LOG_JSON = 1,
};

/* Sets the threshold, the format and the stream (NULL: stderr). The stream is
 * borrowed and must outlive all logging. Defaults: INFO, TEXT, stderr. */
void bw_log_configure(enum bw_log_level level, enum bw_log_format format, FILE *out);

/* "error", "warn", "info", "debug", "trace" -> *level; 0 or BW_EINVAL. */
int bw_log_parse_level(const char *name, enum bw_log_level *level);
/* "text", "json" -> *format; 0 or BW_EINVAL. */
int bw_log_parse_format(const char *name, enum bw_log_format *format);

/* True when a message at level would be written. */
int bw_log_enabled(enum bw_log_level level);

/* Writes one line; module names the part of the program ("watch", "queue"). */
void bw_log(enum bw_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bw_log_error(module, ...) bw_log(BW_LOG_ERROR, module, __VA_ARGS__)
#define bw_log_warn(module, ...)  bw_log(BW_LOG_WARN, module, __VA_ARGS__)
#define bw_log_info(module, ...)  bw_log(BW_LOG_INFO, module, __VA_ARGS__)
#define bw_log_debug(module, ...)                                  \
	do {                                                       \
		if (bw_log_enabled(BW_LOG_DEBUG))                  \
			bw_log(BW_LOG_DEBUG, module, __VA_ARGS__); \
	} while (0)
#define bw_log_trace(module, ...)                                  \
	do {                                                       \
		if (bw_log_enabled(BW_LOG_TRACE))                  \
			bw_log(BW_LOG_TRACE, module, __VA_ARGS__); \
	} while (0)

#endif
