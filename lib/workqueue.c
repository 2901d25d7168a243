/*
 * The work queue: see workqueue.h.
 *
 * Each key the queue knows has one entry, struct wq_item, found through an
 * open-addressing hash table (linear probing, backward-shift deletion, so no
 * tombstones). An entry is in at most one of two lists, through the same
 * links: the FIFO of keys waiting for a worker, or the list of keys being
 * processed (in the order they were taken, so the head is the oldest). An
 * entry waiting for a delay is also in a min-heap ordered by ready time.
 *
 *   dirty          the key waits to be processed: it is in the FIFO, or it
 *                  was added again while being processed (client-go's dirty set)
 *   processing     a worker holds the key (client-go's processing set)
 *   heap_index     its place in the heap of delayed keys, or WQ_NONE
 *   failures       rate-limited adds since the last forget
 *
 * An entry is freed as soon as none of these hold. Delayed keys move to the
 * FIFO lazily, whenever someone looks (get, len, stats): a waiting get()
 * sleeps until the earliest ready time, so no timer thread is needed. Moving
 * an entry between the heap, the FIFO and the processing list never
 * allocates, so get() and done() cannot fail for lack of memory.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "log.h"
#include "workqueue.h"
#include "thread.h"

#define WQ_NONE	     SIZE_MAX
#define WQ_TABLE_MIN 16
#define WQ_HEAP_MIN  16
/* Delays are clamped to ~146 years, so now + delay never overflows. */
#define WQ_DELAY_MAX_NS (INT64_MAX / 2)
#define WQ_NS_PER_MS	1000000
#define WQ_FAILURES_MAX 1000000000u

const double bw_workqueue_bucket_bounds[BW_WORKQUEUE_BUCKETS] = {
    1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000,
};

struct wq_item {
	struct wq_item *prev, *next; /* in q->fifo or in q->processing */
	uint64_t hash;
	uint64_t seq;	    /* breaks ties between equal ready times: first in, first out */
	int64_t ready_ns;   /* while in the heap: when the key becomes ready */
	int64_t added_ns;   /* while dirty: when it became dirty */
	int64_t started_ns; /* while processing: when a worker took it */
	size_t heap_index;  /* WQ_NONE when not in the heap */
	unsigned failures;
	unsigned char dirty;
	unsigned char processing;
	char key[];
};

struct wq_list {
	struct wq_item *head, *tail;
	size_t len;
};

struct bw_workqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a key to get, an earlier ready time, or a stop */
	pthread_cond_t idle; /* nothing is being processed any more */
	char *name;

	struct wq_item **slots; /* the hash table; slots_cap is a power of 2 (or 0) */
	size_t slots_cap, count;

	struct wq_list fifo;	   /* dirty and not processing, in add order */
	struct wq_list processing; /* taken by get(), oldest first */

	struct wq_item **heap; /* delayed keys, earliest ready time at 0 */
	size_t heap_len, heap_cap;
	uint64_t next_seq;

	int64_t base_delay_ns, max_delay_ns; /* per-key backoff */
	double rate, burst, tokens;	     /* the overall token bucket; rate <= 0: off */
	int64_t tokens_ns;		     /* when tokens was last brought up to date */

	int shutting_down;
	int drain;

	size_t depth; /* dirty keys */
	uint64_t adds_total, retries_total;
	struct bw_workqueue_histogram queue_duration, work_duration;

	/* the worker pool */
	pthread_t *threads;
	int n_threads;
	int pool_started; /* run() succeeded once: no second pool */
	int pool_stop;	  /* run() failed half-way: its threads must leave */
	bw_workqueue_handler handler;
	void *ctx;
};

/* ---- keys and the hash table ---- */

