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
				     out, sizeof(out), info);
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
	};
	struct bw_proxy_head_info info;
	char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(-1, rewrite(bad[i].head, bad[i].request, &info), "refused: %s",
			  bad[i].why);
	CHECK_INT(-1, bw_proxy_head_rewrite(nul, sizeof(nul) - 1, 1, NULL, out, sizeof(out), &info),
		  "refused: a NUL");
	CHECK_INT(-1, bw_proxy_head_rewrite("GET / HTTP/1.1\r\n\r\n", 18, 1, NULL, out, 30, &info),
		  "refused: does not fit in out");
}

int main(void)
{
	test_end();
	test_request();
	test_response();
	test_refused();
	return check_exit();
}
