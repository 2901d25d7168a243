/* libFuzzer: arbitrary bytes as the first bytes of a request or a response
 * the breaker sidecar reads (proxy/http.c): where the head ends, and its
 * rewrite for the other side, as a request (Host replaced) and as a
 * response. Checks more than "no crash": a rewritten head ends in a blank
 * line, asks to close, and rewriting it again changes nothing (but the
 * Upgrade flag: an Upgrade named by Connection is dropped as hop-by-hop).
 * The bytes after the head go through the body reader (proxy/body.c) as
 * chunked, split at a point the input chooses: the same answer whole or in
 * two parts, and never more bytes than it was given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proxy/body.h"
#include "../../proxy/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out[BW_PROXY_HEAD_MAX + 1024], again[BW_PROXY_HEAD_MAX + 1024];

static void check(const char *head, size_t len, int request)
{
	struct bw_proxy_head_info info, info2;
	long n = bw_proxy_head_rewrite(head, len, request, request ? "users.shop:8000" : NULL,
				       "close", out, sizeof(out), &info);
	long m;

	if (n < 0)
		return;
	if (n < 4 || memcmp(out + n - 4, "\r\n\r\n", 4) != 0)
		abort();
	if (n < 21 || memcmp(out + n - 21, "Connection: close\r\n\r\n", 21) != 0)
		abort();
	if (!request && (info.status < 100 || info.status > 999))
		abort();
	m = bw_proxy_head_rewrite(out, (size_t)n, request, request ? "users.shop:8000" : NULL,
				  "close", again, sizeof(again), &info2);
	if (m != n || memcmp(out, again, (size_t)n) != 0 || info.status != info2.status ||
	    info.chunked != info2.chunked ||
	    /* a response's Content-Length beside Transfer-Encoding is dropped */
	    (info.content_length != info2.content_length && (request || !info.transfer_encoding)))
		abort();
	if (bw_proxy_head_rewrite(head, len, request, NULL, "close", NULL, 0, &info2) < 0)
		abort(); /* info only never refuses what a rewrite took */
}

/* Chunked framing read whole, and in two parts split at `split`. */
static void body(const char *buf, size_t len, size_t split)
{
	struct bw_body a, b;
	size_t whole, first, second = 0;

	bw_body_start(&a, BW_BODY_CHUNKED, 0);
	whole = bw_body_feed(&a, buf, len);
	if (whole > len || (whole < len && !a.done && !a.error))
		abort();
	if (split > len)
		split = len;
	bw_body_start(&b, BW_BODY_CHUNKED, 0);
	first = bw_body_feed(&b, buf, split);
	if (first == split)
		second = bw_body_feed(&b, buf + split, len - split);
	if (first + second != whole || a.done != b.done || a.error != b.error)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t end;

	if (size > BW_PROXY_HEAD_MAX)
		size = BW_PROXY_HEAD_MAX;
	end = bw_proxy_head_end(buf, size);
	if (end > size)
		abort();
	if (!end)
		return 0;
	check(buf, end, 1);
	check(buf, end, 0);
	body(buf + end, size - end,
	     end < size ? (unsigned char)buf[end - 1] % (size - end + 1) : 0);
	return 0;
}
