/* Capped growable buffer: see buf.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_FIRST_CAP 4096

void bw_buf_init(struct bw_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void bw_buf_release(struct bw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->error = 0;
}

void bw_buf_reset(struct bw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	b->error = 0;
}

static int fail(struct bw_buf *b, int code)
{
	if (!b->error)
		b->error = code;
	return code;
}

/* Room for n more bytes of content and the NUL, within the cap. */
static int reserve(struct bw_buf *b, size_t n)
{
	size_t limit = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX; /* the most ever allocated */
	size_t need, cap;
	char *grown;

	if (n > b->max || b->len > b->max - n)
		return fail(b, BW_ETOOBIG);
	if (b->len + n == SIZE_MAX)
		return fail(b, BW_ENOMEM); /* no room for the NUL */
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_FIRST_CAP;
	while (cap < need)
		cap = cap > limit / 2 ? limit : cap * 2;
	if (cap > limit)
		cap = limit; /* a first 4 KiB over a smaller cap */
	grown = realloc(b->data, cap);
	if (!grown)
		return fail(b, BW_ENOMEM);
	b->data = grown;
	b->cap = cap;
	return 0;
}

int bw_buf_append(struct bw_buf *b, const void *data, size_t n)
{
	int ret = reserve(b, n);

	if (ret)
		return ret;
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int bw_buf_puts(struct bw_buf *b, const char *s)
{
	return bw_buf_append(b, s, strlen(s));
}

int bw_buf_vprintf(struct bw_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, ret;

	va_copy(again, ap);
	n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
	if (n < 0) {
		ret = fail(b, BW_EINVAL);
		goto out;
	}
	if (b->data && (size_t)n < b->cap - b->len && (size_t)n <= b->max - b->len) {
		b->len += (size_t)n; /* it fitted in the room there was */
		ret = 0;
		goto out;
	}
	if (b->data)
		b->data[b->len] = '\0'; /* undo a partial write */
	if ((ret = reserve(b, (size_t)n)) != 0)
		goto out;
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
	b->len += (size_t)n;
out:
	va_end(again);
	return ret;
}

int bw_buf_printf(struct bw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = bw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

char *bw_buf_steal(struct bw_buf *b, size_t *len)
{
	char *s = b->data ? b->data : strdup("");

	if (!s)
		return NULL;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	b->error = 0;
	return s;
}

int bw_buf_error(const struct bw_buf *b, const char *what, struct bw_error *err)
{
	if (b->error == BW_ETOOBIG)
		return bw_error_set(err, BW_ETOOBIG, "%s is larger than the %zu-byte cap", what,
				    b->max);
	if (b->error == BW_ENOMEM)
		return bw_error_set(err, BW_ENOMEM, "out of memory for %s", what);
	if (b->error)
		return bw_error_set(err, b->error, "%s could not be formatted", what);
	return 0;
}
