/*
 * UTF-8 at the edges of fixed-size text: messages, warnings and conditions
 * end up in JSON, and jansson refuses a string cut inside a UTF-8 sequence
 * (the whole condition, event or admission answer would be lost).
 *
 * Ownership: the functions write only into the caller's buffer.
 * Thread-safety: pure functions; any thread.
 */
#ifndef BW_UTF8_H
#define BW_UTF8_H

#include <stddef.h>

/* The length of the longest prefix of s (len bytes), at most max bytes, that
 * does not end inside a UTF-8 sequence: len when it fits. Reads s[max] when
 * len > max. */
size_t bw_utf8_cut(const char *s, size_t len, size_t max);

/* The length of the valid UTF-8 sequence at s (as jansson checks it: no
 * overlong form, no surrogate, nothing above U+10FFFF), or 0. Reads no
 * further than a NUL. */
size_t bw_utf8_seq(const unsigned char *s);

/* Makes the NUL-terminated s valid UTF-8 in place by dropping the bytes of
 * broken sequences: a sequence that snprintf or "%.Ns" cut in half, and any
 * invalid byte. Valid text is left as it is. */
void bw_utf8_repair(char *s);

#endif
