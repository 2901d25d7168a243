/* libFuzzer: a watch stream, fed in chunks whose sizes come from the input,
 * through the line reader and the event parser, as the reflector does: at
 * the reflector's real cap (BW_WATCH_MAX_EVENT_BYTES), and again at a small
 * cap taken from the input so the refusal of an over-long line (split
 * across chunks or not) is exercised too. The unit test checks the exact
 * boundary at any cap; inputs of 16 MiB would make the fuzzer crawl.
 * Each line is parsed lean too (bw_watch_event_parse_lean()): whatever the
 * full parse reads, the lean one reads too, and for a line without
 * duplicate keys the same object without its metadata.managedFields (or
 * with it, when a key is spelled with escapes, which the cut does not
 * read). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t max_line;
	size_t lines;
};

static int parse_line(const char *line, size_t len, void *ctx)
{
	struct seen *seen = ctx;
	enum bw_watch_type type;
	struct bw_error err;
	json_t *obj = NULL;

	/* a line handed on is never empty, never over the cap, never holds a newline */
	if (len == 0 || len > seen->max_line || memchr(line, '\n', len))
		abort();
	seen->lines++;
	if (bw_watch_event_parse(line, len, &type, &obj, &err) == 0) {
		json_t *strict =
		    json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
		int escaped = memchr(line, '\\', len) != NULL, kept;
		enum bw_watch_type lean_type;
		json_t *lean = NULL;

		if (!json_is_object(obj) || !*bw_watch_type_name(type))
			abort();
		if (bw_watch_event_parse_lean(line, len, &lean_type, &lean, &err) != 0 ||
		    lean_type != type)
			abort();
		kept = json_equal(obj, lean);

		json_object_del(json_object_get(obj, "metadata"), "managedFields");
		if (strict && !json_equal(obj, lean) && !(escaped && kept))
			abort();
		json_decref(strict);
		json_decref(lean);
		json_decref(obj);
	} else if (obj || err.code != BW_EPARSE || !*err.message) {
		abort();
	}
	return 0;
}

static void feed(const uint8_t *data, size_t size, size_t chunk, size_t max_line)
{
	struct bw_line_reader r;
	struct seen seen = {max_line, 0};
	struct bw_error err;
	size_t off = 0;

	bw_line_reader_init(&r, max_line);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		int ret =
		    bw_line_reader_feed(&r, (const char *)data + off, n, parse_line, &seen, &err);

		if (ret != 0) {
			if (ret != BW_ETOOBIG || r.buf.len > max_line)
				abort();
			break;
		}
		if (r.buf.len > max_line || (r.buf.data && r.buf.len >= r.buf.cap))
			abort();
		off += n;
	}
	bw_line_reader_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;

	if (size < 2)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	feed(data + 2, size - 2, chunk, BW_WATCH_MAX_EVENT_BYTES);
	feed(data + 2, size - 2, chunk, (size_t)data[1] + 1);
	return 0;
}
