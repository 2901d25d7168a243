/* Error values: see error.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "utf8.h"

/* What room the message leaves: its cap less the NUL. */
#define MESSAGE_ROOM (sizeof(((struct bw_error *)0)->message) - 1)

void bw_error_clear(struct bw_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int bw_error_set(struct bw_error *err, int code, const char *fmt, ...)
{
	char text[MESSAGE_ROOM + 5]; /* 4 more bytes show where a cut falls */
	size_t len;
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	len = bw_utf8_cut(text, strlen(text), MESSAGE_ROOM);
	memcpy(err->message, text, len);
	err->message[len] = '\0';
	return code;
}

void bw_error_prefix(struct bw_error *err, const char *fmt, ...)
{
	char prefix[MESSAGE_ROOM + 5], joined[MESSAGE_ROOM + 1];
	size_t plen, mlen, keep, cap;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	plen = strlen(prefix);
	mlen = strlen(err->message);
	/* The message is what went wrong: it keeps at least half the room, so a
	 * long prefix (a path) is cut, with "...", rather than the reason. */
	keep = mlen < MESSAGE_ROOM / 2 ? mlen : MESSAGE_ROOM / 2;
	cap = MESSAGE_ROOM - 2 - keep;
	if (plen > cap) {
		plen = bw_utf8_cut(prefix, plen, cap - 3);
		memcpy(prefix + plen, "...", 4);
		plen += 3;
	}
	mlen = bw_utf8_cut(err->message, mlen, MESSAGE_ROOM - 2 - plen);
	memcpy(joined, prefix, plen);
	memcpy(joined + plen, ": ", 2);
	memcpy(joined + plen + 2, err->message, mlen);
	joined[plen + 2 + mlen] = '\0';
	memcpy(err->message, joined, plen + 2 + mlen + 1);
}

const char *bw_error_abbrev(const char *s, size_t max, char *buf, size_t size)
{
	size_t len = strlen(s), head, tail;

	if (len <= max || max < 5 || size <= max)
		return s;
	head = bw_utf8_cut(s, len, (max - 3) / 2);
	tail = len - (max - 3 - head);
	while (tail < len && ((unsigned char)s[tail] & 0xc0) == 0x80)
		tail++;
	memcpy(buf, s, head);
	memcpy(buf + head, "...", 3);
	memcpy(buf + head + 3, s + tail, len - tail + 1);
	return buf;
}

const char *bw_code_name(int code)
{
	switch (code) {
	case BW_OK:
		return "ok";
	case BW_EINVAL:
		return "invalid";
	case BW_ENOMEM:
		return "out of memory";
	case BW_EIO:
		return "i/o error";
	case BW_EPARSE:
		return "parse error";
	case BW_ENOTFOUND:
		return "not found";
	case BW_ECONFLICT:
		return "conflict";
	case BW_EGONE:
		return "gone";
	case BW_ERETRY:
		return "retryable";
	case BW_EHTTP:
		return "http error";
	case BW_ETOOBIG:
		return "too big";
	case BW_ETIMEDOUT:
		return "timed out";
	case BW_EDENIED:
		return "denied";
	case BW_ESTOPPED:
		return "stopped";
	}
	return "unknown error";
}

int bw_code_is_transient(int code)
{
	return code == BW_ERETRY || code == BW_ETIMEDOUT || code == BW_EIO;
}
