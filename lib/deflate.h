/*
 * Texts kept small in memory: raw DEFLATE (RFC 1951, zlib) against a preset
 * dictionary. The caches hold each breakwater Service and Breaker as its
 * compact JSON text for the reconcilers; texts of one kind share most of
 * their bytes (keys, condition types and messages), so a dictionary made of
 * a typical text lets deflate write each as little more than what differs:
 * a 1.9 KB Service in about 120 bytes (bench/README.md, "Typed
 * projections of Services").
 *
 * The packed bytes live only in this process's memory: no header, no
 * checksum, and the dictionary may change between releases. The same
 * dictionary must be given to both calls.
 *
 * zlib is already in the process (libcurl and libwebsockets link it);
 * Debian's zlib1g-dev comes with libwebsockets-dev.
 *
 * Ownership: results are new allocations the caller frees with free().
 * Thread-safety: none needed; every call has its own zlib state.
 */
#ifndef BW_DEFLATE_H
#define BW_DEFLATE_H

#include <stddef.h>

/* The largest text either call takes: the cached item's size fields are
 * 32 bits, and no Kubernetes object comes near (etcd's limit is 1.5 MiB). */
#define BW_DEFLATE_MAX ((size_t)1 << 30)

/* A preset dictionary: the bytes deflate may refer back to before the
 * text's own start (at most 8 KiB are used: the window). */
struct bw_deflate_dict {
	const char *bytes;
	size_t len;
};

/* Packs text[0..len) into *out (size *out_size). dict may be NULL (none).
 * 0, or BW_ENOMEM, or BW_ETOOBIG past BW_DEFLATE_MAX; *out is NULL then. */
int bw_deflate_text(const char *text, size_t len, const struct bw_deflate_dict *dict,
		    unsigned char **out, size_t *out_size);

/* The text bw_deflate_text() packed into bytes[0..size), text_len bytes
 * long, NUL-terminated; NULL when out of memory or when the bytes do not
 * unpack to exactly text_len bytes with this dictionary. */
char *bw_inflate_text(const unsigned char *bytes, size_t size, size_t text_len,
		      const struct bw_deflate_dict *dict);

#endif
