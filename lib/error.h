/*
 * Errors: functions that can fail return 0 or a negative BW_E* code and fill
 * a caller's struct bw_error with what went wrong, as a person would want to
 * read it.
 *
 * Ownership: struct bw_error is a plain value owned by the caller; it holds
 * no pointers. Passing NULL for it is allowed and discards the message.
 * Thread-safety: none needed; each caller has its own.
 */
#ifndef BW_ERROR_H
#define BW_ERROR_H

#include <stddef.h>

enum bw_code {
	BW_OK = 0,
	BW_EINVAL = -1,	    /* a bad argument or malformed input */
	BW_ENOMEM = -2,	    /* out of memory */
	BW_EIO = -3,	    /* a file or socket could not be read or written */
	BW_EPARSE = -4,	    /* YAML or JSON that does not parse */
	BW_ENOTFOUND = -5,  /* HTTP 404, or a name missing from a config */
	BW_ECONFLICT = -6,  /* HTTP 409: AlreadyExists or a stale resourceVersion */
	BW_EGONE = -7,	    /* HTTP 410: the resourceVersion was compacted away */
	BW_ERETRY = -8,	    /* HTTP 429, 5xx, or a transport error: try again later */
	BW_EHTTP = -9,	    /* any other HTTP error status (400, 422, ...) */
	BW_ETOOBIG = -10,   /* a size cap was exceeded */
	BW_ETIMEDOUT = -11, /* a deadline passed */
	BW_EDENIED = -12,   /* HTTP 401 or 403 */
	BW_ESTOPPED = -13,  /* the operation was cancelled by a shutdown */
};

struct bw_error {
	int code;	   /* a BW_E* code, 0 when no error */
	long http_status;  /* HTTP status when the error came from the API server, else 0 */
	char reason[64];   /* Kubernetes Status.reason (e.g. "Conflict"), or "" */
	char message[512]; /* what went wrong, naming the thing at fault */
};

/* Clears *err (no-op for NULL). */
void bw_error_clear(struct bw_error *err);

/* Fills *err with code and a printf-style message; returns code, so a caller
 * can write `return bw_error_set(err, BW_EINVAL, "...")`. err may be NULL.
 * A message longer than the cap is cut at a UTF-8 character boundary. */
int bw_error_set(struct bw_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to err->message, for context as an error travels up.
 * Within the cap, the message keeps at least half of it: a longer prefix (a
 * long path) is cut and ends in "...". Cuts fall on UTF-8 boundaries. */
void bw_error_prefix(struct bw_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* s for a message: s itself when it is at most max bytes, else its first and
 * last bytes around "..." (max bytes in all, UTF-8 sequences kept whole),
 * written to buf, which must hold max + 1 bytes (size). Returns s or buf. */
const char *bw_error_abbrev(const char *s, size_t max, char *buf, size_t size);

/* A short name for a code ("conflict", "gone", ...); never NULL. */
const char *bw_code_name(int code);

/* True when code is worth retrying after a backoff (BW_ERETRY, BW_ETIMEDOUT, BW_EIO). */
int bw_code_is_transient(int code);

#endif
