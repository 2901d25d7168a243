/*
 * A work queue of string keys ("namespace/name") for controllers, modelled on
 * client-go's workqueue (rate-limiting, delaying, deduplicating):
 *
 *   - A key added while it already waits is not added twice.
 *   - A key is never handed to two workers at once: a key added while a
 *     worker processes it waits, and goes back into the queue, once, when
 *     that worker calls bw_workqueue_done().
 *   - bw_workqueue_add_after() delays a key; a key already waiting for a
 *     time keeps the earlier of the two times. A delayed add never cancels
 *     or replaces an immediate one, nor the other way round: a key added now
 *     and after 10 s is processed now and again in 10 s.
 *   - bw_workqueue_add_rate_limited() delays a key by the larger of a
 *     per-key exponential backoff (5 ms, 10 ms, 20 ms, ... up to 1000 s,
 *     reset by bw_workqueue_forget()) and an overall token bucket (10 per
 *     second, burst 100): client-go's DefaultControllerRateLimiter.
 *
 * Either run a pool of worker threads with bw_workqueue_run(), or call
 * bw_workqueue_get() and bw_workqueue_done() from threads of your own:
 *
 *   static int reconcile(const char *key, void *ctx, long *requeue_after_ms);
 *
 *   struct bw_workqueue *q;
 *   if (bw_workqueue_new(&q, NULL, &err) < 0 ||
 *       bw_workqueue_run(q, 4, reconcile, ctx, &err) < 0)
 *           ...
 *   bw_workqueue_add(q, "default/web", NULL);     (from informer callbacks)
 *   ...
 *   bw_workqueue_shutdown(q, BW_WORKQUEUE_DRAIN); (joins the workers)
 *   bw_workqueue_free(q);
 *
 * Ownership: keys are copied; the queue owns its copies, and the caller keeps
 * its own strings. The key that bw_workqueue_get() returns is borrowed from
 * the queue and stays valid until bw_workqueue_done() for that key. A queue
 * keeps one entry per key (one allocation of 72 bytes plus the key, and a
 * pointer in a hash table at most 70% full) while the key waits, is being
 * processed, waits for a delay, or has failures not yet forgotten; so forget
 * keys that succeed, as the pool does.
 *
 * Thread-safety: every function may be called from any thread at any time,
 * except bw_workqueue_free() (no other call may be running or follow) and
 * bw_workqueue_shutdown(), which must not be called from a handler (it joins
 * the worker threads). One mutex guards the queue; handlers run without it.
 */
#ifndef BW_WORKQUEUE_H
#define BW_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct bw_workqueue;

/* The longest key accepted, in bytes (a Kubernetes "namespace/name" is at
 * most 317). Longer keys are refused with BW_ETOOBIG. */
#define BW_WORKQUEUE_KEY_MAX 1024

/* At most this many worker threads per queue. */
#define BW_WORKQUEUE_WORKERS_MAX 1024

/* Settings for bw_workqueue_new(); a zero field takes its default, so
 * `struct bw_workqueue_options o = {0}` (or passing NULL) gives client-go's. */
struct bw_workqueue_options {
	const char *name;    /* for logs and metric labels; copied. Default "queue" */
	long base_delay_ms;  /* per-key backoff, first delay. Default 5 */
	long max_delay_ms;   /* per-key backoff cap. Default 1000000 (1000 s) */
	double rate_per_sec; /* overall token bucket refill rate. Default 10;
				a negative rate turns the overall limit off */
	long burst;	     /* overall token bucket size. Default 100 */
};

/* Creates an empty queue in *out. opts may be NULL. Fails with BW_EINVAL for
 * negative or inconsistent options, BW_ENOMEM when out of resources. */
int bw_workqueue_new(struct bw_workqueue **out, const struct bw_workqueue_options *opts,
		     struct bw_error *err);

/* Shuts the queue down without draining if that was not done (joining the
 * workers), then frees it with every key it holds. NULL is a no-op. No thread
 * may use q during or after this call, not even one blocked in get(). */
void bw_workqueue_free(struct bw_workqueue *q);

/* The queue's name (borrowed, lives as long as q). */
const char *bw_workqueue_name(const struct bw_workqueue *q);

/* Adds key (copied) to be processed as soon as a worker is free. Returns 0,
 * also when the key already waits; BW_EINVAL for a NULL key, BW_ETOOBIG for
 * one longer than BW_WORKQUEUE_KEY_MAX, BW_ESTOPPED once the queue is shutting
 * down (the key is dropped), BW_ENOMEM. */
int bw_workqueue_add(struct bw_workqueue *q, const char *key, struct bw_error *err);

/* Adds key after delay_ms (<= 0: now). If the key already waits for a time,
 * the earlier time wins. Errors as bw_workqueue_add(). */
int bw_workqueue_add_after(struct bw_workqueue *q, const char *key, long delay_ms,
			   struct bw_error *err);

/* Adds key after the rate limiters' delay: the larger of the key's backoff
 * (base * 2^failures, capped) and the overall token bucket's wait. Counts one
 * failure for the key and one retry in the stats. Errors as bw_workqueue_add(). */
int bw_workqueue_add_rate_limited(struct bw_workqueue *q, const char *key, struct bw_error *err);

/* Resets key's failure count, so its next rate-limited add waits the base
 * delay again. Does not remove the key from the queue. Unknown keys: no-op. */
void bw_workqueue_forget(struct bw_workqueue *q, const char *key);

/* How many rate-limited adds key has had since it was last forgotten. */
int bw_workqueue_num_requeues(struct bw_workqueue *q, const char *key);

