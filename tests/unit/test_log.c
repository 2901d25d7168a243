/* Logging: levels filter, text and JSON lines, level and format names. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "error.h"
#include "log.h"

int main(void)
{
	enum bw_log_level level;
	enum bw_log_format format;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	json_t *line;

	bw_log_configure(BW_LOG_INFO, BW_LOG_JSON, out);
	bw_log_debug("test", "hidden %d", 1);
	bw_log_info("watch", "restarted \"%s\" after %d ms", "configmaps", 800);
	fflush(out);
	line = json_loads(text, 0, NULL);
	CHECK(line != NULL, "a JSON line: %s", text);
	CHECK_STR("info", json_string_value(json_object_get(line, "level")), "its level");
	CHECK_STR("watch", json_string_value(json_object_get(line, "module")), "its module");
	CHECK_STR("restarted \"configmaps\" after 800 ms",
		  json_string_value(json_object_get(line, "msg")), "its message, quotes escaped");
	CHECK(json_string_length(json_object_get(line, "ts")) == 24, "an RFC 3339 UTC timestamp");
	CHECK(strchr(text, '\n') == strrchr(text, '\n'), "debug was filtered out: one line only");
	json_decref(line);

	bw_log_configure(BW_LOG_DEBUG, BW_LOG_TEXT, out);
	bw_log_debug("queue", "depth %d", 3);
	fflush(out);
	CHECK(strstr(text, " debug queue: depth 3\n") != NULL, "a text line at debug");
	CHECK(bw_log_enabled(BW_LOG_DEBUG) && !bw_log_enabled(BW_LOG_TRACE), "enabled levels");

	CHECK_INT(0, bw_log_parse_level("warn", &level), "level name parses");
	CHECK_INT(BW_LOG_WARN, level, "to warn");
	CHECK_INT(BW_EINVAL, bw_log_parse_level("loud", &level), "an unknown level is refused");
	CHECK_INT(0, bw_log_parse_format("json", &format), "format name parses");
	CHECK_INT(BW_LOG_JSON, format, "to json");
	CHECK_INT(BW_EINVAL, bw_log_parse_format("xml", &format), "an unknown format is refused");

	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, NULL);
	fclose(out);
	free(text);
	return check_exit();
}
