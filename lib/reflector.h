/*
 * The reflector: keeps a caller's view of one resource type in step with the
 * API server, as client-go's reflector does. It lists, hands the complete
 * list over, then watches from the list's resourceVersion and hands each
 * event to event(). A list is streamed (KEP-3157: a watch with
 * sendInitialEvents=true, whose ADDED events are the list's objects until a
 * bookmark annotated k8s.io/initial-events-end; the watch then goes on), so
 * one object at a time is held, not a page; when the API server refuses that
 * (400 or 422: its WatchList feature is off), it lists in pages
 * (limit/continue) from then on. It
 *  - asks for bookmarks, and resumes a broken watch from the last
 *    resourceVersion it saw (event or bookmark), so nothing is missed and
 *    nothing repeated;
 *  - relists when the server answers 410 Gone (the version was compacted);
 *  - backs off 800 ms .. 30 s with jitter after failures;
 *  - restarts a watch that has been silent (no event, no bookmark) for
 *    stall_timeout_ms;
 *  - refuses a single event larger than max_event_bytes (and relists);
 *  - relists when event() could not take an event in.
 *
 * Ownership: bw_reflector_new() copies the options' strings; the client and
 * the handlers' ctx are borrowed and must outlive the reflector. Objects
 * passed to handlers are borrowed for the call (json_incref to keep one).
 * Thread-safety: run() blocks in the calling thread; start() runs it in a
 * thread of its own. stop(), stats() and the getters may be called from any
 * thread. Handlers are called from the reflector's thread only, one at a time.
 */
#ifndef BW_REFLECTOR_H
#define BW_REFLECTOR_H

#include <stdint.h>

#include <jansson.h>

#include "client.h"
#include "watch.h"

/* A list is handed over one object at a time, as it streams or page by
 * page, so a relist of 10,000 objects never holds more than one object (or
 * one page) of JSON: list_begin(), list_item() for each object, then
 * list_end(). */
struct bw_reflector_handlers {
	/* A list starts. Return 0, or a negative code to retry after a backoff. */
	int (*list_begin)(void *ctx);
	/* One object of the list (borrowed). Nonzero aborts the list. */
	int (*list_item)(json_t *object, void *ctx);
	/* The list is complete (complete = 1; resource_version is the list's)
	 * or abandoned (complete = 0: a failure, or restarted because its
	 * continue token expired). Return nonzero when a complete list could
	 * not be taken in: it is retried after a backoff. */
	int (*list_end)(int complete, const char *resource_version, void *ctx);
	/* One ADDED, MODIFIED or DELETED event (object borrowed). Return 0, or
	 * nonzero when the event could not be taken in (the store refused it):
	 * the view is then missing a change that no later event may repair, so
	 * the reflector ends the watch and relists after a short backoff. */
	int (*event)(enum bw_watch_type type, json_t *object, void *ctx);
	void *ctx;
};

struct bw_reflector_options {
	const struct bw_resource *resource;
	const char *namespace;	    /* NULL or "": all namespaces */
	const char *label_selector; /* or NULL */
	const char *field_selector; /* or NULL */
	int metadata_only;	    /* objects as PartialObjectMetadata: their metadata
				     * alone, for a projection that reads no more */
	int drop_managed_fields;    /* watched objects without metadata.managedFields,
				     * left out of the parse (bw_watch_event_parse_lean()) */
	int paged_lists;	    /* list in pages, never streamed; default 0 */
	long page_size;		    /* list page size; default 500 */
	long stall_timeout_ms;	    /* default 90000: bookmarks come about every minute */
	long watch_timeout_s;	    /* server-side watch timeout; default 300-600 at random */
	long backoff_initial_ms;    /* default 800 */
	long backoff_max_ms;	    /* default 30000 */
	size_t max_event_bytes;	    /* default BW_WATCH_MAX_EVENT_BYTES (16 MiB) */
};

/* Lists and events are counted before they are handed over, so that a
 * reader who sees the store changed also sees them counted. */
struct bw_reflector_stats {
	uint64_t lists;		 /* complete lists handed to list_end() */
	uint64_t watches;	 /* watch requests started */
	uint64_t watch_restarts; /* watches that ended in an error or a stall */
	uint64_t relists_gone;	 /* relists caused by 410 Gone */
	uint64_t relists_failed; /* relists caused by an event event() could not take in */
	uint64_t stalls;	 /* watches restarted for silence */
	uint64_t events;	 /* events handed to event() */
	uint64_t bookmarks;
};

struct bw_reflector;

int bw_reflector_new(struct bw_reflector **out, struct bw_client *client,
		     const struct bw_reflector_options *opts,
		     const struct bw_reflector_handlers *handlers, struct bw_error *err);
/* Stops (if started), joins and frees. */
void bw_reflector_free(struct bw_reflector *r);

/* Runs until bw_reflector_stop(), then returns 0. Failures (a resource the
 * server does not have yet, an unreachable server) are logged and retried
 * after a backoff. */
int bw_reflector_run(struct bw_reflector *r);
int bw_reflector_start(struct bw_reflector *r, struct bw_error *err);
void bw_reflector_stop(struct bw_reflector *r);
/* Stops it and waits for its thread to end: no handler runs after this
 * returns. Only from the thread that started it; a second call does nothing. */
void bw_reflector_join(struct bw_reflector *r);

/* True once a complete list has been taken in. */
int bw_reflector_has_synced(const struct bw_reflector *r);

/* The last resourceVersion seen, copied into buf ("" before the first list). */
void bw_reflector_last_version(struct bw_reflector *r, char *buf, size_t size);

void bw_reflector_stats(struct bw_reflector *r, struct bw_reflector_stats *out);

#endif
