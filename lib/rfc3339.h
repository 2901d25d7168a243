/*
 * Calendar helpers: RFC 3339 times as Kubernetes writes them (metav1.Time
 * "2026-11-30T04:19:08Z", metav1.MicroTime "2026-11-30T04:19:08.123456Z")
 * and reads them (any fraction, "Z" or a "+hh:mm"/"-hh:mm" offset), and the
 * proleptic Gregorian day count they rest on. No time zone database, no
 * locale, no global state: gmtime/strftime/timegm are not used.
 *
 * Thread-safety: every function is pure except bw_rfc3339_now (reads the clock).
 */
#ifndef BW_RFC3339_H
#define BW_RFC3339_H

#include <stddef.h>

#include "error.h"

/* Room for any formatted time: "9999-12-31T23:59:59.123456789Z" and the NUL. */
#define BW_RFC3339_SIZE 32

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31;
 * not checked here). Howard Hinnant's days_from_civil. */
long long bw_days_from_civil(long long year, unsigned month, unsigned day);

/* Writes sec (since the epoch, UTC) and nsec (0..999999999) in UTC with
 * digits (0, 3, 6 or 9) fraction digits and "Z": "2026-11-30T04:19:08Z"
 * (digits 0), "...08.123Z" (3), "...08.123456Z" (6). Returns 0, or
 * BW_EINVAL (buf left "") for a year outside 0000-9999, nsec out of range,
 * other digits, or a buffer under BW_RFC3339_SIZE bytes. */
int bw_rfc3339_format(char *buf, size_t size, long long sec, long nsec, int digits);

/* The same for the current time (CLOCK_REALTIME). */
int bw_rfc3339_now(char *buf, size_t size, int digits);

/* Parses "YYYY-MM-DDTHH:MM:SS[.F...](Z|+hh:mm|-hh:mm)" ("t" and "z" too, as
 * RFC 3339 allows; a leap second 60 counts as 59): *sec since the epoch in
 * UTC and, when nsec is not NULL, *nsec (fraction digits past 9 are
 * dropped). BW_EINVAL naming what is wrong for anything else: missing or
 * extra characters, a day the month does not have, an hour past 23, an
 * offset past 23:59. */
int bw_rfc3339_parse(const char *s, long long *sec, long *nsec, struct bw_error *err);

#endif
