/* libFuzzer: a watch stream, fed in chunks whose sizes come from the input,
 * through the line reader and the event parser. */
#include <stddef.h>
#include <stdint.h>

#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse_line(const char *line, size_t len, void *ctx)
{
	enum bw_watch_type type;
	struct bw_error err;
	json_t *obj = NULL;

	(void)ctx;
	if (bw_watch_event_parse(line, len, &type, &obj, &err) == 0)
		json_decref(obj);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_line_reader r;
	struct bw_error err;
	size_t chunk, off = 1;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	bw_line_reader_init(&r, 4096);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (bw_line_reader_feed(&r, (const char *)data + off, n, parse_line, NULL, &err) !=
		    0)
			break;
		off += n;
	}
	bw_line_reader_release(&r);
	return 0;
}
