/*
 * HTTP/1.x message heads for the proxy: finding where a head ends, reading
 * what frames the message and what the sender asks of the connection, and
 * rewriting the head for the other side (hop-by-hop headers out, Host and
 * Connection set). Where a body ends is body.h's job.
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
	int status;		  /* a response's status code; 0 for a request */
	int minor;		  /* HTTP/1.minor */
	int head_method;	  /* a request with the method HEAD */
	int upgrade;		  /* an Upgrade header named by Connection: upgrade */
	int conn_close;		  /* Connection: close */
	int conn_keep_alive;	  /* Connection: keep-alive */
	int chunked;		  /* Transfer-Encoding, the last coding chunked */
	int transfer_encoding;	  /* a Transfer-Encoding header at all */
	long long content_length; /* -1: none */
};

/*
 * Rewrites the head in[0..len) (len from bw_proxy_head_end()) into out
 * (size bytes): the first line as it is; every header but the hop-by-hop
 * ones (Connection, Keep-Alive, Proxy-Connection, Upgrade and those the
 * Connection header names, except Content-Length and Transfer-Encoding,
 * which frame the body passed through) and, for a request, Host; then
 * `Host: host` (a request, when host is not NULL) and `Connection:
 * connection`. When connection is "upgrade", the Upgrade header stays (a
 * tunnel being set up). A response with both Transfer-Encoding and
 * Content-Length loses the Content-Length (RFC 9112 6.3).
 *
 * Returns the length written, or -1 for a head that is not HTTP/1.0 or 1.1
 * (a bad first line, a header without a colon or with a space before it, an
 * obsolete line folding, a bare CR or LF, a NUL), whose framing is
 * ambiguous (Content-Length not a number, two that differ; a request with
 * Transfer-Encoding whose last coding is not chunked, or with both
 * Transfer-Encoding and Content-Length), or that does not fit in out.
 * request: 1 for a request head, 0 for a response head. out may be NULL
 * (size 0) to read info only.
 */
long bw_proxy_head_rewrite(const char *in, size_t len, int request, const char *host,
			   const char *connection, char *out, size_t size,
			   struct bw_proxy_head_info *info);

#endif
