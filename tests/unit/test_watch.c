/* Watch stream framing and event parsing: split lines, CRLF, oversized lines. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "watch.h"

struct collected {
	char lines[16][256];
	int n;
	int stop_after;
};

static int collect(const char *line, size_t len, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < 16 && len < 256) {
		memcpy(c->lines[c->n], line, len);
		c->lines[c->n][len] = '\0';
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 42 : 0;
}

/* Feeds text in chunks of `chunk` bytes. */
static int feed_chunked(struct bw_line_reader *r, const char *text, size_t chunk,
			struct collected *c, struct bw_error *err)
{
	size_t len = strlen(text);
	int ret = 0;

	for (size_t off = 0; off < len && ret == 0; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		ret = bw_line_reader_feed(r, text + off, n, collect, c, err);
	}
	return ret;
}

static void test_framing(void)
{
	static const char *stream = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n{\"partial\"";
	static const size_t chunks[] = {1, 2, 3, 7, 64};

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct bw_line_reader r;
		struct collected c = {0};
		struct bw_error err;
		int ret;

		bw_line_reader_init(&r, 1024);
		ret = feed_chunked(&r, stream, chunks[i], &c, &err);
		CHECK_INT(0, ret, "chunks of %zu: no error", chunks[i]);
		CHECK_INT(3, c.n, "chunks of %zu: three lines, the empty one skipped", chunks[i]);
		CHECK_STR("{\"a\":1}", c.lines[0], "chunks of %zu: first line", chunks[i]);
		CHECK_STR("{\"b\":2}", c.lines[1], "chunks of %zu: CRLF stripped", chunks[i]);
		CHECK_STR("{\"c\":3}", c.lines[2], "chunks of %zu: third line", chunks[i]);
		CHECK_INT(10, r.buf.len, "chunks of %zu: the partial line is kept", chunks[i]);
		ret = bw_line_reader_feed(&r, "}\n", 2, collect, &c, &err);
		CHECK_STR("{\"partial\"}", c.lines[3], "chunks of %zu: completed by the next chunk",
			  chunks[i]);
		bw_line_reader_release(&r);
	}
}

/* A line carried over in a big buffer does not keep its peak: the next
 * line starts from nothing; a small one keeps its buffer. */
static void test_buffer_kept(void)
{
	size_t big = 3 * BW_LINE_READER_KEEP_BYTES;
	char *line = malloc(big + 1);
	struct bw_line_reader r;
	struct collected c = {0};
	struct bw_error err;
	char *small_data;

	if (!line) {
		CHECK(0, "out of memory");
		return;
	}
	memset(line, 'x', big);
	line[big] = '\n';
	bw_line_reader_init(&r, 1 << 20);
	CHECK_INT(0, bw_line_reader_feed(&r, line, 100, collect, &c, &err), "a line's start");
	CHECK_INT(0, bw_line_reader_feed(&r, line + 100, big + 1 - 100, collect, &c, &err),
		  "and its %zu-byte rest", big + 1 - 100);
	CHECK_INT(1, c.n, "one line");
	CHECK(r.buf.data == NULL && r.buf.cap == 0 && r.buf.max == (size_t)1 << 20,
	      "the big buffer is freed, the cap stays: cap %zu", r.buf.cap);
	CHECK_INT(0, bw_line_reader_feed(&r, "{\"a\"", 4, collect, &c, &err), "a small part");
	CHECK_INT(0, bw_line_reader_feed(&r, ":1}\n", 4, collect, &c, &err), "its end");
	CHECK_STR("{\"a\":1}", c.lines[1], "the next line after a freed buffer");
	small_data = r.buf.data;
	CHECK(small_data != NULL && r.buf.cap <= BW_LINE_READER_KEEP_BYTES,
	      "a small buffer is kept for the next line");
	bw_line_reader_release(&r);
	free(line);
}

static void test_oversized(void)
{
	struct bw_line_reader r;
	struct collected c = {0};
	struct bw_error err;
	char big[200];
	int ret;

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';

	bw_line_reader_init(&r, 100);
	ret = feed_chunked(&r, big, 10, &c, &err);
	CHECK_INT(BW_ETOOBIG, ret, "a line over the cap split across chunks is refused");
	CHECK(strstr(err.message, "100-byte cap") != NULL, "the message names the cap: %s",
	      err.message);
	bw_line_reader_release(&r);

	bw_line_reader_init(&r, 100);
	memset(&c, 0, sizeof(c));
	big[150] = '\n';
	ret = bw_line_reader_feed(&r, big, strlen(big), collect, &c, &err);
	CHECK_INT(BW_ETOOBIG, ret, "a line over the cap inside one chunk is refused");
	CHECK_INT(0, c.n, "nothing was delivered");
	bw_line_reader_release(&r);

	bw_line_reader_init(&r, 100);
	memset(&c, 0, sizeof(c));
	memset(big, 'y', 100);
	big[100] = '\n';
	big[101] = '\0';
	ret = bw_line_reader_feed(&r, big, 101, collect, &c, &err);
	CHECK_INT(0, ret, "a line of exactly the cap is accepted");
	CHECK_INT(1, c.n, "and delivered");
	bw_line_reader_release(&r);
}

