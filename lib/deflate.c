/* Raw DEFLATE of in-memory texts against a preset dictionary: see deflate.h. */
#include <stdlib.h>

#include <zlib.h>

#include "deflate.h"
#include "error.h"

/* An 8 KiB window holds the dictionary and a Service's text, so late parts
 * of the text still match the dictionary; memory level 6 and level 6 keep
 * the state at 64 KiB, allocated and freed per call (below malloc's mmap
 * threshold), for texts of a few KiB. */
#define WINDOW_BITS 13
#define MEM_LEVEL   6
#define LEVEL	    6

static int set_dictionary(z_stream *z, const struct bw_deflate_dict *dict, int inflating)
{
	if (!dict || dict->len == 0)
		return Z_OK;
	return inflating ? inflateSetDictionary(z, (const Bytef *)dict->bytes, (uInt)dict->len)
			 : deflateSetDictionary(z, (const Bytef *)dict->bytes, (uInt)dict->len);
}

int bw_deflate_text(const char *text, size_t len, const struct bw_deflate_dict *dict,
		    unsigned char **out, size_t *out_size)
{
	z_stream z = {0};
	unsigned char *buf = NULL;
	uLong bound;
	int ret = BW_ENOMEM;

	*out = NULL;
	*out_size = 0;
	if (len > BW_DEFLATE_MAX || (dict && dict->len > BW_DEFLATE_MAX))
		return BW_ETOOBIG;
	if (deflateInit2(&z, LEVEL, Z_DEFLATED, -WINDOW_BITS, MEM_LEVEL, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return BW_ENOMEM;
	bound = deflateBound(&z, (uLong)len);
	if (set_dictionary(&z, dict, 0) != Z_OK || (buf = malloc(bound ? bound : 1)) == NULL)
		goto out;
	z.next_in = (Bytef *)text;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	/* deflateBound() is enough for one Z_FINISH call; anything else is a
	 * broken zlib, not a case to handle */
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		goto out;
	*out = buf;
	*out_size = z.total_out;
	buf = NULL;
	ret = 0;
out:
	deflateEnd(&z);
	free(buf);
	return ret;
}

char *bw_inflate_text(const unsigned char *bytes, size_t size, size_t text_len,
		      const struct bw_deflate_dict *dict)
{
	z_stream z = {0};
	char *text = NULL;
	int ok;

	if (size > BW_DEFLATE_MAX || text_len > BW_DEFLATE_MAX ||
	    (dict && dict->len > BW_DEFLATE_MAX))
		return NULL;
	if (inflateInit2(&z, -WINDOW_BITS) != Z_OK)
		return NULL;
	/* one byte more than the text and its NUL need: a stream that unpacks
	 * longer than text_len is caught, not cut */
	if (set_dictionary(&z, dict, 1) != Z_OK || (text = malloc(text_len + 2)) == NULL) {
		inflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)bytes;
	z.avail_in = (uInt)size;
	z.next_out = (Bytef *)text;
	z.avail_out = (uInt)(text_len + 1);
	ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == text_len && z.avail_in == 0;
	inflateEnd(&z);
	if (!ok) {
		free(text);
		return NULL;
	}
	text[text_len] = '\0';
	return text;
}
