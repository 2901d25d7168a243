/*
 * Unit tests for lib/workqueue.c. Timing checks assert lower bounds (a key
 * can never come out before its time) and only very generous upper bounds,
 * so a loaded machine makes them slower, never wrong.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "check.h"
#include "workqueue.h"

#define MS 1000000LL /* nanoseconds */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t ns_since(int64_t t0)
{
	return bw_now_ns() - t0;
}

static struct bw_workqueue *new_queue(double rate, long burst, long base_ms, long max_ms)
{
	struct bw_workqueue_options o = {0};
	struct bw_workqueue *q = NULL;
	struct bw_error err;

	o.name = "test";
	o.rate_per_sec = rate;
	o.burst = burst;
	o.base_delay_ms = base_ms;
	o.max_delay_ms = max_ms;
	if (bw_workqueue_new(&q, &o, &err) < 0) {
		printf("bw_workqueue_new: %s\n", err.message);
		exit(1);
	}
	return q;
}

/* Waits until nothing waits, is delayed or is processed; 0 when it got there. */
static int wait_idle(struct bw_workqueue *q, long timeout_ms)
{
	struct bw_workqueue_stats st;
	int64_t t0 = bw_now_ns();

	for (;;) {
		bw_workqueue_stats(q, &st);
		if (!st.depth && !st.delayed && !st.processing)
			return 0;
		if (ns_since(t0) > timeout_ms * MS)
			return -1;
		sleep_ms(1);
	}
}

/* Gets a key, copies it and marks it done; "" on timeout. */
static const char *get_done(struct bw_workqueue *q, long timeout_ms, char *buf, size_t size)
{
	const char *key;

	buf[0] = '\0';
	if (bw_workqueue_get_timed(q, timeout_ms, &key) == 0) {
		snprintf(buf, size, "%s", key);
		bw_workqueue_done(q, key, NULL);
	}
	return buf;
}

static void test_dedup_and_fifo(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct bw_workqueue_stats st;
	const char *key;
	char buf[64], name[32];
	int i, in_order = 1;

	CHECK_STR("test", bw_workqueue_name(q), "the queue keeps its name");
	CHECK_INT(0, bw_workqueue_add(q, "default/a", NULL), "add a");
	CHECK_INT(0, bw_workqueue_add(q, "default/b", NULL), "add b");
	CHECK_INT(0, bw_workqueue_add(q, "default/a", NULL), "add a again: accepted");
	CHECK_INT(2, bw_workqueue_len(q), "dedup: a waits once");
	bw_workqueue_stats(q, &st);
	CHECK_INT(2, st.depth, "dedup: depth 2");
	CHECK_INT(2, st.adds_total, "dedup: the second add of a is not counted");
	CHECK_STR("default/a", get_done(q, 0, buf, sizeof(buf)), "FIFO: a first");
	CHECK_STR("default/b", get_done(q, 0, buf, sizeof(buf)), "FIFO: then b");
	CHECK_INT(BW_ETIMEDOUT, bw_workqueue_get_timed(q, 0, &key),
		  "empty: get_timed(0) times out");
	CHECK(key == NULL, "empty: no key given");

	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "ns/k%d", i);
		bw_workqueue_add(q, name, NULL);
		bw_workqueue_add(q, name, NULL);
	}
	CHECK_INT(1000, bw_workqueue_len(q), "1000 keys added twice wait once each");
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "ns/k%d", i);
		if (strcmp(name, get_done(q, 0, buf, sizeof(buf))) != 0)
			in_order = 0;
	}
	CHECK(in_order, "1000 keys come out in the order they went in");
	CHECK_INT(0, bw_workqueue_len(q), "all handed out");
	bw_workqueue_free(q);
}

