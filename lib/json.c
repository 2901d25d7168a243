/* jansson helpers: see json.h. */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

int bw_json_append_vprintf(json_t *array, const char *fmt, va_list ap)
{
	char buf[BW_JSON_MESSAGE_MAX + 1];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	bw_utf8_repair(buf);
	return json_array_append_new(array, json_string(buf));
}

int bw_json_check_shape(const char *text, size_t len, size_t max_values, size_t max_depth,
			struct bw_error *err)
{
	size_t i = 0, values = 0, depth = 0;
	char ch;

	while (i < len) {
		ch = text[i++];
		switch (ch) {
		case '"':
			/* to the closing quote, skipping escaped characters */
			while (i < len && text[i] != '"')
				i += text[i] == '\\' ? 2 : 1;
			i++;
			values++;
			break;
		case '{':
		case '[':
			values++;
			if (++depth > max_depth)
				return bw_error_set(err, BW_ETOOBIG,
						    "JSON nested deeper than %zu levels",
						    max_depth);
			break;
		case '}':
		case ']':
			if (depth)
				depth--;
			break;
		default:
			if (ch != '-' && ch != 't' && ch != 'f' && ch != 'n' &&
			    (ch < '0' || ch > '9'))
				break; /* blanks, ':' and ',' (or bad JSON: the parser's to say) */
			/* a number or a literal: to its end */
			while (i < len && ((text[i] >= '0' && text[i] <= '9') ||
					   (text[i] >= 'a' && text[i] <= 'z') || text[i] == '.' ||
					   text[i] == '+' || text[i] == '-' || text[i] == 'E'))
				i++;
			values++;
			break;
		}
		if (values > max_values)
			return bw_error_set(err, BW_ETOOBIG,
					    "JSON with more than %zu values (object keys included)",
					    max_values);
	}
	return 0;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t skip_blanks(const char *t, size_t i, size_t len)
{
	while (i < len && is_blank(t[i]))
		i++;
	return i;
}

/* Past the string whose opening quote is t[i]; len + 1 when unterminated. */
static size_t skip_string(const char *t, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return len + 1;
}

/* Past the value starting at t[i]; len + 1 when it runs off the end. */
static size_t skip_value(const char *t, size_t i, size_t len)
{
	size_t depth = 0;

	if (i >= len)
		return len + 1;
	if (t[i] == '"')
		return skip_string(t, i, len);
	if (t[i] != '{' && t[i] != '[') {
		/* a number or a literal: to the next delimiter, which an object
		 * always has after it (its end cut off, "8000" could read "80") */
		while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' && !is_blank(t[i]))
			i++;
		return i < len ? i : len + 1;
	}
	while (i < len) {
		if (t[i] == '"') {
			i = skip_string(t, i, len);
			continue;
		}
		if (t[i] == '{' || t[i] == '[')
			depth++;
		else if ((t[i] == '}' || t[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return len + 1;
}

/* Finds member key of the object in text: its value at [*v, *v_end), and
 * the span [*cut, *cut_end) whose removal leaves the object without the
 * member, still JSON: from the end of the previous value (its comma
 * included) to the end of this one, or for the first member from its key
 * through the comma after it. With v_end NULL it stops at the value's start
 * (*v): a path's object is scanned up to its member, not through it. */
static int find_member(const char *text, size_t len, const char *key, size_t *v, size_t *v_end,
		       size_t *cut, size_t *cut_end)
{
	size_t klen = strlen(key), i, k, prev_end = 0;
	int match, first = 1;

	i = skip_blanks(text, 0, len);
	if (i >= len || text[i] != '{')
		return BW_EPARSE;
	i = skip_blanks(text, i + 1, len);
	if (i < len && text[i] == '}')
		return BW_ENOTFOUND;
	for (;;) {
		if (i >= len || text[i] != '"')
			return BW_EPARSE;
		*cut = first ? i : prev_end;
		k = i + 1;
		i = skip_string(text, i, len);
		if (i > len)
			return BW_EPARSE;
		match = i - 1 - k == klen && memcmp(text + k, key, klen) == 0;
		i = skip_blanks(text, i, len);
		if (i >= len || text[i] != ':')
			return BW_EPARSE;
		*v = i = skip_blanks(text, i + 1, len);
		if (match && !v_end)
			return i < len ? 0 : BW_EPARSE;
		i = skip_value(text, i, len);
		if (i > len || i == *v)
			return BW_EPARSE;
		prev_end = i;
		i = skip_blanks(text, i, len);
		if (match) {
			*v_end = prev_end;
			*cut_end = first && i < len && text[i] == ',' ? i + 1 : prev_end;
			return 0;
		}
		if (i < len && text[i] == ',') {
			i = skip_blanks(text, i + 1, len);
			first = 0;
			continue;
		}
		return i < len && text[i] == '}' ? BW_ENOTFOUND : BW_EPARSE;
	}
}

int bw_json_member(const char *text, size_t len, const char *key, const char **value,
		   size_t *value_len)
{
	size_t v, v_end, cut, cut_end;
	int ret = find_member(text, len, key, &v, &v_end, &cut, &cut_end);

	if (ret == 0) {
		*value = text + v;
		*value_len = v_end - v;
	}
	return ret;
}

int bw_json_member_cut(const char *text, size_t len, const char *const *path, size_t *start,
		       size_t *end)
{
	size_t base = 0, v, v_end, cut, cut_end;
	int ret;

	if (!path || !path[0])
		return BW_ENOTFOUND;
	for (size_t d = 0; path[d]; d++) {
		int last = !path[d + 1];

		/* an object on the way is scanned up to the member, and the next
		 * scan stops at its closing brace: no value is walked twice */
		if ((ret = find_member(text + base, len - base, path[d], &v, last ? &v_end : NULL,
				       &cut, &cut_end)) != 0)
			return ret;
		if (last) {
			*start = base + cut;
			*end = base + cut_end;
			return 0;
		}
		base += v;
	}
	return BW_ENOTFOUND; /* not reached */
}

const json_t *bw_json_get(const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

int bw_json_int_in_range(const json_t *v, const char *path, json_int_t min, json_int_t max,
			 json_int_t *out, struct bw_error *err)
{
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bw_error_set(err, BW_EINVAL, "%s: must be an integer, got %s", path,
				    bw_json_type_name(v));
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return bw_error_set(err, BW_EINVAL,
				    "%s: %" JSON_INTEGER_FORMAT
				    " is out of range %" JSON_INTEGER_FORMAT
				    "..%" JSON_INTEGER_FORMAT,
				    path, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

const char *bw_json_type_name(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* bw_json_load_without()'s text, handed to jansson piece by piece. */
struct cut_text {
	const char *text;
	size_t len, cut, cut_end, at;
};

static size_t read_cut(void *buffer, size_t size, void *arg)
{
	struct cut_text *c = arg;
	size_t stop, n;

	if (c->at == c->cut)
		c->at = c->cut_end; /* step over the span */
	stop = c->at < c->cut ? c->cut : c->len;
	n = stop - c->at < size ? stop - c->at : size;
	memcpy(buffer, c->text + c->at, n);
	c->at += n;
	return n;
}

json_t *bw_json_load_without(const char *text, size_t len, const char *const *path, size_t flags,
			     json_error_t *error)
{
	struct cut_text c = {text, len, 0, 0, 0};

	if (bw_json_member_cut(text, len, path, &c.cut, &c.cut_end) != 0)
		return json_loadb(text, len, flags, error);
	return json_load_callback(read_cut, &c, flags, error);
}