static void test_stop(void)
{
	struct bw_line_reader r;
	struct collected c = {.stop_after = 2};
	struct bw_error err;

	bw_line_reader_init(&r, 100);
	CHECK_INT(42, bw_line_reader_feed(&r, "a\nb\nc\n", 6, collect, &c, &err),
		  "the callback's nonzero return stops the feed");
	CHECK_INT(2, c.n, "no line after the stop");
	bw_line_reader_release(&r);
}

static const struct {
	const char *line;
	int ret;
	enum bw_watch_type type;
	const char *name;
} events[] = {
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}", 0, BW_WATCH_ADDED, "a"},
    {"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}", 0, BW_WATCH_MODIFIED,
     "b"},
    {"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}", 0, BW_WATCH_DELETED, "c"},
    {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}", 0,
     BW_WATCH_BOOKMARK, NULL},
    {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}", 0, BW_WATCH_ERROR, NULL},
    /* "\u0000" is valid JSON the API server stores (an annotation, an env
     * value): refusing it made the reflector relist into the same object
     * forever (tests/e2e/hostile.sh, case nul-annotation) */
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"d\",\"annotations\":"
     "{\"x\":\"a\\u0000b\"}}}}",
     0, BW_WATCH_ADDED, "d"},
    {"{\"type\":\"EXPLODED\",\"object\":{}}", BW_EPARSE, 0, NULL},
    {"{\"type\":\"ADDED\"}", BW_EPARSE, 0, NULL},
    {"{\"type\":\"ADDED\",\"object\":[]}", BW_EPARSE, 0, NULL},
    {"not json", BW_EPARSE, 0, NULL},
    {"[1,2]", BW_EPARSE, 0, NULL},
};

static void test_events(int lean)
{
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		enum bw_watch_type type = BW_WATCH_ERROR;
		struct bw_error err = {0};
		json_t *obj = NULL;
		int ret;

		ret = (lean ? bw_watch_event_parse_lean : bw_watch_event_parse)(
		    events[i].line, strlen(events[i].line), &type, &obj, &err);
		CHECK_INT(events[i].ret, ret, "event %zu: %s", i, events[i].line);
		if (ret == 0) {
			CHECK_INT(events[i].type, type, "event %zu: type %s", i,
				  bw_watch_type_name(type));
			if (events[i].name)
				CHECK_STR(events[i].name,
					  json_string_value(json_object_get(
					      json_object_get(obj, "metadata"), "name")),
					  "event %zu: object name", i);
		} else {
			CHECK(obj == NULL && err.message[0], "event %zu: no object, a message: %s",
			      i, err.message);
		}
		json_decref(obj);
	}
}

/* A pod-like event with managedFields first, in the middle or last of its
 * metadata, compact or indented, behind padding of every length up to past
 * jansson's 1,024-byte read buffer (so the cut falls at every offset of
 * it): the lean parse gives the object the full parse gives, without
 * managedFields. */
static void test_lean(void)
{
	static const char *const orders[3][3] = {{"managedFields", "name", "labels"},
						 {"name", "managedFields", "labels"},
						 {"name", "labels", "managedFields"}};
	size_t same = 0, runs = 0;
	char pad[1200];

	for (size_t n = 0; n < sizeof(pad) - 1; n += 7) {
		memset(pad, 'p', n);
		pad[n] = '\0';
		for (int o = 0; o < 3; o++) {
			for (int indent = 0; indent < 2; indent++) {
				json_t *meta = json_object(), *ev, *full = NULL, *lean = NULL;
				enum bw_watch_type t1, t2;
				char *text;

				for (int k = 0; k < 3; k++) {
					const char *key = orders[o][k];

					if (strcmp(key, "name") == 0)
						json_object_set_new(meta, key, json_string(pad));
					else if (strcmp(key, "labels") == 0)
						json_object_set_new(
						    meta, key,
						    json_pack("{s:s}", "app", "a\"}]{["));
					else
						json_object_set_new(
						    meta, key,
						    json_pack("[{s:s,s:{s:{s:{}}}},{s:s}]",
							      "manager", "kube-controller-manager",
							      "fieldsV1", "f:metadata", "f:labels",
							      "manager", "kwok \\\"}"));
				}
				ev = json_pack("{s:s,s:{s:s,s:o,s:{s:[i,i]}}}", "type", "MODIFIED",
					       "object", "kind", "Pod", "metadata", meta, "status",
					       "ports", 1, 2);
				text = json_dumps(ev, JSON_PRESERVE_ORDER |
							  (indent ? JSON_INDENT(2) : JSON_COMPACT));
				if (text &&
				    bw_watch_event_parse(text, strlen(text), &t1, &full, NULL) ==
					0 &&
				    bw_watch_event_parse_lean(text, strlen(text), &t2, &lean,
							      NULL) == 0) {
					json_object_del(json_object_get(full, "metadata"),
							"managedFields");
					same += t1 == t2 && json_equal(full, lean);
				}
				runs++;
				free(text);
				json_decref(ev);
				json_decref(full);
				json_decref(lean);
			}
		}
	}
	CHECK_INT(runs, same, "the lean parse is the full one without managedFields, %zu ways",
		  runs);
}

int main(void)
{
	test_framing();
	test_buffer_kept();
	test_oversized();
	test_stop();
	test_events(0);
	test_events(1);
	test_lean();
	return check_exit();
}
