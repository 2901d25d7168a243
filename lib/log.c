/* Logging: see log.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "error.h"
#include "log.h"
#include "rfc3339.h"

static const char *level_names[] = {"error", "warn", "info", "debug", "trace"};

static enum bw_log_level threshold = BW_LOG_INFO;
static enum bw_log_format format_used = BW_LOG_TEXT;
static FILE *stream;

void bw_log_configure(enum bw_log_level level, enum bw_log_format format, FILE *out)
{
	threshold = level;
	format_used = format;
	stream = out;
}

int bw_log_parse_level(const char *name, enum bw_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*level = (enum bw_log_level)i;
			return 0;
		}
	}
	return BW_EINVAL;
}

int bw_log_parse_format(const char *name, enum bw_log_format *format)
{
	if (name && strcmp(name, "text") == 0)
		*format = BW_LOG_TEXT;
	else if (name && strcmp(name, "json") == 0)
		*format = BW_LOG_JSON;
	else
		return BW_EINVAL;
	return 0;
}

int bw_log_enabled(enum bw_log_level level)
{
	return level <= threshold;
}

void bw_log(enum bw_log_level level, const char *module, const char *fmt, ...)
{
	char when[32], msg[2048];
	FILE *out = stream ? stream : stderr;
	va_list ap;

	if (!bw_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bw_rfc3339_now(when, sizeof(when), 3);

	if (format_used == BW_LOG_JSON) {
		/* json_pack refuses invalid UTF-8: such a message falls back to text */
		json_t *line =
		    json_pack("{s:s, s:s, s:s, s:s}", "ts", when, "level", level_names[level],
			      "module", module ? module : "", "msg", msg);
		char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

		json_decref(line);
		if (text) {
			fprintf(out, "%s\n", text);
			free(text);
			fflush(out);
			return;
		}
	}
	fprintf(out, "%s %-5s %s: %s\n", when, level_names[level], module ? module : "-", msg);
	fflush(out);
}