static void test_readd_while_processing(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct bw_workqueue_stats st;
	struct bw_error err;
	const char *key, *other;
	char buf[64];

	bw_workqueue_add(q, "ns/x", NULL);
	CHECK_INT(0, bw_workqueue_get(q, &key), "get x");
	CHECK_STR("ns/x", key, "got x");
	bw_workqueue_add(q, "ns/x", NULL);
	bw_workqueue_add(q, "ns/x", NULL);
	CHECK_INT(0, bw_workqueue_len(q), "x added while processed: not handed out");
	bw_workqueue_stats(q, &st);
	CHECK_INT(1, st.depth, "x added while processed: depth 1");
	CHECK_INT(1, st.processing, "x is being processed");
	CHECK_INT(BW_ETIMEDOUT, bw_workqueue_get_timed(q, 20, &other),
		  "a second worker does not get x while it is processed");
	CHECK_INT(0, bw_workqueue_done(q, key, NULL), "done x");
	CHECK_INT(1, bw_workqueue_len(q), "x is back in the queue after done");
	CHECK_STR("ns/x", get_done(q, 0, buf, sizeof(buf)), "x processed again");
	CHECK_STR("", get_done(q, 0, buf, sizeof(buf)), "x processed exactly once more");

	CHECK_INT(BW_EINVAL, bw_workqueue_done(q, "ns/x", &err), "done for an idle key fails");
	CHECK(strstr(err.message, "ns/x") != NULL, "the error names the key: %s", err.message);
	CHECK_INT(BW_EINVAL, bw_workqueue_done(q, "ns/never", NULL), "done for an unknown key");
	bw_workqueue_free(q);
}

static void test_errors(void)
{
	struct bw_workqueue_options o = {0};
	struct bw_workqueue *q;
	struct bw_error err;
	char *long_key;

	o.base_delay_ms = 100;
	o.max_delay_ms = 10;
	CHECK_INT(BW_EINVAL, bw_workqueue_new(&q, &o, &err), "max delay below base is refused");
	CHECK(q == NULL, "no queue on failure");
	o.max_delay_ms = 0;
	o.burst = -1;
	CHECK_INT(BW_EINVAL, bw_workqueue_new(&q, &o, &err), "negative burst is refused");

	q = new_queue(0, 0, 0, 0);
	CHECK_INT(BW_EINVAL, bw_workqueue_add(q, NULL, &err), "NULL key is refused");
	long_key = malloc(BW_WORKQUEUE_KEY_MAX + 2);
	memset(long_key, 'k', BW_WORKQUEUE_KEY_MAX + 1);
	long_key[BW_WORKQUEUE_KEY_MAX + 1] = '\0';
	CHECK_INT(BW_ETOOBIG, bw_workqueue_add(q, long_key, &err), "an overlong key is refused");
	long_key[BW_WORKQUEUE_KEY_MAX] = '\0';
	CHECK_INT(0, bw_workqueue_add(q, long_key, &err), "a key of the maximum size is taken");
	free(long_key);
	CHECK_INT(BW_EINVAL, bw_workqueue_get(q, NULL), "get without a place for the key");
	CHECK_INT(BW_EINVAL, bw_workqueue_run(q, 0, NULL, NULL, &err), "run with 0 workers");
	bw_workqueue_free(q);
	bw_workqueue_free(NULL);
}

static void test_backoff_per_key(void)
{
	/* overall bucket off, so only the per-key backoff counts */
	struct bw_workqueue *q = new_queue(-1, 0, 5, 1000 * 1000);
	struct bw_workqueue_stats st;
	const char *key;
	int64_t t0, took;
	char buf[64];
	long want;
	int i, ok_low = 1, ok_high = 1;

	for (i = 0; i < 6; i++) {
		want = 5L << i; /* 5, 10, 20, 40, 80, 160 ms */
		t0 = bw_now_ns();
		bw_workqueue_add_rate_limited(q, "ns/fail", NULL);
		get_done(q, 5000, buf, sizeof(buf));
		took = ns_since(t0);
		if (took < want * MS)
			ok_low = 0;
		if (took > (want + 1500) * MS)
			ok_high = 0;
		printf("# failure %d: wanted %ld ms, took %.1f ms\n", i + 1, want,
		       (double)took / MS);
	}
	CHECK(ok_low, "per-key backoff: 5, 10, 20, 40, 80, 160 ms, never sooner");
	CHECK(ok_high, "per-key backoff: never hugely later");
	CHECK_INT(6, bw_workqueue_num_requeues(q, "ns/fail"), "6 requeues counted");
	bw_workqueue_stats(q, &st);
	CHECK_INT(6, st.retries_total, "retries_total 6");

	/* drive the failure count to 12 without waiting: the earliest time wins,
	 * so the key still comes after the first delay */
	for (i = 0; i < 6; i++)
		bw_workqueue_add_rate_limited(q, "ns/fail", NULL);
	CHECK_INT(12, bw_workqueue_num_requeues(q, "ns/fail"), "12 requeues counted");
	CHECK_STR("ns/fail", get_done(q, 5000, buf, sizeof(buf)), "the earliest of them came");
	/* 5 ms * 2^12 = 20 s: not within 100 ms */
	bw_workqueue_add_rate_limited(q, "ns/fail", NULL);
	CHECK_INT(BW_ETIMEDOUT, bw_workqueue_get_timed(q, 100, &key),
		  "after 12 failures the key waits 20 s");
	bw_workqueue_forget(q, "ns/fail");
	CHECK_INT(0, bw_workqueue_num_requeues(q, "ns/fail"), "forget resets the count");
	t0 = bw_now_ns();
	bw_workqueue_add_rate_limited(q, "ns/fail", NULL);
	CHECK_STR("ns/fail", get_done(q, 3000, buf, sizeof(buf)),
		  "after forget the key comes back after the base delay");
	took = ns_since(t0);
	CHECK(took >= 5 * MS && took < 3000 * MS, "after forget: %.1f ms, not 20 s",
	      (double)took / MS);
	CHECK_INT(1, bw_workqueue_num_requeues(q, "ns/fail"), "counting starts again");
	bw_workqueue_forget(q, "ns/fail");
	bw_workqueue_forget(q, "ns/unknown");
	CHECK_INT(0, bw_workqueue_num_requeues(q, "ns/unknown"), "unknown key: 0 requeues");
	bw_workqueue_free(q);
}

