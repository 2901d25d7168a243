/*
 * Body framing (body.h). The chunked reader is a byte-at-a-time state
 * machine for the framing lines and skips over chunk data in one step, so
 * a large chunk costs a subtraction, not a loop over its bytes.
 */
#include "body.h"

enum {
	SIZE,	    /* hex digits of a chunk size */
	EXT,	    /* a chunk extension, up to CR */
	SIZE_LF,    /* the LF after the size line */
	DATA,	    /* chunk data */
	DATA_CR,    /* the CRLF after the data */
	DATA_LF,    /* ... its LF */
	TRAILER,    /* the start of a trailer line (or the final CRLF) */
	TRAILER_IN, /* inside a trailer line, up to CR */
	TRAILER_LF, /* the LF ending a trailer line */
	FINAL_LF,   /* the LF of the final empty line */
};

void bw_body_start(struct bw_body *b, enum bw_body_kind kind, unsigned long long length)
{
	*b = (struct bw_body){.kind = kind, .state = SIZE, .left = length};
	b->done = kind == BW_BODY_NONE || (kind == BW_BODY_LENGTH && length == 0);
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t chunked(struct bw_body *b, const char *buf, size_t len)
{
	size_t i = 0, take;
	int h;

	while (i < len && !b->done && !b->error) {
		char c = buf[i];

		switch (b->state) {
		case SIZE:
			h = hex(c);
			if (h >= 0 && b->size_digits < 15) {
				b->left = b->left * 16 + (unsigned)h;
				b->size_digits++;
			} else if (b->size_digits && (c == ';' || c == ' ' || c == '\t')) {
				b->state = EXT;
			} else if (b->size_digits && c == '\r') {
				b->state = SIZE_LF;
			} else {
				b->error = 1;
				return i;
			}
			i++;
			break;
		case EXT:
			if (c == '\r')
				b->state = SIZE_LF;
			else if (c == '\n' || c == '\0') {
				b->error = 1;
				return i;
			}
			i++;
			break;
		case SIZE_LF:
			if (c != '\n') {
				b->error = 1;
				return i;
			}
			i++;
			b->size_digits = 0;
			b->state = b->left ? DATA : TRAILER;
			break;
		case DATA:
			take = len - i < b->left ? len - i : (size_t)b->left;
			b->left -= take;
			i += take;
			if (!b->left)
				b->state = DATA_CR;
			break;
		case DATA_CR:
		case DATA_LF:
		case TRAILER_LF:
		case FINAL_LF:
			if (c != (b->state == DATA_CR ? '\r' : '\n')) {
				b->error = 1;
				return i;
			}
			i++;
			if (b->state == DATA_CR)
				b->state = DATA_LF;
			else if (b->state == DATA_LF)
				b->state = SIZE;
			else if (b->state == TRAILER_LF)
				b->state = TRAILER;
			else
				b->done = 1;
			break;
		case TRAILER:
			b->state = c == '\r' ? FINAL_LF : TRAILER_IN;
			if (c == '\n' || c == '\0') {
				b->error = 1;
				return i;
			}
			i++;
			break;
		case TRAILER_IN:
			if (c == '\r')
				b->state = TRAILER_LF;
			else if (c == '\n' || c == '\0') {
				b->error = 1;
				return i;
			}
			i++;
			break;
		}
	}
	return i;
}

size_t bw_body_feed(struct bw_body *b, const char *buf, size_t len)
{
	size_t n;

	if (b->done || b->error)
		return 0;
	switch (b->kind) {
	case BW_BODY_NONE:
		return 0;
	case BW_BODY_LENGTH:
		n = len < b->left ? len : (size_t)b->left;
		b->left -= n;
		b->done = b->left == 0;
		break;
	case BW_BODY_CHUNKED:
		n = chunked(b, buf, len);
		break;
	default:
		n = len;
		break;
	}
	b->total += n;
	return n;
}

int bw_body_eof(struct bw_body *b)
{
	if (b->kind == BW_BODY_UNTIL_CLOSE && !b->error)
		b->done = 1;
	return b->done;
}
