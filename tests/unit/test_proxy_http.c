/*
 * Unit tests for proxy/http.c: where a head ends and how it is rewritten
 * for the other side (hop-by-hop headers out, Host and Connection set), and
 * the heads it refuses.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "../../proxy/http.h"

static char out[BW_PROXY_HEAD_MAX + 1024];

static long rewrite(const char *in, int request, struct bw_proxy_head_info *info)
{
	return bw_proxy_head_rewrite(in, strlen(in), request, request ? "users.shop:8000" : NULL,
				     "close", out, sizeof(out), info);
}

static void test_end(void)
{
	const char *h = "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";

	CHECK_INT(27, bw_proxy_head_end(h, strlen(h)), "the head ends after its blank line");
	CHECK_INT(0, bw_proxy_head_end(h, 26), "no blank line yet: 0");
	CHECK_INT(0, bw_proxy_head_end("\r\n\r", 3), "three bytes: 0");
}

static void test_request(void)
{
	struct bw_proxy_head_info info;
	long n = rewrite("POST /api/pay?x=1 HTTP/1.1\r\nHost: 127.0.0.1:15001\r\n"
			 "Connection: keep-alive, X-Hop, Transfer-Encoding\r\nX-Hop: 1\r\n"
			 "Keep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
			 "Transfer-Encoding: chunked\r\nX-Trace: 7\r\n\r\n",
			 1, &info);

	CHECK(n > 0, "a request is rewritten");
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR("POST /api/pay?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Trace: 7\r\n"
		  "Host: users.shop:8000\r\nConnection: close\r\n\r\n",
		  out, "hop-by-hop headers and Host replaced; Transfer-Encoding kept");
	CHECK_INT(0, info.upgrade, "no upgrade");
	CHECK_INT(0, info.status, "a request has no status");

	n = rewrite(
	    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1,
	    &info);
	CHECK(n > 0 && info.upgrade, "an Upgrade request is flagged");
	n = rewrite("GET / HTTP/1.0\r\n\r\n", 1, &info);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR("GET / HTTP/1.0\r\nHost: users.shop:8000\r\nConnection: close\r\n\r\n", out,
		  "HTTP/1.0 without headers");
}

static void test_response(void)
{
	struct bw_proxy_head_info info;
	long n = rewrite("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n"
			 "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			 0, &info);

	CHECK(n > 0, "a response is rewritten");
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\n"
		  "Connection: close\r\n\r\n",
		  out, "response: Connection replaced, no Host added");
	CHECK_INT(503, info.status, "the status is read");
	CHECK(rewrite("HTTP/1.1 200\r\n\r\n", 0, &info) > 0 && info.status == 200,
	      "a status line without a reason");
}

static void test_refused(void)
{
	static const struct {
		const char *head;
		int request;
		const char *why;
	} bad[] = {
	    {"GET / HTTP/2.0\r\n\r\n", 1, "HTTP/2 in an HTTP/1 head"},
	    {"GET /\r\n\r\n", 1, "no version"},
	    {"GET  / HTTP/1.1\r\n\r\n", 1, "an empty target"},
	    {"G(T / HTTP/1.1\r\n\r\n", 1, "a method that is not a token"},
	    {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 1, "a header without a colon"},
	    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 1, "a space before the colon"},
	    {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 1, "obsolete line folding"},
	    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 1, "a bare LF"},
	    {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 1, "a bare CR"},
	    {"HTTP/1.1 20 OK\r\n\r\n", 0, "a two-digit status"},
	    {"HTTP/1.1 099 x\r\n\r\n", 0, "a status below 100"},
	    {"HTTP/1.1 200OK\r\n\r\n", 0, "no space after the status"},
	    {"HTTP/1.1 200 OK\r\n", 0, "no blank line"},
	    {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 1,
	     "two Content-Lengths that differ"},
	    {"POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", 1, "a Content-Length not a number"},
	    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 1, "a negative Content-Length"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1,2\r\n\r\n", 0, "a Content-Length list"},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 1,
	     "a request with Transfer-Encoding and Content-Length (smuggling)"},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 1,
	     "a request whose last coding is not chunked"},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 1,
	     "a request with chunked not last"},
	};
	struct bw_proxy_head_info info;
	char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(-1, rewrite(bad[i].head, bad[i].request, &info), "refused: %s",
			  bad[i].why);
	CHECK_INT(
	    -1,
	    bw_proxy_head_rewrite(nul, sizeof(nul) - 1, 1, NULL, "close", out, sizeof(out), &info),
	    "refused: a NUL");
	CHECK_INT(
	    -1,
	    bw_proxy_head_rewrite("GET / HTTP/1.1\r\n\r\n", 18, 1, NULL, "close", out, 30, &info),
	    "refused: does not fit in out");
}

/* What frames the message and what the sender asks of the connection. */
static void test_info(void)
{
	struct bw_proxy_head_info info;
	long n;

	CHECK(rewrite("POST / HTTP/1.1\r\nContent-Length:  12 \r\nContent-Length: 12\r\n\r\n", 1,
		      &info) > 0,
	      "the same Content-Length twice is one");
	CHECK_INT(12, info.content_length, "Content-Length read");
	CHECK_INT(0, info.chunked, "not chunked");
	CHECK(rewrite("GET / HTTP/1.1\r\n\r\n", 1, &info) > 0 && info.content_length == -1,
	      "no Content-Length: -1");
	CHECK_INT(1, info.minor, "HTTP/1.1");
	CHECK(rewrite("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", 1, &info) >
		      0 &&
		  info.chunked && info.transfer_encoding,
	      "chunked last (any case): chunked");
	CHECK(rewrite("HEAD /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, &info) > 0 &&
		  info.head_method && info.minor == 0 && info.conn_keep_alive && !info.conn_close,
	      "HEAD, HTTP/1.0, Connection: keep-alive");
	CHECK(rewrite("GET / HTTP/1.1\r\nConnection: x, close\r\n\r\n", 1, &info) > 0 &&
		  info.conn_close,
	      "Connection: close among other tokens");
	CHECK(rewrite("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1, &info) > 0 &&
		  !info.upgrade,
	      "Upgrade without Connection: upgrade is no upgrade");
	out[rewrite("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1, &info)] = '\0';
	CHECK(!strstr(out, "Upgrade"), "... and its Upgrade header is dropped (hop-by-hop)");

	/* a response with both: Transfer-Encoding wins, Content-Length goes */
	n = rewrite("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
		    &info);
	out[n > 0 ? n : 0] = '\0';
	CHECK(n > 0 && info.chunked && !strstr(out, "Content-Length"),
	      "response with Transfer-Encoding and Content-Length: the length dropped");
	CHECK(rewrite("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &info) > 0 &&
		  info.transfer_encoding && !info.chunked,
	      "a response not chunked: read until close (the caller's choice)");

	/* the Connection value asked for; "upgrade" keeps the Upgrade header */
	n = bw_proxy_head_rewrite("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: "
				  "Upgrade\r\n\r\n",
				  61, 1, "u:1", "upgrade", out, sizeof(out), &info);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nHost: u:1\r\nConnection: "
		  "upgrade\r\n\r\n",
		  out, "an Upgrade request passed on for a tunnel");
	CHECK_INT(1, info.upgrade, "flagged as an upgrade");
	n = bw_proxy_head_rewrite("HTTP/1.1 204 No Content\r\n\r\n", 27, 0, NULL, "keep-alive", out,
				  sizeof(out), &info);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n", out,
		  "Connection: keep-alive when asked");
	CHECK_INT(n,
		  bw_proxy_head_rewrite("HTTP/1.1 204 No Content\r\n\r\n", 27, 0, NULL,
					"keep-alive", NULL, 0, &info),
		  "out NULL: the length only");
}

int main(void)
{
	test_info();
	test_end();
	test_request();
	test_response();
	test_refused();
	return check_exit();
}
