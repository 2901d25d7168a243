/* libFuzzer: arbitrary bytes as the first bytes of a request or a response
 * the breaker sidecar reads (proxy/http.c): where the head ends, and its
 * rewrite for the other side, as a request (Host replaced) and as a
 * response. Checks more than "no crash": a rewritten head ends in a blank
 * line, asks to close, and rewriting it again changes nothing (but the
 * Upgrade flag: an Upgrade named by Connection is dropped as hop-by-hop). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../proxy/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out[BW_PROXY_HEAD_MAX + 1024], again[BW_PROXY_HEAD_MAX + 1024];

static void check(const char *head, size_t len, int request)
{
	struct bw_proxy_head_info info, info2;
	long n = bw_proxy_head_rewrite(head, len, request, request ? "users.shop:8000" : NULL, out,
				       sizeof(out), &info);
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
				  again, sizeof(again), &info2);
	if (m != n || memcmp(out, again, (size_t)n) != 0 || info.status != info2.status)
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
	return 0;
}