static void test_token_bucket(void)
{
	/* 20 per second, burst 10; per-key delay 1 ms so the bucket decides */
	struct bw_workqueue *q = new_queue(20, 10, 1, 1);
	int64_t t0, at[20];
	char name[32], buf[64];
	int i, in_order = 1, spaced = 1;

	t0 = bw_now_ns();
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "ns/b%02d", i);
		bw_workqueue_add_rate_limited(q, name, NULL);
	}
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "ns/b%02d", i);
		if (strcmp(name, get_done(q, 5000, buf, sizeof(buf))) != 0)
			in_order = 0;
		at[i] = ns_since(t0);
		/* key i >= 10 waits for token i - 9 at 20 per second */
		if (i >= 10 && at[i] < (i - 9) * 50 * MS)
			spaced = 0;
	}
	printf("# burst of 10 done after %.1f ms, all 20 after %.1f ms\n", (double)at[9] / MS,
	       (double)at[19] / MS);
	CHECK(in_order, "bucket: keys come out in the order of their tokens");
	/* without the burst the 10th key would need 500 ms */
	CHECK(at[9] < 400 * MS, "bucket: the burst of 10 goes through at once");
	CHECK(spaced, "bucket: the next 10 are spaced 50 ms apart, never sooner");
	CHECK(at[19] >= 500 * MS && at[19] < 4000 * MS, "bucket: the last key after 500 ms");
	bw_workqueue_free(q);
}

