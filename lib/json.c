/* jansson helpers: see json.h. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "utf8.h"

int bw_json_append_vprintf(json_t *array, const char *fmt, va_list ap)
{
	char buf[BW_JSON_MESSAGE_MAX + 1];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	bw_utf8_repair(buf);
	return json_array_append_new(array, json_string(buf));
}

/* Past the string whose opening quote is t[i], len + 1 when unterminated:
 * the next quote not escaped, that is after an even run of backslashes.
 * memchr() finds quotes many bytes at a time; most of a Kubernetes object's
 * bytes are in strings. */
static size_t string_end(const char *t, size_t i, size_t len)
{
	const char *q;

	for (i++; i < len; i = (size_t)(q - t) + 1) {
		size_t slashes = 0;

		q = memchr(t + i, '"', len - i);
		if (!q)
			break;
		while (q - slashes > t + i && q[-1 - (ptrdiff_t)slashes] == '\\')
			slashes++;
		if (slashes % 2 == 0)
			return (size_t)(q - t) + 1;
	}
	return len + 1;
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
			i = string_end(text, i - 1, len);
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

/* Past the value starting at t[i]; len + 1 when it runs off the end. */
static size_t skip_value(const char *t, size_t i, size_t len)
{
	size_t depth = 0;

	if (i >= len)
		return len + 1;
	if (t[i] == '"')
		return string_end(t, i, len);
	if (t[i] != '{' && t[i] != '[') {
		/* a number or a literal: to the next delimiter, which an object
		 * always has after it (its end cut off, "8000" could read "80") */
		while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' && !is_blank(t[i]))
			i++;
		return i < len ? i : len + 1;
	}
	while (i < len) {
		if (t[i] == '"') {
			i = string_end(t, i, len);
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
		i = string_end(text, i, len);
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

/* The member at path: its value at [*v, *v_end) and its cut at
 * [*cut, *cut_end), offsets into text (find_member()'s, down the path). */
static int find_path(const char *text, size_t len, const char *const *path, size_t *v,
		     size_t *v_end, size_t *cut, size_t *cut_end)
{
	size_t base = 0;
	int ret;

	if (!path || !path[0])
		return BW_ENOTFOUND;
	for (size_t d = 0; path[d]; d++) {
		int last = !path[d + 1];

		/* an object on the way is scanned up to the member, and the next
		 * scan stops at its closing brace: no value is walked twice */
		if ((ret = find_member(text + base, len - base, path[d], v, last ? v_end : NULL,
				       cut, cut_end)) != 0)
			return ret;
		if (last) {
			*v += base;
			*v_end += base;
			*cut += base;
			*cut_end += base;
			return 0;
		}
		base += *v;
	}
	return BW_ENOTFOUND; /* not reached */
}

int bw_json_member_cut(const char *text, size_t len, const char *const *path, size_t *start,
		       size_t *end)
{
	size_t v, v_end;

	return find_path(text, len, path, &v, &v_end, start, end);
}

int bw_json_member_at(const char *text, size_t len, const char *const *path, const char **value,
		      size_t *value_len)
{
	size_t v, v_end, cut, cut_end;
	int ret = find_path(text, len, path, &v, &v_end, &cut, &cut_end);

	if (ret == 0) {
		*value = text + v;
		*value_len = v_end - v;
	}
	return ret;
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

/* The spans of a text left out of a parse, in order and apart: jansson
 * reads the rest through json_load_callback(). */
struct cuts {
	const char *text;
	size_t len, at, next, n, cap;
	size_t (*span)[2];
	size_t inline_span[16][2];
	int nomem;
};

static void cuts_init(struct cuts *c, const char *text, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->text = text;
	c->len = len;
	c->span = c->inline_span;
	c->cap = sizeof(c->inline_span) / sizeof(c->inline_span[0]);
}

static void cuts_release(struct cuts *c)
{
	if (c->span != c->inline_span)
		free(c->span);
}

/* Adds [start, end), after every span before it; one touching the last
 * span extends it. */
static void cuts_add(struct cuts *c, size_t start, size_t end)
{
	if (start >= end || c->nomem)
		return;
	if (c->n && c->span[c->n - 1][1] == start) {
		c->span[c->n - 1][1] = end;
		return;
	}
	if (c->n == c->cap) {
		size_t(*more)[2] = malloc(2 * c->cap * sizeof(*more));

		if (!more) {
			c->nomem = 1;
			return;
		}
		memcpy(more, c->span, c->n * sizeof(*more));
		cuts_release(c);
		c->span = more;
		c->cap *= 2;
	}
	c->span[c->n][0] = start;
	c->span[c->n][1] = end;
	c->n++;
}

static size_t read_cuts(void *buffer, size_t size, void *arg)
{
	struct cuts *c = arg;
	size_t stop, n;

	while (c->next < c->n && c->at >= c->span[c->next][0]) {
		if (c->at < c->span[c->next][1])
			c->at = c->span[c->next][1]; /* step over the span */
		c->next++;
	}
	stop = c->next < c->n ? c->span[c->next][0] : c->len;
	n = stop - c->at < size ? stop - c->at : size;
	memcpy(buffer, c->text + c->at, n);
	c->at += n;
	return n;
}

static json_t *load_cut(struct cuts *c, size_t flags, json_error_t *error)
{
	json_t *v;

	if (c->nomem || c->n == 0)
		v = json_loadb(c->text, c->len, flags, error);
	else
		v = json_load_callback(read_cuts, c, flags, error);
	cuts_release(c);
	return v;
}

json_t *bw_json_load_without(const char *text, size_t len, const char *const *path, size_t flags,
			     json_error_t *error)
{
	struct cuts c;
	size_t start, end;

	cuts_init(&c, text, len);
	if (bw_json_member_cut(text, len, path, &start, &end) == 0)
		cuts_add(&c, start, end);
	return load_cut(&c, flags, error);
}

static int keep_value(const char *t, size_t len, size_t i, const struct bw_json_keep *only,
		      struct cuts *c, size_t *end);

static const struct bw_json_keep *kept_member(const struct bw_json_keep *keep, const char *key,
					      size_t n)
{
	for (; keep->key; keep++)
		if (strlen(keep->key) == n && memcmp(keep->key, key, n) == 0)
			return keep;
	return NULL;
}

/* The object at t[i]: each member not in keep becomes a span of c (with
 * one comma beside it), each kept one is walked with its own list; *end is
 * past the closing brace. A key written with escapes is kept whole: it may
 * spell a kept name. */
static int keep_object(const char *t, size_t len, size_t i, const struct bw_json_keep *keep,
		       struct cuts *c, size_t *end)
{
	size_t key, v, v_end, prev_end = 0;
	int kept_any = 0;

	i = skip_blanks(t, i + 1, len);
	if (i < len && t[i] == '}') {
		*end = i + 1;
		return 0;
	}
	for (;;) {
		const struct bw_json_keep *k = NULL;
		int escaped = 0, cut;

		if (i >= len || t[i] != '"')
			return BW_EPARSE;
		key = i;
		i = string_end(t, i, len);
		if (i > len)
			return BW_EPARSE;
		escaped = memchr(t + key + 1, '\\', i - key - 2) != NULL;
		if (!escaped)
			k = kept_member(keep, t + key + 1, i - key - 2);
		cut = !escaped && !k;
		i = skip_blanks(t, i, len);
		if (i >= len || t[i] != ':')
			return BW_EPARSE;
		v = skip_blanks(t, i + 1, len);
		if (k && k->only) {
			if (keep_value(t, len, v, k->only, c, &v_end) != 0)
				return BW_EPARSE;
		} else {
			v_end = skip_value(t, v, len);
		}
		if (v_end > len || v_end == v)
			return BW_EPARSE;
		i = skip_blanks(t, v_end, len);
		if (i >= len || (t[i] != ',' && t[i] != '}'))
			return BW_EPARSE;
		if (cut && kept_any)
			cuts_add(c, prev_end, v_end); /* with the comma before it */
		else if (cut)
			cuts_add(c, key, t[i] == ',' ? i + 1 : v_end); /* and the one after */
		kept_any |= !cut;
		prev_end = v_end;
		if (t[i] == '}') {
			*end = i + 1;
			return 0;
		}
		i = skip_blanks(t, i + 1, len);
	}
}

/* The value at t[i] kept by only: an object keeps only's members, an array
 * keeps them of each object in it, anything else is kept whole. */
static int keep_value(const char *t, size_t len, size_t i, const struct bw_json_keep *only,
		      struct cuts *c, size_t *end)
{
	if (i < len && t[i] == '{')
		return keep_object(t, len, i, only, c, end);
	if (i >= len || t[i] != '[') {
		*end = skip_value(t, i, len);
		return *end > len ? BW_EPARSE : 0;
	}
	i = skip_blanks(t, i + 1, len);
	if (i < len && t[i] == ']') {
		*end = i + 1;
		return 0;
	}
	for (;;) {
		size_t e;

		if (i < len && t[i] == '{') {
			if (keep_object(t, len, i, only, c, &e) != 0)
				return BW_EPARSE;
		} else {
			e = skip_value(t, i, len);
		}
		if (e > len || e == i)
			return BW_EPARSE;
		i = skip_blanks(t, e, len);
		if (i < len && t[i] == ']') {
			*end = i + 1;
			return 0;
		}
		if (i >= len || t[i] != ',')
			return BW_EPARSE;
		i = skip_blanks(t, i + 1, len);
	}
}

json_t *bw_json_load_kept(const char *text, size_t len, const struct bw_json_keep *keep,
			  size_t flags, json_error_t *error)
{
	struct cuts c;
	size_t i, end;

	cuts_init(&c, text, len);
	i = skip_blanks(text, 0, len);
	if (!keep || i >= len || text[i] != '{' || keep_object(text, len, i, keep, &c, &end) != 0)
		c.n = 0; /* not an object the scan can walk: the parser says why */
	return load_cut(&c, flags, error);
}

/* s (n bytes, NULs allowed) as a JSON string: runs of plain bytes appended
 * at once, '"', '\\' and control characters escaped. UTF-8 is written as
 * it is: jansson's strings hold only valid UTF-8. */
void bw_json_write_string(struct bw_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;

	bw_buf_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[6] = {'\\', 0};
		size_t esc_len = 2;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		bw_buf_append(b, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"':
		case '\\':
			esc[1] = (char)ch;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			esc_len = 6;
		}
		bw_buf_append(b, esc, esc_len);
	}
	bw_buf_append(b, s + run, n - run);
	bw_buf_append(b, "\"", 1);
}

/* As jansson writes a real: 17 digits, a fraction always shown, the
 * exponent without '+' or leading zeros. */
static void write_real(struct bw_buf *b, double d)
{
	char num[40], *e, *digits, *past;

	snprintf(num, sizeof(num), "%.17g", d);
	e = strchr(num, 'e');
	if (!e) {
		bw_buf_puts(b, num);
		if (!strchr(num, '.'))
			bw_buf_append(b, ".0", 2);
		return;
	}
	digits = e + 1 + (e[1] == '-');
	for (past = digits + (*digits == '+'); *past == '0' && past[1]; past++)
		;
	memmove(digits, past, strlen(past) + 1);
	bw_buf_puts(b, num);
}

static int write_value(struct bw_buf *b, const json_t *v, int depth)
{
	const char *key;
	const json_t *item;
	char num[32];
	size_t i;
	int first = 1;

	if (depth > BW_JSON_WRITE_MAX_DEPTH)
		return BW_EINVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		bw_buf_append(b, "{", 1);
		json_object_foreach((json_t *)v, key, item)
		{
			if (!first)
				bw_buf_append(b, ",", 1);
			first = 0;
			bw_json_write_string(b, key, strlen(key));
			bw_buf_append(b, ":", 1);
			if (write_value(b, item, depth + 1) != 0)
				return BW_EINVAL;
		}
		return bw_buf_append(b, "}", 1), 0;
	case JSON_ARRAY:
		bw_buf_append(b, "[", 1);
		json_array_foreach(v, i, item)
		{
			if (i)
				bw_buf_append(b, ",", 1);
			if (write_value(b, item, depth + 1) != 0)
				return BW_EINVAL;
		}
		return bw_buf_append(b, "]", 1), 0;
	case JSON_STRING:
		bw_json_write_string(b, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return bw_buf_puts(b, num), 0;
	case JSON_REAL:
		write_real(b, json_real_value(v));
		return 0;
	case JSON_TRUE:
		return bw_buf_append(b, "true", 4), 0;
	case JSON_FALSE:
		return bw_buf_append(b, "false", 5), 0;
	case JSON_NULL:
		break;
	}
	return bw_buf_append(b, "null", 4), 0;
}

int bw_json_write(struct bw_buf *b, const json_t *v)
{
	if (!b || !v)
		return BW_EINVAL;
	if (write_value(b, v, 0) != 0)
		return BW_EINVAL;
	return b->error;
}
