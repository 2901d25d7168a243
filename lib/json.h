/*
 * Small helpers over jansson for reading Kubernetes objects.
 *
 * Ownership: everything returned is borrowed from the argument (or static).
 * Thread-safety: pure functions; any thread, as long as the JSON is not
 * being changed.
 */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"

/* obj[key], with JSON null read as absent (structural schemas prune nulls);
 * NULL when obj is not an object. */
const json_t *bw_json_get(const json_t *obj, const char *key);

/* "an object", "an array", "a string", "an integer", "a number with a
 * fraction", "a boolean", "null", or "nothing" for NULL: for messages such as
 * "spec.replicas: must be an integer, got a string". */
const char *bw_json_type_name(const json_t *v);

/* An optional integer in min..max: 0 with *out set, or 0 with *out left as
 * it was when v is NULL (absent); BW_EINVAL naming path otherwise ("PATH:
 * must be an integer, got a string", "PATH: 7 is out of range 1..5"). */
int bw_json_int_in_range(const json_t *v, const char *path, json_int_t min, json_int_t max,
			 json_int_t *out, struct bw_error *err);

/* Appends to array a string formatted as vprintf(fmt, ap) does, cut to
 * BW_JSON_MESSAGE_MAX bytes at a UTF-8 boundary and with broken sequences
 * dropped (jansson refuses them): admission warnings, messages. -1 when the
 * string cannot be made or appended (out of memory), 0 otherwise. */
#define BW_JSON_MESSAGE_MAX 511
int bw_json_append_vprintf(json_t *array, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A cheap look at JSON text before a parser builds it: counts the values
 * (objects, arrays, strings, numbers, literals; object keys count too, they
 * cost a string each) and the nesting depth in one pass, without allocating.
 * BW_ETOOBIG, with a message naming the limit, past max_values values or
 * max_depth levels; 0 otherwise. It does not validate: text that passes
 * may still be bad JSON, for the parser to refuse. Why: a parser spends
 * memory per value (jansson about 200 bytes for an empty object), so a
 * 3 MiB `[{},{},...]` would cost some 230 MiB before anything could look at
 * it. */
int bw_json_check_shape(const char *text, size_t len, size_t max_values, size_t max_depth,
			struct bw_error *err);

/* The text of member key's value in the JSON object in text (len bytes, need
 * not be NUL-terminated), found by a scan that steps over every other member
 * without building it: *value points into text, *value_len is its length.
 * For reading one member of a large document that a parser would otherwise
 * build whole (the webhook reads the spec of cached Services, whose status
 * and metadata are most of their text). Keys are compared as written: a key
 * spelled with escapes ("sp\u0065c") is not found; jansson writes plain
 * ASCII keys without escapes. The first of duplicate keys is found. The value
 * is not validated: that is its parser's job.
 * Returns 0; BW_ENOTFOUND when the object has no such member; BW_EPARSE when
 * the text is not an object the scan can walk (the caller may parse it whole
 * and let the parser say what is wrong). Never reads past len. */
int bw_json_member(const char *text, size_t len, const char *key, const char **value,
		   size_t *value_len);

/* Where the member at path (NULL-terminated keys, each the member of the
 * object the one before names: {"object", "metadata", "managedFields",
 * NULL}) is written in text, found by the same scan: removing the bytes
 * [*start, *end) leaves the same JSON without that member (its comma goes
 * with it). For leaving out of a parse what no one reads. Returns as
 * bw_json_member(); never reads past len. */
int bw_json_member_cut(const char *text, size_t len, const char *const *path, size_t *start,
		       size_t *end);

/* The value of the member at path (as bw_json_member_cut()), found by the
 * same scan: no object on the way is walked to its end, so reading one
 * member deep in a large document costs the text up to it and the value
 * itself. Returns as bw_json_member(); never reads past len. */
int bw_json_member_at(const char *text, size_t len, const char *const *path, const char **value,
		      size_t *value_len);

/* Parses text (len bytes) as json_loadb(text, len, flags, error) would, but
 * without the member at path (bw_json_member_cut()) when it is there: its
 * text is stepped over, not built, and checked only as far as the scan
 * walks it (brackets and string ends, not escapes or UTF-8). Nothing is
 * copied or changed: jansson reads the text around the member through
 * json_load_callback(). An error's line and column count the text without
 * the member. For parsing what is read whole but for one large member no
 * one reads (managedFields). */
json_t *bw_json_load_without(const char *text, size_t len, const char *const *path, size_t flags,
			     json_error_t *error);

/* One member bw_json_load_kept() keeps: key, and of its value only the
 * members in only (a list ending in {NULL}) when the value is an object,
 * or of each object in it when it is an array; NULL keeps the value
 * whole, as does any value that is neither. */
struct bw_json_keep {
	const char *key;
	const struct bw_json_keep *only;
};

/* Parses text (len bytes) as json_loadb(text, len, flags, error) would, but
 * keeping of the object it holds only the members in keep (a list ending
 * in {NULL}), down the tree the lists describe: every other member is
 * stepped over by the scan of bw_json_member(), not built, and checked
 * only as far as the scan walks it (brackets and string ends, not escapes,
 * UTF-8 or duplicate keys). Keys are compared as written; a key written
 * with escapes is kept whole, as it may spell a kept name. Text the scan
 * cannot walk (not an object, broken brackets) is parsed whole, so the
 * parser says what is wrong with it; an error's line and column count the
 * text without the members left out. For a decision that reads a few
 * members of a large object: what it reads comes out exactly as a whole
 * parse would give it. */
json_t *bw_json_load_kept(const char *text, size_t len, const struct bw_json_keep *keep,
			  size_t flags, json_error_t *error);

struct bw_buf;

/* Appends v to b as compact JSON text, members in the order jansson keeps
 * them (that of insertion), as json_dumps(v, JSON_COMPACT) writes it but
 * without its per-object cycle check (an snprintf and a table insert for
 * every object and array, most of the cost of dumping a small patch):
 * for values built as trees, never holding themselves. Strings are written
 * as UTF-8 with '"', '\\' and control characters escaped. Returns 0;
 * b->error (BW_ETOOBIG, BW_ENOMEM) when an append failed; BW_EINVAL for a
 * NULL argument or nesting deeper than BW_JSON_WRITE_MAX_DEPTH (a cycle
 * ends there too). */
#define BW_JSON_WRITE_MAX_DEPTH 64
int bw_json_write(struct bw_buf *b, const json_t *v);

/* Appends s (n bytes, NULs allowed, valid UTF-8) to b as a JSON string, as
 * bw_json_write() writes strings; failures are kept in b->error. */
void bw_json_write_string(struct bw_buf *b, const char *s, size_t n);

#endif