/* FNV-1a, then murmur3's finaliser so the low bits (the slot) are well mixed. */
static uint64_t wq_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static struct wq_item *table_find(const struct bw_workqueue *q, const char *key, uint64_t hash)
{
	size_t mask, i;
	struct wq_item *it;

	if (!q->slots_cap)
		return NULL;
	mask = q->slots_cap - 1;
	for (i = hash & mask; (it = q->slots[i]) != NULL; i = (i + 1) & mask)
		if (it->hash == hash && strcmp(it->key, key) == 0)
			return it;
	return NULL;
}

static void table_place(struct wq_item **slots, size_t cap, struct wq_item *item)
{
	size_t mask = cap - 1, i;

	for (i = item->hash & mask; slots[i]; i = (i + 1) & mask)
		;
	slots[i] = item;
}

static int table_resize(struct bw_workqueue *q, size_t cap)
{
	struct wq_item **slots;
	size_t i;

	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return BW_ENOMEM;
	for (i = 0; i < q->slots_cap; i++)
		if (q->slots[i])
			table_place(slots, cap, q->slots[i]);
	free(q->slots);
	q->slots = slots;
	q->slots_cap = cap;
	return 0;
}

static int table_insert(struct bw_workqueue *q, struct wq_item *item)
{
	int rc;

	/* at most 70% full */
	if ((q->count + 1) * 10 > q->slots_cap * 7) {
		if (q->slots_cap > SIZE_MAX / 2 / sizeof(*q->slots))
			return BW_ENOMEM;
		rc = table_resize(q, q->slots_cap ? q->slots_cap * 2 : WQ_TABLE_MIN);
		if (rc < 0)
			return rc;
	}
	table_place(q->slots, q->slots_cap, item);
	q->count++;
	return 0;
}

static void table_remove(struct bw_workqueue *q, struct wq_item *item)
{
	size_t mask = q->slots_cap - 1, i, j, home;
	struct wq_item *it;

	for (i = item->hash & mask; q->slots[i] != item; i = (i + 1) & mask)
		;
	/* Shift back the entries after the hole that could not sit where
	 * they would like because the hole was taken. */
	for (j = i;;) {
		j = (j + 1) & mask;
		it = q->slots[j];
		if (!it)
			break;
		home = it->hash & mask;
		/* it stays when its home lies cyclically in (i, j] */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		q->slots[i] = it;
		i = j;
	}
	q->slots[i] = NULL;
	q->count--;
	/* give memory back after a burst; staying large is fine if this fails */
	if (q->slots_cap > WQ_TABLE_MIN && q->count * 8 < q->slots_cap)
		table_resize(q, q->slots_cap / 2);
}

/* ---- the FIFO and processing lists ---- */

static void list_push(struct wq_list *l, struct wq_item *it)
{
	it->next = NULL;
	it->prev = l->tail;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->len++;
}

static void list_remove(struct wq_list *l, struct wq_item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		l->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		l->tail = it->prev;
	it->prev = it->next = NULL;
	l->len--;
}

/* ---- the heap of delayed keys ---- */

static int heap_less(const struct wq_item *a, const struct wq_item *b)
{
	return a->ready_ns < b->ready_ns || (a->ready_ns == b->ready_ns && a->seq < b->seq);
}

static void heap_set(struct bw_workqueue *q, size_t i, struct wq_item *it)
{
	q->heap[i] = it;
	it->heap_index = i;
}

static void heap_up(struct bw_workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!heap_less(it, q->heap[parent]))
			break;
		heap_set(q, i, q->heap[parent]);
		i = parent;
	}
	heap_set(q, i, it);
}

static void heap_down(struct bw_workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];
	size_t child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= q->heap_len)
			break;
		if (child + 1 < q->heap_len && heap_less(q->heap[child + 1], q->heap[child]))
			child++;
		if (!heap_less(q->heap[child], it))
			break;
		heap_set(q, i, q->heap[child]);
		i = child;
	}
	heap_set(q, i, it);
}