static void test_add_after(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct bw_workqueue_stats st;
	int64_t t0, took;
	char buf[64];

	/* long delays: what waits is counted, nothing can be got */
	bw_workqueue_add_after(q, "ns/d1", 10000, NULL);
	bw_workqueue_add_after(q, "ns/d2", 10000, NULL);
	bw_workqueue_add_after(q, "ns/d1", 20000, NULL);
	bw_workqueue_stats(q, &st);
	CHECK_INT(2, st.delayed, "two keys delayed, each once");
	CHECK_INT(0, st.depth, "none waiting yet");
	CHECK_INT(0, bw_workqueue_len(q), "nothing to get yet");
	bw_workqueue_add_after(q, "ns/d1", 10, NULL);
	CHECK_STR("ns/d1", get_done(q, 3000, buf, sizeof(buf)), "an earlier time replaces 10 s");

	t0 = bw_now_ns();
	bw_workqueue_add_after(q, "ns/c", 60, NULL);
	bw_workqueue_add_after(q, "ns/a", 20, NULL);
	bw_workqueue_add_after(q, "ns/b", 40, NULL);
	bw_workqueue_add_after(q, "ns/a", 5000, NULL); /* later: a keeps 20 ms */
	bw_workqueue_add_after(q, "ns/b", 10, NULL);   /* earlier: b moves to 10 ms */
	CHECK_STR("ns/b", get_done(q, 3000, buf, sizeof(buf)), "b first (moved to 10 ms)");
	took = ns_since(t0);
	CHECK(took >= 10 * MS, "b not before 10 ms (%.1f)", (double)took / MS);
	CHECK_STR("ns/a", get_done(q, 3000, buf, sizeof(buf)), "a second (kept 20 ms)");
	took = ns_since(t0);
	CHECK(took >= 20 * MS && took < 3000 * MS, "a at 20 ms, not 5 s (%.1f)", (double)took / MS);
	CHECK_STR("ns/c", get_done(q, 3000, buf, sizeof(buf)), "c last");
	CHECK(ns_since(t0) >= 60 * MS, "c not before 60 ms");

	/* a delayed add and an immediate one are independent, as in client-go */
	t0 = bw_now_ns();
	bw_workqueue_add_after(q, "ns/x", 30, NULL);
	bw_workqueue_add(q, "ns/x", NULL);
	CHECK_STR("ns/x", get_done(q, 0, buf, sizeof(buf)), "x at once");
	CHECK_STR("ns/x", get_done(q, 3000, buf, sizeof(buf)), "x again after its delay");
	CHECK(ns_since(t0) >= 30 * MS, "the delayed x not before 30 ms");
	CHECK_INT(0, bw_workqueue_add_after(q, "ns/now", 0, NULL), "add_after 0");
	CHECK_INT(1, bw_workqueue_len(q), "add_after 0 adds at once");
	CHECK_STR("ns/now", get_done(q, 0, buf, sizeof(buf)), "got it");

	/* a getter asleep with nothing to wait for learns of a new delayed key */
	t0 = bw_now_ns();
	bw_workqueue_add_after(q, "ns/late", 15, NULL);
	CHECK_STR("ns/late", get_done(q, 3000, buf, sizeof(buf)), "delayed key reaches a getter");
	CHECK(ns_since(t0) >= 15 * MS, "not before 15 ms");
	bw_workqueue_stats(q, &st);
	CHECK_INT(8, st.adds_total, "adds_total counts keys that became waiting");
	bw_workqueue_free(q); /* ns/d2 is still delayed: freed here */
}

/* A getter thread that blocks in get() and reports what it got. */
struct getter {
	struct bw_workqueue *q;
	pthread_t thread;
	atomic_int rc;
	atomic_int returned;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	const char *key;

	atomic_store(&g->rc, bw_workqueue_get(g->q, &key));
	atomic_store(&g->returned, 1);
	return NULL;
}

static void test_shutdown_now(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct bw_workqueue_stats st;
	struct getter g[2];
	const char *key, *key2;
	int i, blocked = 1;

	/* getters blocked on an empty queue are released */
	for (i = 0; i < 2; i++) {
		g[i].q = q;
		atomic_init(&g[i].rc, 1);
		atomic_init(&g[i].returned, 0);
		pthread_create(&g[i].thread, NULL, getter_main, &g[i]);
	}
	sleep_ms(20);
	for (i = 0; i < 2; i++)
		if (atomic_load(&g[i].returned))
			blocked = 0;
	CHECK(blocked, "two getters block on an empty queue");

	bw_workqueue_add(q, "ns/a", NULL);
	bw_workqueue_add(q, "ns/b", NULL);
	bw_workqueue_add(q, "ns/c", NULL);
	bw_workqueue_add(q, "ns/d", NULL);
	bw_workqueue_add_after(q, "ns/delayed", 10000, NULL);
	bw_workqueue_add_rate_limited(q, "ns/failing", NULL);
	for (i = 0; i < 2; i++)
		pthread_join(g[i].thread, NULL);
	CHECK(atomic_load(&g[0].rc) == 0 && atomic_load(&g[1].rc) == 0,
	      "the blocked getters took a and b");
	/* they did not call done: a and b are still being processed */
	CHECK_INT(0, bw_workqueue_get(q, &key), "main takes c");
	bw_workqueue_add(q, "ns/c", NULL); /* again while processed */
	CHECK(!bw_workqueue_shutting_down(q), "not shutting down yet");

	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW);
	CHECK(bw_workqueue_shutting_down(q), "shutting down");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_get(q, &key2), "get stops at once, d is dropped");
	bw_workqueue_stats(q, &st);
	CHECK_INT(0, st.depth, "shutdown drops the waiting keys");
	CHECK_INT(0, st.delayed, "shutdown drops the delayed keys");
	CHECK_INT(3, st.processing, "keys being processed stay until done");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_add(q, "ns/e", NULL), "add after shutdown");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_add_after(q, "ns/e", 5, NULL), "add_after too");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_add_rate_limited(q, "ns/e", NULL), "rate-limited too");
	CHECK_INT(0, bw_workqueue_done(q, key, NULL), "done after shutdown");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_get_timed(q, 0, &key2), "c is not handed out again");
	CHECK_INT(0, bw_workqueue_done(q, "ns/a", NULL), "done a");
	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW); /* a second time is harmless */
	/* b is never done: free takes it with it */
	bw_workqueue_free(q);
}

