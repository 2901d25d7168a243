/* Error values: see error.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

void bw_error_clear(struct bw_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int bw_error_set(struct bw_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void bw_error_prefix(struct bw_error *err, const char *fmt, ...)
{
	char joined[2 * sizeof(err->message)];
	size_t n;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(joined, sizeof(err->message), fmt, ap);
	va_end(ap);
	n = strlen(joined);
	memcpy(joined + n, ": ", 3);
	memcpy(joined + n + 2, err->message, sizeof(err->message));
	/* the message is cut at its cap; a long prefix keeps the start of both */
	memcpy(err->message, joined, sizeof(err->message) - 1);
	err->message[sizeof(err->message) - 1] = '\0';
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
