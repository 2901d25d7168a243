/* Watch stream framing and events: see watch.h. */
#include <string.h>

#include "json.h"
#include "watch.h"

void bw_line_reader_init(struct bw_line_reader *r, size_t max_line)
{
	bw_buf_init(&r->buf, max_line);
}

void bw_line_reader_release(struct bw_line_reader *r)
{
	bw_buf_release(&r->buf);
}

static int emit(const char *line, size_t len, bw_line_fn fn, void *ctx)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len ? fn(line, len, ctx) : 0;
}

static int too_big(const struct bw_line_reader *r, struct bw_error *err)
{
	return bw_error_set(err, BW_ETOOBIG, "a watch event is larger than the %zu-byte cap",
			    r->buf.max);
}

static int keep(struct bw_line_reader *r, const char *data, size_t len, struct bw_error *err)
{
	int ret = bw_buf_append(&r->buf, data, len);

	r->buf.error = 0; /* each failure is returned; the reader stays usable */
	if (ret == BW_ETOOBIG)
		return too_big(r, err);
	if (ret)
		return bw_error_set(err, ret, "out of memory buffering a watch event");
	return 0;
}

int bw_line_reader_feed(struct bw_line_reader *r, const char *data, size_t len, bw_line_fn fn,
			void *ctx, struct bw_error *err)
{
	const char *end = data + len, *nl;
	int ret;

	while (data < end && (nl = memchr(data, '\n', (size_t)(end - data))) != NULL) {
		size_t part = (size_t)(nl - data);

		if (r->buf.len == 0) {
			/* the common case: a whole line inside this chunk, no copy */
			if (part > r->buf.max)
				return too_big(r, err);
			ret = emit(data, part, fn, ctx);
		} else {
			if ((ret = keep(r, data, part, err)) != 0)
				return ret;
			ret = emit(r->buf.data, r->buf.len, fn, ctx);
			if (r->buf.cap > BW_LINE_READER_KEEP_BYTES)
				bw_buf_release(&r->buf); /* max stays */
			else
				bw_buf_reset(&r->buf);
		}
		if (ret != 0)
			return ret;
		data = nl + 1;
	}
	return data < end ? keep(r, data, (size_t)(end - data), err) : 0;
}

static const char *type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *bw_watch_type_name(enum bw_watch_type type)
{
	return (unsigned)type < sizeof(type_names) / sizeof(type_names[0]) ? type_names[type]
									   : "UNKNOWN";
}

static json_t *load_event(const char *line, size_t len, int lean, json_error_t *jerr)
{
	static const char *const managed_fields[] = {"object", "metadata", "managedFields", NULL};

	/* with "\u0000" allowed, as in a list: an event refused here would
	 * make the reflector relist, and the relist would meet it again */
	if (!lean)
		return json_loadb(line, len, JSON_ALLOW_NUL, jerr);
	return bw_json_load_without(line, len, managed_fields, JSON_ALLOW_NUL, jerr);
}

static int parse_event(const char *line, size_t len, int lean, enum bw_watch_type *type,
		       json_t **object, struct bw_error *err)
{
	json_error_t jerr;
	json_t *event, *obj;
	const char *name;
	int ret = 0;

	*object = NULL;
	event = load_event(line, len, lean, &jerr);
	if (!event)
		return bw_error_set(err, BW_EPARSE, "watch event is not JSON: %s at column %d",
				    jerr.text, jerr.column);
	name = json_string_value(json_object_get(event, "type"));
	obj = json_object_get(event, "object");
	if (!name || !json_is_object(obj)) {
		ret = bw_error_set(err, BW_EPARSE,
				   "watch event without a \"type\" string and an \"object\"");
		goto out;
	}
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*type = (enum bw_watch_type)i;
			*object = json_incref(obj);
			goto out;
		}
	}
	ret = bw_error_set(err, BW_EPARSE, "unknown watch event type \"%.64s\"", name);
out:
	json_decref(event);
	return ret;
}

int bw_watch_event_parse(const char *line, size_t len, enum bw_watch_type *type, json_t **object,
			 struct bw_error *err)
{
	return parse_event(line, len, 0, type, object, err);
}

int bw_watch_event_parse_lean(const char *line, size_t len, enum bw_watch_type *type,
			      json_t **object, struct bw_error *err)
{
	return parse_event(line, len, 1, type, object, err);
}