/* A pool handler that counts, and sleeps a little to hold its key. */
struct counting {
	atomic_int calls;
	atomic_int inflight;
	atomic_int max_inflight;
	long work_ms;
};

static int counting_handler(const char *key, void *ctx, long *requeue_after_ms)
{
	struct counting *c = ctx;
	int now = atomic_fetch_add(&c->inflight, 1) + 1, max;

	(void)key;
	(void)requeue_after_ms;
	max = atomic_load(&c->max_inflight);
	while (now > max && !atomic_compare_exchange_weak(&c->max_inflight, &max, now))
		;
	if (c->work_ms)
		sleep_ms(c->work_ms);
	atomic_fetch_sub(&c->inflight, 1);
	atomic_fetch_add(&c->calls, 1);
	return 0;
}

static void test_pool_shutdown(void)
{
	struct bw_workqueue *q;
	struct bw_workqueue_stats st;
	struct counting c;
	struct bw_error err;
	char name[32];
	int64_t t0;
	int i;

	/* workers blocked in get on an empty queue: a stop joins them */
	q = new_queue(0, 0, 0, 0);
	atomic_init(&c.calls, 0);
	atomic_init(&c.inflight, 0);
	atomic_init(&c.max_inflight, 0);
	c.work_ms = 0;
	CHECK_INT(0, bw_workqueue_run(q, 3, counting_handler, &c, &err), "3 workers start");
	CHECK_INT(BW_EINVAL, bw_workqueue_run(q, 3, counting_handler, &c, &err),
		  "a second pool is refused");
	sleep_ms(20);
	t0 = bw_now_ns();
	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW);
	CHECK(ns_since(t0) < 2000 * MS, "shutdown joins idle workers promptly");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_run(q, 1, counting_handler, &c, &err),
		  "no pool after shutdown");
	bw_workqueue_free(q);

	/* drain: every key already waiting is processed, delayed ones dropped */
	q = new_queue(0, 0, 0, 0);
	atomic_store(&c.calls, 0);
	atomic_store(&c.max_inflight, 0);
	c.work_ms = 2;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "ns/d%d", i);
		bw_workqueue_add(q, name, NULL);
	}
	bw_workqueue_add_after(q, "ns/delayed", 10000, NULL);
	CHECK_INT(0, bw_workqueue_run(q, 4, counting_handler, &c, &err), "4 workers start");
	bw_workqueue_shutdown(q, BW_WORKQUEUE_DRAIN);
	CHECK_INT(40, atomic_load(&c.calls), "drain: all 40 waiting keys were processed");
	CHECK(atomic_load(&c.max_inflight) <= 4, "never more than 4 at once");
	bw_workqueue_stats(q, &st);
	CHECK(st.depth == 0 && st.delayed == 0 && st.processing == 0,
	      "drain: nothing left (depth %zu, delayed %zu, processing %zu)", st.depth, st.delayed,
	      st.processing);
	CHECK_INT(40, st.work_duration.count, "drain: 40 work durations observed");
	bw_workqueue_free(q);

	/* stop: keys still waiting are dropped, the ones in hand finish */
	q = new_queue(0, 0, 0, 0);
	atomic_store(&c.calls, 0);
	c.work_ms = 50;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "ns/s%d", i);
		bw_workqueue_add(q, name, NULL);
	}
	CHECK_INT(0, bw_workqueue_run(q, 2, counting_handler, &c, &err), "2 slow workers start");
	sleep_ms(5);
	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW);
	CHECK(atomic_load(&c.calls) < 40, "stop: waiting keys were dropped (%d processed)",
	      atomic_load(&c.calls));
	CHECK_INT(0, atomic_load(&c.inflight), "stop: the workers finished their keys");
	bw_workqueue_free(q);
}

/* A thread that holds a key for a while, then calls done. */
struct holder {
	struct bw_workqueue *q;
	const char *key;
	atomic_int done;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	sleep_ms(50);
	atomic_store(&h->done, 1);
	bw_workqueue_done(h->q, h->key, NULL);
	return NULL;
}

