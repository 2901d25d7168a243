/*
 * Unit tests for proxy/body.c: where a Content-Length or chunked body ends,
 * fed whole and byte by byte (a body arrives in pieces of any size), and
 * the chunked framings it refuses.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "../../proxy/body.h"

/* Feeds s whole, then one byte at a time; both must agree. Returns the bytes
 * that belong to the body; *done and *error as the whole feed left them. */
static size_t feed(enum bw_body_kind kind, unsigned long long length, const char *s, int *done,
		   int *error)
{
	struct bw_body whole, bytes;
	size_t len = strlen(s), n, m = 0, i;

	bw_body_start(&whole, kind, length);
	n = bw_body_feed(&whole, s, len);
	bw_body_start(&bytes, kind, length);
	for (i = 0; i < len && !bytes.done && !bytes.error; i++)
		m += bw_body_feed(&bytes, s + i, 1);
	CHECK(n == m && whole.done == bytes.done && whole.error == bytes.error,
	      "  fed whole or byte by byte: the same (%zu, %zu)", n, m);
	*done = whole.done;
	*error = whole.error;
	return n;
}

int main(void)
{
	static const struct {
		const char *in;
		size_t body; /* bytes of the body */
		int done, error;
		const char *what;
	} chunked[] = {
	    {"5\r\nhello\r\n0\r\n\r\n", 15, 1, 0, "one chunk and the last"},
	    {"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 15, 1, 0,
	     "the next message after it is not the body's"},
	    {"A;name=val\r\n0123456789\r\n0\r\n\r\n", 29, 1, 0, "a chunk extension, hex A"},
	    {"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", 29, 1, 0, "trailers"},
	    {"5\r\nhel", 6, 0, 0, "inside a chunk: not done"},
	    {"0\r\n\r", 4, 0, 0, "the final CRLF not complete"},
	    {"0\r\n\r\n", 5, 1, 0, "an empty body"},
	    {"5\r\nhelloX\r\n", 8, 0, 1, "data longer than its size"},
	    {"x\r\n", 0, 0, 1, "a size that is not hex"},
	    {"\r\n", 0, 0, 1, "no size"},
	    {"5\nhello", 1, 0, 1, "a bare LF after the size"},
	    {"1000000000000000\r\n", 15, 0, 1, "a size of 16 hex digits (over 2^60)"},
	    {"0\r\nX: 1\n", 7, 0, 1, "a trailer line with a bare LF"},
	};
	struct bw_body b;
	size_t i, n;
	int done, error;

	for (i = 0; i < sizeof(chunked) / sizeof(chunked[0]); i++) {
		n = feed(BW_BODY_CHUNKED, 0, chunked[i].in, &done, &error);
		CHECK(n == chunked[i].body && done == chunked[i].done && error == chunked[i].error,
		      "chunked: %s (%zu bytes, done %d, error %d)", chunked[i].what, n, done,
		      error);
	}

	n = feed(BW_BODY_LENGTH, 4, "abcdGET", &done, &error);
	CHECK(n == 4 && done && !error, "Content-Length 4: four bytes, then done");
	n = feed(BW_BODY_LENGTH, 10, "abcd", &done, &error);
	CHECK(n == 4 && !done, "Content-Length 10 after 4 bytes: not done");
	bw_body_start(&b, BW_BODY_LENGTH, 0);
	CHECK(b.done, "Content-Length 0: done at once");
	bw_body_start(&b, BW_BODY_NONE, 0);
	CHECK(b.done && bw_body_feed(&b, "x", 1) == 0, "no body: done, takes nothing");

	bw_body_start(&b, BW_BODY_UNTIL_CLOSE, 0);
	CHECK(bw_body_feed(&b, "abc", 3) == 3 && !b.done, "until close: takes all, not done");
	CHECK(bw_body_eof(&b) && b.done, "until close: the close ends it");
	bw_body_start(&b, BW_BODY_LENGTH, 10);
	bw_body_feed(&b, "abc", 3);
	CHECK(!bw_body_eof(&b), "Content-Length cut by the close: not complete");
	bw_body_start(&b, BW_BODY_CHUNKED, 0);
	bw_body_feed(&b, "ffffffff\r\n", 10);
	CHECK(!b.done && b.left == 0xffffffffULL, "a 4 GiB chunk is counted, not read");
	return check_exit();
}
