/*
 * Watch streams: the API server sends one JSON event per line,
 * {"type":"ADDED","object":{...}}. This module splits a byte stream into
 * lines under a size cap and parses events; the reflector (reflector.h)
 * drives the stream.
 *
 * Ownership: a struct bw_line_reader is the caller's; _release frees its
 * buffer. Parsed objects are new references for the caller.
 * Thread-safety: none; one reader per stream.
 */
#ifndef BW_WATCH_H
#define BW_WATCH_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "error.h"

/* buf holds the partial line carried over between chunks; its cap is
 * max_line. Its memory is kept for the next line up to
 * BW_LINE_READER_KEEP_BYTES and freed past that: a rare big object (a list
 * page, a pod of many containers) would otherwise hold its size for the
 * life of the watch (9 watches kept 274 KiB so at 1,000 Services). */
struct bw_line_reader {
	struct bw_buf buf;
};

/* The reflector's default cap on one watch event (one line), and the one the
 * fuzz target runs at. */
#define BW_WATCH_MAX_EVENT_BYTES ((size_t)16 << 20)

#define BW_LINE_READER_KEEP_BYTES ((size_t)16 << 10)

/* Lines longer than max_line bytes are refused (BW_ETOOBIG). */
void bw_line_reader_init(struct bw_line_reader *r, size_t max_line);
void bw_line_reader_release(struct bw_line_reader *r);

/* Called with each complete line, without its "\n" (or "\r\n"); empty lines
 * are skipped. Return 0 to go on, nonzero to stop (feed returns it). */
typedef int (*bw_line_fn)(const char *line, size_t len, void *ctx);

/* Feeds a chunk; calls fn for each line it completes. A partial line is kept
 * for the next chunk. BW_ETOOBIG (err says how big) when a line is over the cap. */
int bw_line_reader_feed(struct bw_line_reader *r, const char *data, size_t len, bw_line_fn fn,
			void *ctx, struct bw_error *err);

enum bw_watch_type {
	BW_WATCH_ADDED,
	BW_WATCH_MODIFIED,
	BW_WATCH_DELETED,
	BW_WATCH_BOOKMARK,
	BW_WATCH_ERROR,
};

const char *bw_watch_type_name(enum bw_watch_type type);

/* Parses one event line: *type and *object (a new reference). For ERROR
 * the object is the Status. BW_EPARSE, naming what is wrong, for a line that
 * is not a watch event. Strings may hold "\u0000" (JSON_ALLOW_NUL), as the
 * API server allows. */
int bw_watch_event_parse(const char *line, size_t len, enum bw_watch_type *type, json_t **object,
			 struct bw_error *err);

/* The same, but the object comes without metadata.managedFields: the
 * member is cut out of the text before jansson builds it
 * (bw_json_member_cut()), for a reader that never looks at it. It is a
 * third of what the API server sends for a pod, over two fifths for a
 * Deployment or a Service, and three quarters of a pod's metadata alone.
 * An event the cut cannot walk is parsed whole. */
int bw_watch_event_parse_lean(const char *line, size_t len, enum bw_watch_type *type,
			      json_t **object, struct bw_error *err);

#endif