static void test_drain_waits_for_done(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct holder h;
	pthread_t t;
	const char *key;

	h.q = q;
	atomic_init(&h.done, 0);
	bw_workqueue_add(q, "ns/held", NULL);
	bw_workqueue_get(q, &h.key);
	pthread_create(&t, NULL, holder_main, &h);
	bw_workqueue_shutdown(q, BW_WORKQUEUE_DRAIN);
	CHECK(atomic_load(&h.done), "drain waits until keys taken with get are done");
	CHECK_INT(BW_ESTOPPED, bw_workqueue_get(q, &key), "then get stops");
	pthread_join(t, NULL);
	bw_workqueue_free(q);
}

struct drainer {
	struct bw_workqueue *q;
	atomic_int returned;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;

	bw_workqueue_shutdown(d->q, BW_WORKQUEUE_DRAIN);
	atomic_store(&d->returned, 1);
	return NULL;
}

static void test_drain_then_stop(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct drainer d;
	pthread_t t;
	const char *key;

	d.q = q;
	atomic_init(&d.returned, 0);
	bw_workqueue_add(q, "ns/stuck", NULL);
	bw_workqueue_get(q, &key);
	pthread_create(&t, NULL, drainer_main, &d);
	sleep_ms(30);
	CHECK(!atomic_load(&d.returned), "a drain waits for a key that is never done");
	bw_workqueue_shutdown(q, BW_WORKQUEUE_NOW);
	pthread_join(t, NULL);
	CHECK(atomic_load(&d.returned), "a stop from another thread ends the drain");
	CHECK_INT(0, bw_workqueue_done(q, key, NULL), "the stuck key can still be done");
	bw_workqueue_free(q);
}

/* Handler results: failure retries, success forgets, requeue-after. */
struct results {
	atomic_int fail_calls;
	atomic_int again_calls;
	atomic_int readd_calls;
	atomic_llong again_first_ns;
	atomic_llong again_second_ns;
	struct bw_workqueue *q;
};

static int results_handler(const char *key, void *ctx, long *requeue_after_ms)
{
	struct results *r = ctx;
	int n;

	if (strcmp(key, "ns/fail") == 0) {
		n = atomic_fetch_add(&r->fail_calls, 1) + 1;
		return n <= 3 ? BW_ERETRY : 0;
	}
	if (strcmp(key, "ns/again") == 0) {
		n = atomic_fetch_add(&r->again_calls, 1) + 1;
		if (n == 1) {
			atomic_store(&r->again_first_ns, bw_now_ns());
			*requeue_after_ms = 30;
		} else {
			atomic_store(&r->again_second_ns, bw_now_ns());
		}
		return 0;
	}
	if (strcmp(key, "ns/readd") == 0) {
		n = atomic_fetch_add(&r->readd_calls, 1) + 1;
		if (n == 1) { /* added again while processed: one more turn */
			bw_workqueue_add(r->q, "ns/readd", NULL);
			bw_workqueue_add(r->q, "ns/readd", NULL);
			bw_workqueue_add(r->q, "ns/readd", NULL);
		}
		return 0;
	}
	return 0;
}

static void test_handler_results(void)
{
	struct bw_workqueue *q = new_queue(0, 0, 0, 0);
	struct bw_workqueue_stats st;
	struct results r;
	struct bw_error err;

	memset(&r, 0, sizeof(r));
	r.q = q;
	bw_workqueue_add(q, "ns/fail", NULL);
	bw_workqueue_add(q, "ns/again", NULL);
	bw_workqueue_add(q, "ns/readd", NULL);
	CHECK_INT(0, bw_workqueue_run(q, 2, results_handler, &r, &err), "pool starts");
	CHECK_INT(0, wait_idle(q, 5000), "the queue settles");
	CHECK_INT(4, atomic_load(&r.fail_calls), "a failing key is retried until it succeeds");
	CHECK_INT(0, bw_workqueue_num_requeues(q, "ns/fail"), "success forgets its failures");
	CHECK_INT(2, atomic_load(&r.again_calls), "requeue-after: processed twice");
	CHECK(atomic_load(&r.again_second_ns) - atomic_load(&r.again_first_ns) >= 30 * MS,
	      "requeue-after: the second turn not before 30 ms");
	CHECK_INT(2, atomic_load(&r.readd_calls),
		  "a key added 3 times while processed runs exactly once more");
	bw_workqueue_stats(q, &st);
	CHECK_INT(3, st.retries_total, "3 retries counted");
	bw_workqueue_shutdown(q, BW_WORKQUEUE_DRAIN);
	bw_workqueue_free(q);
}

