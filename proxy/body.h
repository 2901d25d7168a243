/*
 * Where an HTTP/1.1 body ends, read as its bytes pass: the proxy forwards a
 * body as it comes (never holding it whole) and needs to know where it ends
 * to use the connection again for the next message. Content-Length bodies
 * are counted; chunked ones are followed through their size lines, data,
 * and trailers (RFC 9112 7.1) without changing a byte.
 *
 * Pure: a small state per body, no allocation. Thread-safety: one body per
 * thread at a time.
 */
#ifndef BW_PROXY_BODY_H
#define BW_PROXY_BODY_H

#include <stddef.h>

enum bw_body_kind {
	BW_BODY_NONE,	     /* no body: done at once */
	BW_BODY_LENGTH,	     /* Content-Length bytes */
	BW_BODY_CHUNKED,     /* chunked */
	BW_BODY_UNTIL_CLOSE, /* a response that ends when the connection does */
};

struct bw_body {
	enum bw_body_kind kind;
	int state;		  /* chunked: where in the framing (body.c) */
	int done;		  /* the last byte of the body has passed */
	int error;		  /* chunked framing that is not (a size over 2^60, a bad char) */
	unsigned long long left;  /* LENGTH: bytes to go; CHUNKED: of the current chunk */
	unsigned size_digits;	  /* of the current chunk size */
	unsigned long long total; /* bytes of the body seen */
};

/* Starts a body of that kind (length for BW_BODY_LENGTH). */
void bw_body_start(struct bw_body *b, enum bw_body_kind kind, unsigned long long length);

/*
 * Reads buf[0..len), the next bytes of the connection, and returns how many
 * of them belong to this body (all of them, unless it ended inside buf: the
 * rest belongs to the next message). After it, b->done says whether the
 * body is over and b->error whether the chunked framing is broken (then the
 * return value is where it broke: the connection cannot be used again).
 * BW_BODY_UNTIL_CLOSE takes everything and ends only by bw_body_eof().
 */
size_t bw_body_feed(struct bw_body *b, const char *buf, size_t len);

/* The connection closed: a BW_BODY_UNTIL_CLOSE body is over. Returns
 * whether the body is complete (0: it was cut short). */
int bw_body_eof(struct bw_body *b);

#endif