static int heap_push(struct bw_workqueue *q, struct wq_item *it)
{
	struct wq_item **heap;
	size_t cap;

	if (q->heap_len == q->heap_cap) {
		if (q->heap_cap > SIZE_MAX / 2 / sizeof(*heap))
			return BW_ENOMEM;
		cap = q->heap_cap ? q->heap_cap * 2 : WQ_HEAP_MIN;
		heap = realloc(q->heap, cap * sizeof(*heap));
		if (!heap)
			return BW_ENOMEM;
		q->heap = heap;
		q->heap_cap = cap;
	}
	it->seq = q->next_seq++;
	heap_set(q, q->heap_len++, it);
	heap_up(q, q->heap_len - 1);
	return 0;
}

static struct wq_item *heap_pop(struct bw_workqueue *q)
{
	struct wq_item *top = q->heap[0], **heap;

	if (--q->heap_len > 0) {
		heap_set(q, 0, q->heap[q->heap_len]);
		heap_down(q, 0);
	}
	top->heap_index = WQ_NONE;
	/* give memory back after a burst; staying large is fine if this fails */
	if (q->heap_cap > 4 * WQ_HEAP_MIN && q->heap_len < q->heap_cap / 4) {
		heap = realloc(q->heap, q->heap_cap / 2 * sizeof(*heap));
		if (heap) {
			q->heap = heap;
			q->heap_cap /= 2;
		}
	}
	return top;
}

/* ---- entries ---- */

static void item_release_if_unused(struct bw_workqueue *q, struct wq_item *it)
{
	if (it->dirty || it->processing || it->heap_index != WQ_NONE || it->failures)
		return;
	table_remove(q, it);
	free(it);
}

static int check_key(struct bw_workqueue *q, const char *key, struct bw_error *err)
{
	if (!key)
		return bw_error_set(err, BW_EINVAL, "queue %s: NULL key", q->name);
	if (strnlen(key, BW_WORKQUEUE_KEY_MAX + 1) > BW_WORKQUEUE_KEY_MAX)
		return bw_error_set(err, BW_ETOOBIG, "queue %s: key longer than %d bytes: %.40s...",
				    q->name, BW_WORKQUEUE_KEY_MAX, key);
	return 0;
}

/* Finds key's entry, creating it if needed. Called with the lock held. */
static int item_get(struct bw_workqueue *q, const char *key, struct wq_item **out,
		    struct bw_error *err)
{
	uint64_t hash = wq_hash(key);
	size_t len = strlen(key);
	struct wq_item *it;
	int rc = 0;

	it = table_find(q, key, hash);
	if (it)
		goto out;
	it = malloc(sizeof(*it) + len + 1);
	if (!it) {
		rc = bw_error_set(err, BW_ENOMEM, "queue %s: out of memory adding a key", q->name);
		goto out;
	}
	memset(it, 0, sizeof(*it));
	memcpy(it->key, key, len + 1);
	it->hash = hash;
	it->heap_index = WQ_NONE;
	rc = table_insert(q, it);
	if (rc < 0) {
		free(it);
		it = NULL;
		bw_error_set(err, rc, "queue %s: out of memory adding a key", q->name);
	}
out:
	*out = it;
	return rc;
}

/* The key becomes waiting (client-go's Add, after the shutdown check). */
static void item_mark_dirty(struct bw_workqueue *q, struct wq_item *it, int64_t now)
{
	if (it->dirty)
		return;
	it->dirty = 1;
	it->added_ns = now;
	q->depth++;
	q->adds_total++;
	if (it->processing)
		return; /* done() puts it in the FIFO */
	list_push(&q->fifo, it);
	pthread_cond_signal(&q->cond);
}

/* Moves the keys whose delay has passed into the FIFO. */
static void promote_ready(struct bw_workqueue *q, int64_t now)
{
	struct wq_item *it;

	while (q->heap_len && q->heap[0]->ready_ns <= now) {
		it = heap_pop(q);
		/* the queue duration counts from the end of the delay */
		item_mark_dirty(q, it, it->ready_ns);
	}
}

