/*
 * Reading small files whole, under a size cap: kubeconfigs, certificates,
 * keys, tokens.
 *
 * Ownership: *out is malloc'd and NUL-terminated; the caller frees it.
 * Thread-safety: any thread.
 */
#ifndef BW_FILE_H
#define BW_FILE_H

#include <stddef.h>
#include <time.h>

#include "error.h"

/* Refuse anything but a regular file; it is opened without blocking, so a
 * FIFO or a terminal named by mistake cannot hang the caller. */
#define BW_FILE_REGULAR_ONLY 1
/* The contents are secret (a key, a token): partial reads are wiped. */
#define BW_FILE_SECRET 2

/*
 * Reads the file at path, at most cap bytes, into *out (with *len, may be
 * NULL, its length; a NUL follows the last byte) and its modification time
 * into *mtime (may be NULL). `what` names the file in messages ("key file").
 * Errors: BW_EINVAL (no path), BW_EIO ("cannot read <what> <path>: <why>",
 * also for a folder), BW_ETOOBIG ("<what> <path> is N bytes, more than the
 * limit of CAP"), BW_ENOMEM. On failure *out is NULL.
 */
int bw_file_read(const char *path, const char *what, size_t cap, int flags, char **out, size_t *len,
		 struct timespec *mtime, struct bw_error *err);

/* strerror_r into buf, thread-safe; returns buf. */
const char *bw_file_strerror(int e, char *buf, size_t size);

#endif
