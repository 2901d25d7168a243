/*
 * HTTP/1.x message heads for the proxy: finding where a head ends, reading
 * its first line, and rewriting it for the other side (hop-by-hop headers
 * out, Host and Connection set). Bodies are never parsed: the proxy passes
 * their bytes through as they come (chunked or not), one request per
 * connection, so it never needs to know where a body ends.
 *
 * Pure functions over caller buffers; no allocation. Thread-safety: any
 * thread.
 */
#ifndef BW_PROXY_HTTP_H
#define BW_PROXY_HTTP_H

#include <stddef.h>

/* The largest head read, request or response. */
#define BW_PROXY_HEAD_MAX 16384

/* Where the head in buf[0..len) ends (just past its blank line), or 0 when
 * the blank line has not come yet. */
size_t bw_proxy_head_end(const char *buf, size_t len);

struct bw_proxy_head_info {
	int status;  /* a response's status code; 0 for a request */
	int upgrade; /* the head has an Upgrade header */
};

/*
 * Rewrites the head in[0..len) (len from bw_proxy_head_end()) into out
 * (size bytes): the first line as it is; every header but the hop-by-hop
 * ones (Connection, Keep-Alive, Proxy-Connection and those the Connection
 * header names, except Content-Length and Transfer-Encoding, which frame the
 * body passed through) and, for a request, Host; then `Host: host` (a
 * request, when host is not NULL) and `Connection: close`. Returns the
 * length written, or -1 for a head that is not HTTP/1.0 or 1.1 (a bad first
 * line, a header without a colon or with a space before it, an obsolete
 * line folding, a bare CR or LF, a NUL) or that does not fit in out.
 * request: 1 for a request head, 0 for a response head.
 */
long bw_proxy_head_rewrite(const char *in, size_t len, int request, const char *host, char *out,
			   size_t size, struct bw_proxy_head_info *info);

#endif