/* Makes it ready at now + delay_ns, or earlier if it already waits for an
 * earlier time. Called with the lock held; it is released on failure. */
static int item_schedule(struct bw_workqueue *q, struct wq_item *it, int64_t now, int64_t delay_ns,
			 struct bw_error *err)
{
	int64_t ready;
	int rc;

	if (delay_ns <= 0) {
		item_mark_dirty(q, it, now);
		return 0;
	}
	if (delay_ns > WQ_DELAY_MAX_NS)
		delay_ns = WQ_DELAY_MAX_NS;
	ready = now + delay_ns;
	if (it->heap_index != WQ_NONE) {
		if (ready >= it->ready_ns)
			return 0; /* the earlier time wins */
		it->ready_ns = ready;
		heap_up(q, it->heap_index);
	} else {
		it->ready_ns = ready;
		rc = heap_push(q, it);
		if (rc < 0) {
			item_release_if_unused(q, it);
			return bw_error_set(err, rc, "queue %s: out of memory delaying a key",
					    q->name);
		}
	}
	/* a new earliest time: sleeping getters must shorten their sleep */
	if (it->heap_index == 0)
		pthread_cond_broadcast(&q->cond);
	return 0;
}

/* The per-key backoff: base * 2^failures, capped. */
static int64_t item_backoff_ns(const struct bw_workqueue *q, const struct wq_item *it)
{
	unsigned exp = it->failures;

	if (exp >= 63 || q->base_delay_ns > (INT64_MAX >> exp))
		return q->max_delay_ns;
	if ((q->base_delay_ns << exp) > q->max_delay_ns)
		return q->max_delay_ns;
	return q->base_delay_ns << exp;
}

/* Takes a token from the overall bucket (golang.org/x/time/rate's Reserve:
 * the token is taken even when it has to be waited for) and returns the
 * wait, 0 when a token was there. */
static int64_t bucket_reserve_ns(struct bw_workqueue *q, int64_t now)
{
	double wait_ns;

	if (q->rate <= 0)
		return 0;
	if (now > q->tokens_ns) {
		q->tokens += (double)(now - q->tokens_ns) * 1e-9 * q->rate;
		if (q->tokens > q->burst)
			q->tokens = q->burst;
		q->tokens_ns = now;
	}
	q->tokens -= 1.0;
	if (q->tokens >= 0)
		return 0;
	wait_ns = -q->tokens / q->rate * 1e9;
	return wait_ns >= (double)WQ_DELAY_MAX_NS ? WQ_DELAY_MAX_NS : (int64_t)wait_ns + 1;
}

static void histogram_observe(struct bw_workqueue_histogram *h, int64_t ns)
{
	double s = ns > 0 ? (double)ns * 1e-9 : 0.0;
	int i;

	h->count++;
	h->sum_seconds += s;
	for (i = BW_WORKQUEUE_BUCKETS - 1; i >= 0 && s <= bw_workqueue_bucket_bounds[i]; i--)
		h->buckets[i]++;
}

/* ---- the public functions ---- */

