/*
 * An event recorder: core/v1 Events about objects, as `kubectl describe`
 * shows them, with client-go's deduplication: the same event about the same
 * object again (same type, reason and message) bumps the count and
 * lastTimestamp of the existing Event instead of creating another.
 *
 * Recording never waits on the network: events go into a bounded queue that
 * a thread of the recorder's own sends; when the queue is full, new events
 * are dropped and counted (a controller must never stall on its events).
 *
 * Ownership: the client is borrowed and must outlive the recorder; all
 * strings passed in are copied.
 * Thread-safety: bw_recorder_event(), _flush() and _stats() may be called
 * from any thread; free must not race with them.
 */
#ifndef BW_EVENTS_H
#define BW_EVENTS_H

#include <stdint.h>

#include "client.h"

/* The object an event is about. */
struct bw_event_ref {
	const char *api_version; /* "breakwater.io/v1alpha1" */
	const char *kind;	 /* "Service" */
	const char *namespace;
	const char *name;
	const char *uid;	      /* may be NULL */
	const char *resource_version; /* may be NULL */
};

struct bw_recorder_options {
	const char *component; /* source.component / reportingComponent, e.g. "breakwater" */
	const char *instance;  /* reportingInstance and source.host; default: the host name */
	size_t queue_max;      /* events waiting to be sent; default 1000 */
	size_t cache_max;      /* events remembered for deduplication; default 1024 */
};

struct bw_recorder_stats {
	uint64_t recorded; /* accepted into the queue */
	uint64_t created;  /* new Event objects */
	uint64_t counted;  /* existing Events whose count was bumped */
	uint64_t dropped;  /* refused because the queue was full */
	uint64_t failed;   /* the API server refused them */
};

struct bw_recorder;

int bw_recorder_new(struct bw_recorder **out, struct bw_client *client,
		    const struct bw_recorder_options *opts, struct bw_error *err);
/* Sends what is queued (waiting up to 5 s), stops the thread and frees. */
void bw_recorder_free(struct bw_recorder *rec);

/* Queues an event. type is "Normal" or "Warning"; reason is CamelCase
 * ("RolloutStarted"); the message is cut at 1024 bytes. */
void bw_recorder_event(struct bw_recorder *rec, const struct bw_event_ref *obj, const char *type,
		       const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Waits up to timeout_ms until the queue is empty and sent; 0 or BW_ETIMEDOUT. */
int bw_recorder_flush(struct bw_recorder *rec, long timeout_ms);

void bw_recorder_stats(struct bw_recorder *rec, struct bw_recorder_stats *out);

#endif
