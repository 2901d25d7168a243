/*
 * A growable byte buffer with a hard cap: response bodies, watch lines,
 * exposition text. It grows by doubling from 4 KiB and never holds more than
 * its cap (max) bytes of content; the text is always NUL-terminated once
 * anything was appended (the NUL is not counted in len and not in the cap).
 *
 *   struct bw_buf b;
 *   bw_buf_init(&b, 1 << 20);
 *   bw_buf_printf(&b, "%s=%d\n", name, value);
 *   ...
 *   if (b.error) return bw_buf_error(&b, "the metrics text", err);
 *   text = bw_buf_steal(&b, &len);
 *
 * An append that would pass the cap (BW_ETOOBIG) or cannot allocate
 * (BW_ENOMEM) appends nothing and returns the code; the first such code is
 * also kept in b.error, so a writer may append many pieces and check once at
 * the end. Later appends are still tried (a smaller piece may fit).
 *
 * A zeroed struct is an empty buffer with a cap of 0 (raise b.max to use it).
 *
 * Ownership: the struct is the caller's (usually on the stack or inside
 * another struct); its memory is freed by bw_buf_release() or handed over by
 * bw_buf_steal(). Thread-safety: none; one owner at a time.
 */
#ifndef BW_BUF_H
#define BW_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct bw_buf {
	char *data; /* NULL until the first append; NUL-terminated after */
	size_t len; /* bytes of content */
	size_t cap; /* bytes allocated (content + NUL) */
	size_t max; /* the hard cap on len; may be lowered or raised between appends */
	int error;  /* the first failed append's code (BW_ETOOBIG, BW_ENOMEM), or 0 */
};

/* An empty buffer holding at most max bytes. Allocates nothing. */
void bw_buf_init(struct bw_buf *b, size_t max);

/* Frees the memory; the buffer is then empty (its cap kept) and reusable. */
void bw_buf_release(struct bw_buf *b);

/* Empties the buffer and clears b.error, keeping its memory for reuse. */
void bw_buf_reset(struct bw_buf *b);

/* Appends n bytes (which may hold NULs). 0, BW_ETOOBIG or BW_ENOMEM. */
int bw_buf_append(struct bw_buf *b, const void *data, size_t n);

/* Appends a C string. */
int bw_buf_puts(struct bw_buf *b, const char *s);

/* Appends printf-formatted text; all or nothing, as bw_buf_append. BW_EINVAL
 * for a format vsnprintf refuses. */
int bw_buf_printf(struct bw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int bw_buf_vprintf(struct bw_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The content as a malloc'd NUL-terminated string the caller frees (an empty
 * one, "", when nothing was appended), its length in *len when len is not
 * NULL; the buffer is left empty and released. NULL when out of memory
 * (then the buffer is unchanged). */
char *bw_buf_steal(struct bw_buf *b, size_t *len);

/* Fills err for b.error: "<what> is larger than the N-byte cap" or "out of
 * memory for <what>"; returns b.error (0, and err untouched, when none). */
int bw_buf_error(const struct bw_buf *b, const char *what, struct bw_error *err);

#endif