/* Stress: 4 workers, many adds from main and from the handlers. Each key has
 * an in-flight counter (overlap = two workers on one key) and a generation:
 * the last successful run of a key must have started after its last add. */
#define STRESS_KEYS 64
#define STRESS_ADDS 20000

struct stress {
	struct bw_workqueue *q;
	atomic_int inflight[STRESS_KEYS];
	atomic_long gen[STRESS_KEYS];
	atomic_long seen[STRESS_KEYS];
	atomic_int overlap;
	atomic_int runs;
	atomic_int failures;
};

static void stress_add(struct stress *s, int i)
{
	char name[32];

	snprintf(name, sizeof(name), "ns/s%d", i);
	atomic_fetch_add(&s->gen[i], 1);
	bw_workqueue_add(s->q, name, NULL);
}

static int stress_handler(const char *key, void *ctx, long *requeue_after_ms)
{
	struct stress *s = ctx;
	int i = atoi(key + 4), n;
	long gen;

	(void)requeue_after_ms;
	if (atomic_fetch_add(&s->inflight[i], 1) != 0)
		atomic_fetch_add(&s->overlap, 1);
	gen = atomic_load(&s->gen[i]);
	n = atomic_fetch_add(&s->runs, 1);
	if (n % 3 == 0)
		sched_yield();
	if (n % 7 == 0)
		stress_add(s, (i * 31 + n) % STRESS_KEYS); /* adds from a worker */
	atomic_fetch_sub(&s->inflight[i], 1);
	if (n % 11 == 0) {
		atomic_fetch_add(&s->failures, 1);
		return BW_ERETRY; /* retried after 1..2 ms */
	}
	atomic_store(&s->seen[i], gen);
	return 0;
}

static void test_stress(void)
{
	struct bw_workqueue *q = new_queue(-1, 0, 1, 2);
	struct bw_workqueue_stats st;
	struct stress *s = calloc(1, sizeof(*s));
	struct bw_error err;
	struct bw_backoff rnd;
	int i, lost = 0, settled;
	int64_t t0 = bw_now_ns();

	s->q = q;
	bw_backoff_init(&rnd, 0, 0, 1, 0);
	bw_backoff_seed(&rnd, 1);
	CHECK_INT(0, bw_workqueue_run(q, 4, stress_handler, s, &err), "stress: 4 workers start");
	for (i = 0; i < STRESS_ADDS; i++) {
		stress_add(s, (int)(bw_backoff_rand(&rnd) * STRESS_KEYS));
		if (i % 100 == 0)
			sleep_ms(1);
	}
	settled = wait_idle(q, 10000) == 0;
	CHECK(settled, "stress: the queue settles");
	for (i = 0; i < STRESS_KEYS; i++)
		if (atomic_load(&s->seen[i]) != atomic_load(&s->gen[i]))
			lost++;
	bw_workqueue_stats(q, &st);
	printf("# stress: %d runs, %d failures, %llu adds, %.0f ms\n", atomic_load(&s->runs),
	       atomic_load(&s->failures), (unsigned long long)st.adds_total,
	       (double)ns_since(t0) / MS);
	CHECK_INT(0, atomic_load(&s->overlap), "stress: never two workers on one key");
	CHECK_INT(0, lost, "stress: every key's last add was processed");
	CHECK(atomic_load(&s->runs) >= STRESS_KEYS, "stress: keys were processed");
	CHECK(st.adds_total <= (uint64_t)STRESS_ADDS + (uint64_t)atomic_load(&s->runs),
	      "stress: dedup kept adds_total at most the adds made");
	CHECK_INT(atomic_load(&s->failures), st.retries_total, "stress: every failure retried");
	bw_workqueue_shutdown(q, BW_WORKQUEUE_DRAIN);
	bw_workqueue_free(q);
	free(s);
}