/* Waits for a key and marks it as being processed; *key is borrowed until
 * bw_workqueue_done(q, *key). Returns 0, or BW_ESTOPPED (and *key = NULL) once
 * the queue is shutting down: at once after bw_workqueue_shutdown(q, 0), after
 * the waiting keys are handed out with BW_WORKQUEUE_DRAIN. */
int bw_workqueue_get(struct bw_workqueue *q, const char **key);

/* As bw_workqueue_get(), but waits at most timeout_ms (0: do not wait;
 * negative: forever) and then returns BW_ETIMEDOUT. */
int bw_workqueue_get_timed(struct bw_workqueue *q, long timeout_ms, const char **key);

/* Ends the processing of key (a key from bw_workqueue_get(), or an equal
 * string). If the key was added again meanwhile, it goes back into the queue.
 * After this call the string bw_workqueue_get() gave is no longer valid.
 * Returns BW_EINVAL when key is not being processed. */
int bw_workqueue_done(struct bw_workqueue *q, const char *key, struct bw_error *err);

/* How many keys wait for a worker right now (not counting delayed keys nor
 * keys added again while being processed). */
size_t bw_workqueue_len(struct bw_workqueue *q);

/* True once bw_workqueue_shutdown() was called. */
int bw_workqueue_shutting_down(struct bw_workqueue *q);

/*
 * What a handler run by the pool returns:
 *   0         success: the key's failures are forgotten. If the handler set
 *             *requeue_after_ms > 0 the key is also added again after that
 *             long (controller-runtime's Result{RequeueAfter}).
 *   < 0       a BW_E* failure: the key is added again rate-limited
 *             (backoff per key, combined with the overall bucket).
 * *requeue_after_ms is 0 when the handler is called. The key is borrowed for
 * the duration of the call. Handlers run in the pool's threads, without the
 * queue's lock held: they may call any bw_workqueue_* function on q except
 * bw_workqueue_shutdown() and bw_workqueue_free().
 */
typedef int (*bw_workqueue_handler)(const char *key, void *ctx, long *requeue_after_ms);

/* Starts n_workers threads (1..BW_WORKQUEUE_WORKERS_MAX) that get a key, call
 * handler(key, ctx, &requeue_after_ms), act on its result and call done, until
 * the queue shuts down. Returns at once. The threads block every signal, so
 * signals go to the application's own threads. One pool per queue: a second
 * call fails with BW_EINVAL; after shutdown, with BW_ESTOPPED. If a thread
 * cannot be started, the ones started are stopped and joined, the error is
 * returned, and the queue stays usable. */
int bw_workqueue_run(struct bw_workqueue *q, int n_workers, bw_workqueue_handler handler, void *ctx,
		     struct bw_error *err);

enum bw_workqueue_shutdown_mode {
	BW_WORKQUEUE_NOW = 0,	/* client-go ShutDown: drop the waiting keys */
	BW_WORKQUEUE_DRAIN = 1, /* ShutDownWithDrain: hand out the waiting keys first */
};

/*
 * Shuts the queue down: adds are refused from now on, delayed keys are
 * dropped, and every get() blocked or to come returns BW_ESTOPPED, at once
 * (BW_WORKQUEUE_NOW: waiting keys are dropped too) or once the keys already
 * waiting have been handed out (BW_WORKQUEUE_DRAIN). Then joins the pool's
 * threads, each finishing the key it works on. With BW_WORKQUEUE_DRAIN it also
 * waits until every key taken with bw_workqueue_get() is done.
 * Calling it again is harmless. BW_WORKQUEUE_NOW after BW_WORKQUEUE_DRAIN (say
 * from another thread after a timeout) turns a drain into a stop: the waiting
 * keys are dropped and the draining call returns once the workers finish
 * their keys; the second call itself returns without joining (the first one
 * does).
 */
void bw_workqueue_shutdown(struct bw_workqueue *q, enum bw_workqueue_shutdown_mode mode);

/* Histogram buckets for the two durations, in seconds: controller-runtime's
 * prometheus.ExponentialBuckets(10e-9, 10, 12), 1e-8 .. 1e3. */
#define BW_WORKQUEUE_BUCKETS 12
extern const double bw_workqueue_bucket_bounds[BW_WORKQUEUE_BUCKETS];

struct bw_workqueue_histogram {
	uint64_t count;	    /* observations (the +Inf bucket) */
	double sum_seconds; /* sum of all observations */
	/* cumulative, as Prometheus exposes them: buckets[i] counts the
	 * observations <= bw_workqueue_bucket_bounds[i] */
	uint64_t buckets[BW_WORKQUEUE_BUCKETS];
};

/* A snapshot of the queue, named after controller-runtime's workqueue_*
 * metrics so they can be exported as they are. */
struct bw_workqueue_stats {
	/* workqueue_depth: keys waiting to be processed, including keys added
	 * again while being processed */
	size_t depth;
	/* workqueue_adds_total: keys that became waiting (a duplicate add is
	 * not counted; a delayed key counts when its delay ends) */
	uint64_t adds_total;
	/* workqueue_retries_total: rate-limited adds */
	uint64_t retries_total;
	/* workqueue_queue_duration_seconds: from add (or end of delay) to get */
	struct bw_workqueue_histogram queue_duration;
	/* workqueue_work_duration_seconds: from get to done */
	struct bw_workqueue_histogram work_duration;
	/* workqueue_unfinished_work_seconds: summed age of the keys in hand */
	double unfinished_work_seconds;
	/* workqueue_longest_running_processor_seconds */
	double longest_running_processor_seconds;
	size_t delayed;	   /* keys waiting for a delay to pass (no metric upstream) */
	size_t processing; /* keys taken and not yet done */
};

/* Fills *stats with a consistent snapshot. */
void bw_workqueue_stats(struct bw_workqueue *q, struct bw_workqueue_stats *stats);

#endif