int bw_workqueue_new(struct bw_workqueue **out, const struct bw_workqueue_options *opts,
		     struct bw_error *err)
{
	struct bw_workqueue_options o = {0};
	struct bw_workqueue *q = NULL;
	pthread_condattr_t attr;
	int have_attr = 0, have_lock = 0, have_cond = 0, have_idle = 0, rc = 0, e;

	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.name)
		o.name = "queue";
	if (!o.base_delay_ms)
		o.base_delay_ms = 5;
	if (!o.max_delay_ms)
		o.max_delay_ms = 1000 * 1000;
	if (o.rate_per_sec == 0)
		o.rate_per_sec = 10;
	if (!o.burst)
		o.burst = 100;
	if (o.base_delay_ms < 0 || o.max_delay_ms < o.base_delay_ms ||
	    o.max_delay_ms > WQ_DELAY_MAX_NS / WQ_NS_PER_MS || o.burst < 0 ||
	    o.rate_per_sec != o.rate_per_sec) {
		rc =
		    bw_error_set(err, BW_EINVAL,
				 "queue %s: bad options (delays %ld..%ld ms, rate %g/s, burst %ld)",
				 o.name, o.base_delay_ms, o.max_delay_ms, o.rate_per_sec, o.burst);
		goto out;
	}

	q = calloc(1, sizeof(*q));
	if (!q || !(q->name = strdup(o.name))) {
		rc = bw_error_set(err, BW_ENOMEM, "queue %s: out of memory", o.name);
		goto out;
	}
	q->base_delay_ns = (int64_t)o.base_delay_ms * WQ_NS_PER_MS;
	q->max_delay_ns = (int64_t)o.max_delay_ms * WQ_NS_PER_MS;
	q->rate = o.rate_per_sec;
	q->burst = (double)o.burst;
	q->tokens = q->burst;
	q->tokens_ns = bw_now_ns();

	if ((e = pthread_condattr_init(&attr)) != 0)
		goto pthread_failed;
	have_attr = 1;
	/* timed waits measure on the monotonic clock, like bw_now_ns() */
	if ((e = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0)
		goto pthread_failed;
	if ((e = pthread_mutex_init(&q->lock, NULL)) != 0)
		goto pthread_failed;
	have_lock = 1;
	if ((e = pthread_cond_init(&q->cond, &attr)) != 0)
		goto pthread_failed;
	have_cond = 1;
	if ((e = pthread_cond_init(&q->idle, NULL)) != 0)
		goto pthread_failed;
	have_idle = 1;
	*out = q;
	q = NULL;
	goto out;

pthread_failed:
	rc = bw_error_set(err, BW_ENOMEM, "queue %s: cannot set up its lock (error %d)", o.name, e);
out:
	if (have_attr)
		pthread_condattr_destroy(&attr);
	if (q) {
		if (have_idle)
			pthread_cond_destroy(&q->idle);
		if (have_cond)
			pthread_cond_destroy(&q->cond);
		if (have_lock)
			pthread_mutex_destroy(&q->lock);
		free(q->name);
		free(q);
	}
	return rc;
}

void bw_workqueue_free(struct bw_workqueue *q)
{
	size_t i;

	if (!q)
		return;
	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW);
	for (i = 0; i < q->slots_cap; i++)
		free(q->slots[i]);
	free(q->slots);
	free(q->heap);
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->name);
	free(q);
}

const char *bw_workqueue_name(const struct bw_workqueue *q)
{
	return q->name;
}

/* add, add_after and add_rate_limited: find the entry, then schedule it. */
static int wq_add(struct bw_workqueue *q, const char *key, long delay_ms, int rate_limited,
		  struct bw_error *err)
{
	struct wq_item *it;
	int64_t now, delay_ns, bucket_ns;
	int rc;