static void test_stats(void)
{
	/* per-key backoff from 10 s, so a rate-limited key stays delayed */
	struct bw_workqueue *q = new_queue(0, 0, 10000, 0);
	struct bw_workqueue_stats st;
	const char *key;
	int i, monotone = 1;

	bw_workqueue_add(q, "ns/a", NULL);
	bw_workqueue_add(q, "ns/b", NULL);
	bw_workqueue_add(q, "ns/a", NULL);
	sleep_ms(5);
	bw_workqueue_get(q, &key);
	sleep_ms(10);
	bw_workqueue_stats(q, &st);
	CHECK_INT(1, st.depth, "stats: depth 1 after one get");
	CHECK_INT(2, st.adds_total, "stats: adds_total 2");
	CHECK_INT(1, st.processing, "stats: 1 processing");
	CHECK_INT(1, st.queue_duration.count, "stats: one queue duration");
	CHECK(st.queue_duration.sum_seconds >= 0.005, "stats: a waited >= 5 ms (%.4f s)",
	      st.queue_duration.sum_seconds);
	CHECK(st.longest_running_processor_seconds >= 0.010,
	      "stats: longest running >= 10 ms (%.4f s)", st.longest_running_processor_seconds);
	CHECK(st.unfinished_work_seconds >= st.longest_running_processor_seconds,
	      "stats: unfinished work covers the longest");
	bw_workqueue_done(q, key, NULL);
	bw_workqueue_add_rate_limited(q, "ns/c", NULL);
	bw_workqueue_stats(q, &st);
	CHECK_INT(1, st.work_duration.count, "stats: one work duration");
	CHECK(st.work_duration.sum_seconds >= 0.010, "stats: work took >= 10 ms");
	CHECK_INT(1, st.retries_total, "stats: retries_total 1");
	CHECK_INT(1, st.delayed, "stats: 1 delayed");
	CHECK_INT(0, st.processing, "stats: none processing");
	CHECK(st.longest_running_processor_seconds == 0, "stats: longest running 0 when idle");
	for (i = 1; i < BW_WORKQUEUE_BUCKETS; i++)
		if (st.work_duration.buckets[i] < st.work_duration.buckets[i - 1])
			monotone = 0;
	CHECK(monotone, "stats: buckets are cumulative");
	CHECK_INT(1, st.work_duration.buckets[BW_WORKQUEUE_BUCKETS - 1],
		  "stats: a 10 ms observation is in the 1000 s bucket");
	CHECK_INT(0, st.work_duration.buckets[5], "stats: but not in the 1 ms bucket");
	CHECK(bw_workqueue_bucket_bounds[0] == 1e-8 &&
		  bw_workqueue_bucket_bounds[BW_WORKQUEUE_BUCKETS - 1] == 1000,
	      "stats: buckets 1e-8 .. 1e3 like controller-runtime");
	bw_workqueue_free(q);
}

/* Many keys through the hash table, with deletes interleaved (backward-shift
 * deletion and shrinking), checked against what must be there. */
static void test_many_keys(void)
{
	struct bw_workqueue *q = new_queue(-1, 0, 0, 0);
	char name[32], buf[64];
	int i, round, ok = 1;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < 5000; i++) {
			snprintf(name, sizeof(name), "ns-%d/obj-%d", i % 17, i);
			bw_workqueue_add(q, name, NULL);
			if (i % 3 == 0)
				bw_workqueue_add_rate_limited(q, name, NULL); /* keeps an entry */
		}
		if (bw_workqueue_len(q) != 5000)
			ok = 0;
		for (i = 0; i < 5000; i++) {
			snprintf(name, sizeof(name), "ns-%d/obj-%d", i % 17, i);
			if (strcmp(name, get_done(q, 0, buf, sizeof(buf))) != 0)
				ok = 0;
			if (i % 3 == 0 && bw_workqueue_num_requeues(q, name) != 1)
				ok = 0;
			bw_workqueue_forget(q, name);
		}
		/* the delayed copies (5 ms) come back unless their key still
		 * waited when they were due; take whatever comes */
		while (get_done(q, 100, buf, sizeof(buf))[0])
			;
		if (wait_idle(q, 3000) != 0)
			ok = 0;
	}
	CHECK(ok, "5000 keys, 3 rounds: all found, in order, with their failure counts");
	CHECK_INT(0, bw_workqueue_len(q), "all gone");
	bw_workqueue_free(q);
}

int main(void)
{
	test_dedup_and_fifo();
	test_readd_while_processing();
	test_errors();
	test_backoff_per_key();
	test_token_bucket();
	test_add_after();
	test_shutdown_now();
	test_pool_shutdown();
	test_drain_waits_for_done();
	test_drain_then_stop();
	test_handler_results();
	test_stress();
	test_stats();
	test_many_keys();
	return check_exit();
}