	rc = check_key(q, key, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&q->lock);
	if (q->shutting_down) {
		rc = bw_error_set(err, BW_ESTOPPED, "queue %s: shutting down, %s dropped", q->name,
				  key);
		goto out;
	}
	rc = item_get(q, key, &it, err);
	if (rc < 0)
		goto out;
	now = bw_now_ns();
	if (rate_limited) {
		/* client-go's MaxOfRateLimiter: both limiters count every add */
		delay_ns = item_backoff_ns(q, it);
		bucket_ns = bucket_reserve_ns(q, now);
		if (bucket_ns > delay_ns)
			delay_ns = bucket_ns;
	} else {
		delay_ns = delay_ms <= 0 ? 0
			   : delay_ms > WQ_DELAY_MAX_NS / WQ_NS_PER_MS
			       ? WQ_DELAY_MAX_NS
			       : (int64_t)delay_ms * WQ_NS_PER_MS;
	}
	rc = item_schedule(q, it, now, delay_ns, err);
	if (rc < 0 || !rate_limited)
		goto out;
	if (it->failures < WQ_FAILURES_MAX)
		it->failures++;
	q->retries_total++;
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int bw_workqueue_add(struct bw_workqueue *q, const char *key, struct bw_error *err)
{
	return wq_add(q, key, 0, 0, err);
}

int bw_workqueue_add_after(struct bw_workqueue *q, const char *key, long delay_ms,
			   struct bw_error *err)
{
	return wq_add(q, key, delay_ms, 0, err);
}

int bw_workqueue_add_rate_limited(struct bw_workqueue *q, const char *key, struct bw_error *err)
{
	return wq_add(q, key, 0, 1, err);
}

void bw_workqueue_forget(struct bw_workqueue *q, const char *key)
{
	struct wq_item *it;

	if (!key)
		return;
	pthread_mutex_lock(&q->lock);
	it = table_find(q, key, wq_hash(key));
	if (it) {
		it->failures = 0;
		item_release_if_unused(q, it);
	}
	pthread_mutex_unlock(&q->lock);
}

int bw_workqueue_num_requeues(struct bw_workqueue *q, const char *key)
{
	struct wq_item *it;
	int n = 0;

	if (!key)
		return 0;
	pthread_mutex_lock(&q->lock);
	it = table_find(q, key, wq_hash(key));
	if (it)
		n = (int)it->failures;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* get() for callers (pool = 0) and for the pool's threads (pool = 1), which
 * also leave when a failed run() tells them to. */
static int wq_get(struct bw_workqueue *q, long timeout_ms, int pool, const char **key)
{
	struct wq_item *it;
	struct timespec ts;
	int64_t now, deadline = -1, wake;
	int rc = 0;

	*key = NULL;
	pthread_mutex_lock(&q->lock);
	now = bw_now_ns();
	if (timeout_ms >= 0)
		deadline = now + (timeout_ms > WQ_DELAY_MAX_NS / WQ_NS_PER_MS
				      ? WQ_DELAY_MAX_NS
				      : (int64_t)timeout_ms * WQ_NS_PER_MS);
	for (;;) {
		if (pool && q->pool_stop) {
			rc = BW_ESTOPPED;
			goto out;
		}
		promote_ready(q, now);
		if (q->fifo.head)
			break;
		if (q->shutting_down) {
			rc = BW_ESTOPPED;
			goto out;
		}
		if (deadline >= 0 && now >= deadline) {
			rc = BW_ETIMEDOUT;
			goto out;
		}
		/* sleep until woken, or until the next delayed key is ready */
		wake = deadline;
		if (q->heap_len && (wake < 0 || q->heap[0]->ready_ns < wake))
			wake = q->heap[0]->ready_ns;
		if (wake < 0) {
			pthread_cond_wait(&q->cond, &q->lock);
		} else {
			ts.tv_sec = (time_t)(wake / 1000000000);
			ts.tv_nsec = (long)(wake % 1000000000);
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
		}
		now = bw_now_ns();
	}
	it = q->fifo.head;
	list_remove(&q->fifo, it);
	it->dirty = 0;
	q->depth--;
	histogram_observe(&q->queue_duration, now - it->added_ns);
	it->processing = 1;
	it->started_ns = now;
	list_push(&q->processing, it);
	*key = it->key;
	/* more keys wait: pass the wake-up on to another getter */
	if (q->fifo.head)
		pthread_cond_signal(&q->cond);
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int bw_workqueue_get(struct bw_workqueue *q, const char **key)
{
	return key ? wq_get(q, -1, 0, key) : BW_EINVAL;
}

int bw_workqueue_get_timed(struct bw_workqueue *q, long timeout_ms, const char **key)
{
	return key ? wq_get(q, timeout_ms, 0, key) : BW_EINVAL;
}

int bw_workqueue_done(struct bw_workqueue *q, const char *key, struct bw_error *err)
{
	struct wq_item *it;
	int64_t now;
	int rc = 0;

	if (!key)
		return bw_error_set(err, BW_EINVAL, "queue %s: done() with a NULL key", q->name);
	pthread_mutex_lock(&q->lock);
	it = table_find(q, key, wq_hash(key));
	if (!it || !it->processing) {
		rc =
		    bw_error_set(err, BW_EINVAL,
				 "queue %s: done(%s), but it is not being processed", q->name, key);
		goto out;
	}
	now = bw_now_ns();
	list_remove(&q->processing, it);
	it->processing = 0;
	histogram_observe(&q->work_duration, now - it->started_ns);
	if (it->dirty) {
		/* added again while it was processed: its turn now */
		list_push(&q->fifo, it);
		pthread_cond_signal(&q->cond);
	}
	if (!q->processing.len)
		pthread_cond_broadcast(&q->idle);
	item_release_if_unused(q, it); /* key may point into it: not used after this */
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

size_t bw_workqueue_len(struct bw_workqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	promote_ready(q, bw_now_ns());
	n = q->fifo.len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

int bw_workqueue_shutting_down(struct bw_workqueue *q)
{
	int stopping;

	pthread_mutex_lock(&q->lock);
	stopping = q->shutting_down;
	pthread_mutex_unlock(&q->lock);
	return stopping;
}

static void *wq_worker(void *arg)
{
	struct bw_workqueue *q = arg;
	struct bw_error err;
	const char *key;
	long after;
	int rc;

	bw_thread_name("wq", q->name);
	while (wq_get(q, -1, 1, &key) == 0) {
		after = 0;
		rc = q->handler(key, q->ctx, &after);
		if (rc < 0) {
			bw_log_debug("queue", "%s: %s: %s, retrying", q->name, key,
				     bw_code_name(rc));
			rc = bw_workqueue_add_rate_limited(q, key, &err);
		} else {
			bw_workqueue_forget(q, key);
			rc = after > 0 ? bw_workqueue_add_after(q, key, after, &err) : 0;
		}
		/* a key lost for lack of memory is worth a line; one dropped by
		 * a shutdown is not */
		if (rc < 0 && rc != BW_ESTOPPED)
			bw_log_error("queue", "%s", err.message);
		bw_workqueue_done(q, key, NULL);
	}
	return NULL;
}

int bw_workqueue_run(struct bw_workqueue *q, int n_workers, bw_workqueue_handler handler, void *ctx,
		     struct bw_error *err)
{
	pthread_t *threads = NULL;
	sigset_t blocked, old;
	int i, started = 0, e = 0, rc = 0;

	if (n_workers < 1 || n_workers > BW_WORKQUEUE_WORKERS_MAX || !handler)
		return bw_error_set(err, BW_EINVAL, "queue %s: %d workers (1..%d)%s", q->name,
				    n_workers, BW_WORKQUEUE_WORKERS_MAX,
				    handler ? "" : " and no handler");
	threads = calloc((size_t)n_workers, sizeof(*threads));
	if (!threads)
		return bw_error_set(err, BW_ENOMEM, "queue %s: out of memory", q->name);

	pthread_mutex_lock(&q->lock);
	if (q->shutting_down) {
		rc = bw_error_set(err, BW_ESTOPPED, "queue %s: shutting down", q->name);
		goto out;
	}
	if (q->pool_started) {
		rc = bw_error_set(err, BW_EINVAL, "queue %s: already has workers", q->name);
		goto out;
	}
	q->pool_started = 1;
	q->handler = handler;
	q->ctx = ctx;

	/* the workers inherit a mask blocking every asynchronous signal */
	sigfillset(&blocked);
	sigdelset(&blocked, SIGSEGV);
	sigdelset(&blocked, SIGBUS);
	sigdelset(&blocked, SIGFPE);
	sigdelset(&blocked, SIGILL);
	pthread_sigmask(SIG_SETMASK, &blocked, &old);
	for (i = 0; i < n_workers; i++) {
		e = pthread_create(&threads[i], NULL, wq_worker, q);
		if (e)
			break;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e) {
		q->threads = threads;
		q->n_threads = n_workers;
		threads = NULL;
		goto out;
	}

	/* stop the workers already started; they hold the lock to leave */
	q->pool_stop = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&q->lock);
	q->pool_stop = 0;
	q->pool_started = 0;
	rc = bw_error_set(err, BW_ENOMEM, "queue %s: cannot start worker %d of %d (error %d)",
			  q->name, started + 1, n_workers, e);
out:
	pthread_mutex_unlock(&q->lock);
	free(threads);
	return rc;
}

/* Drops the keys waiting in the FIFO, and the second turn of keys added
 * again while being processed. Called with the lock held. */
static void drop_waiting(struct bw_workqueue *q)
{
	struct wq_item *it;

	while ((it = q->fifo.head) != NULL) {
		list_remove(&q->fifo, it);
		it->dirty = 0;
		q->depth--;
		item_release_if_unused(q, it);
	}
	for (it = q->processing.head; it; it = it->next) {
		if (it->dirty) {
			it->dirty = 0;
			q->depth--;
		}
	}
}

void bw_workqueue_shutdown(struct bw_workqueue *q, enum bw_workqueue_shutdown_mode mode)
{
	pthread_t *threads;
	size_t k, n_delayed;
	int i, n;

	pthread_mutex_lock(&q->lock);
	if (!q->shutting_down) {
		q->shutting_down = 1;
		q->drain = mode == BW_WORKQUEUE_DRAIN;
		/* delayed keys are dropped, as client-go's delaying queue does */
		n_delayed = q->heap_len;
		q->heap_len = 0;
		for (k = 0; k < n_delayed; k++)
			q->heap[k]->heap_index = WQ_NONE;
		for (k = 0; k < n_delayed; k++)
			item_release_if_unused(q, q->heap[k]);
		free(q->heap);
		q->heap = NULL;
		q->heap_cap = 0;
	}
	if (mode == BW_WORKQUEUE_NOW) {
		drop_waiting(q);
		q->drain = 0;
		pthread_cond_broadcast(&q->idle); /* a draining shutdown waits no more */
	}
	pthread_cond_broadcast(&q->cond);
	/* the first caller to come here joins the workers */
	threads = q->threads;
	n = q->n_threads;
	q->threads = NULL;
	q->n_threads = 0;
	pthread_mutex_unlock(&q->lock);

	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);

	if (mode == BW_WORKQUEUE_DRAIN) {
		pthread_mutex_lock(&q->lock);
		while (q->drain && q->processing.len)
			pthread_cond_wait(&q->idle, &q->lock);
		pthread_mutex_unlock(&q->lock);
	}
}

void bw_workqueue_stats(struct bw_workqueue *q, struct bw_workqueue_stats *stats)
{
	struct wq_item *it;
	double unfinished = 0;
	int64_t now;

	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&q->lock);
	now = bw_now_ns();
	promote_ready(q, now);
	stats->depth = q->depth;
	stats->adds_total = q->adds_total;
	stats->retries_total = q->retries_total;
	stats->queue_duration = q->queue_duration;
	stats->work_duration = q->work_duration;
	for (it = q->processing.head; it; it = it->next)
		unfinished += (double)(now - it->started_ns) * 1e-9;
	stats->unfinished_work_seconds = unfinished;
	if (q->processing.head)
		stats->longest_running_processor_seconds =
		    (double)(now - q->processing.head->started_ns) * 1e-9;
	stats->delayed = q->heap_len;
	stats->processing = q->processing.len;
	pthread_mutex_unlock(&q->lock);
}
