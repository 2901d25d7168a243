/* The reflector: list, then watch, resume, relist. See reflector.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "log.h"
#include "reflector.h"
#include "thread.h"

#define RV_MAX 128

struct bw_reflector {
	struct bw_client *client;
	const struct bw_resource *res;
	char *ns, *label_selector, *field_selector;
	int metadata_only, drop_managed_fields;
	long page_size, stall_timeout_ms, watch_timeout_s;
	long backoff_initial_ms, backoff_max_ms;
	size_t max_event_bytes;
	struct bw_reflector_handlers handlers;
	struct bw_backoff backoff;

	atomic_int stopping;
	atomic_int synced;
	int started; /* the thread runs until joined; both only from the owner's thread */
	pthread_t thread;

	/* guards last_rv and stats; wake interrupts backoff sleeps on stop */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char last_rv[RV_MAX];
	struct bw_reflector_stats stats;

	/* the current watch, touched by the reflector's thread only */
	int streamed;	  /* lists come as a watch's initial events (KEP-3157) */
	int initial;	  /* this watch is streaming them: the list is not whole yet */
	size_t initial_n; /* how many it has streamed */
	struct bw_line_reader lines;
	int64_t last_activity_ms;
	int stalled;
	int delivered;
	int refused; /* event() could not take an event in: relist */
	struct bw_error watch_err;
};

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int bw_reflector_new(struct bw_reflector **out, struct bw_client *client,
		     const struct bw_reflector_options *opts,
		     const struct bw_reflector_handlers *handlers, struct bw_error *err)
{
	struct bw_reflector *r;
	pthread_condattr_t attr;

	*out = NULL;
	if (!opts || !opts->resource || !handlers || !handlers->list_begin ||
	    !handlers->list_item || !handlers->list_end || !handlers->event)
		return bw_error_set(err, BW_EINVAL, "a reflector needs a resource and handlers");
	r = calloc(1, sizeof(*r));
	if (!r)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	r->client = client;
	r->res = opts->resource;
	r->ns = dup_or_null(opts->namespace);
	r->label_selector = dup_or_null(opts->label_selector);
	r->field_selector = dup_or_null(opts->field_selector);
	r->metadata_only = opts->metadata_only;
	r->drop_managed_fields = opts->drop_managed_fields;
	r->page_size = opts->page_size > 0 ? opts->page_size : 500;
	r->stall_timeout_ms = opts->stall_timeout_ms > 0 ? opts->stall_timeout_ms : 90000;
	r->watch_timeout_s = opts->watch_timeout_s;
	r->backoff_initial_ms = opts->backoff_initial_ms > 0 ? opts->backoff_initial_ms : 800;
	r->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 30000;
	r->max_event_bytes =
	    opts->max_event_bytes > 0 ? opts->max_event_bytes : BW_WATCH_MAX_EVENT_BYTES;
	r->handlers = *handlers;
	r->streamed = !opts->paged_lists;
	bw_backoff_init(&r->backoff, r->backoff_initial_ms, r->backoff_max_ms, 2.0, 1.0);
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	if ((opts->namespace && *opts->namespace && !r->ns) ||
	    (opts->label_selector && *opts->label_selector && !r->label_selector) ||
	    (opts->field_selector && *opts->field_selector && !r->field_selector)) {
		bw_reflector_free(r);
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

void bw_reflector_free(struct bw_reflector *r)
{
	if (!r)
		return;
	bw_reflector_join(r);
	bw_line_reader_release(&r->lines);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r->ns);
	free(r->label_selector);
	free(r->field_selector);
	free(r);
}

void bw_reflector_join(struct bw_reflector *r)
{
	bw_reflector_stop(r);
	if (r->started)
		pthread_join(r->thread, NULL);
	r->started = 0;
}

void bw_reflector_stop(struct bw_reflector *r)
{
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->stopping, 1);
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

int bw_reflector_has_synced(const struct bw_reflector *r)
{
	return atomic_load(&r->synced);
}

void bw_reflector_last_version(struct bw_reflector *r, char *buf, size_t size)
{
	pthread_mutex_lock(&r->lock);
	snprintf(buf, size, "%s", r->last_rv);
	pthread_mutex_unlock(&r->lock);
}

void bw_reflector_stats(struct bw_reflector *r, struct bw_reflector_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

static void set_last_version(struct bw_reflector *r, const char *rv)
{
	if (!rv || !*rv)
		return;
	pthread_mutex_lock(&r->lock);
	snprintf(r->last_rv, sizeof(r->last_rv), "%s", rv);
	pthread_mutex_unlock(&r->lock);
}

#define COUNT(r, field)                           \
	do {                                      \
		pthread_mutex_lock(&(r)->lock);   \
		(r)->stats.field++;               \
		pthread_mutex_unlock(&(r)->lock); \
	} while (0)

/* Sleeps up to ms, returning early on stop. */
static void pause_ms(struct bw_reflector *r, long ms)
{
	struct timespec until;

	bw_deadline_after_ms(&until, ms);
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping) &&
	       pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&r->lock);
}

static const char *where(const struct bw_reflector *r)
{
	return r->res->resource;
}

static int list_item(json_t *item, void *ctx, struct bw_error *err)
{
	struct bw_reflector *r = ctx;
	int ret = r->handlers.list_item(item, r->handlers.ctx);

	return ret ? bw_error_set(err, ret, "the list handler refused an object") : 0;
}

/* An expired continue token: the list starts again, and so does the store's replace. */
static int list_restart(void *ctx, struct bw_error *err)
{
	struct bw_reflector *r = ctx;
	int ret;

	r->handlers.list_end(0, NULL, r->handlers.ctx);
	ret = r->handlers.list_begin(r->handlers.ctx);
	return ret ? bw_error_set(err, ret, "the list handler could not start again") : 0;
}

/* Lists every page (bw_client_list_pages), handing each object over. */
static int list_pages(struct bw_reflector *r, char **rv, struct bw_error *err)
{
	struct bw_list_options opts = {
	    .label_selector = r->label_selector,
	    .field_selector = r->field_selector,
	    .limit = r->page_size,
	    .metadata_only = r->metadata_only,
	};
	struct bw_list_pager pager = {list_item, list_restart, r};
	size_t count = 0;
	int ret;

	ret = bw_client_list_pages(r->client, r->res, r->ns, &opts, &pager, rv, &count, err);
	if (ret == 0)
		bw_log_debug("reflector", "listed %zu %s at resourceVersion %s", count, where(r),
			     *rv ? *rv : "?");
	return ret;
}

static int list_and_replace(struct bw_reflector *r)
{
	struct bw_error err;
	char *rv = NULL;
	int ret;

	if ((ret = r->handlers.list_begin(r->handlers.ctx)) != 0)
		return ret;
	ret = list_pages(r, &rv, &err);
	if (ret != 0) {
		bw_log_warn("reflector", "list %s: %s%s", where(r), err.message,
			    ret == BW_ENOTFOUND ? " (the server does not serve this resource: is "
						  "its CustomResourceDefinition installed?)"
						: "");
		r->handlers.list_end(0, NULL, r->handlers.ctx);
		goto out;
	}
	/* Counted before the hand-over: whoever sees the store replaced sees
	 * the list counted. */
	COUNT(r, lists);
	if ((ret = r->handlers.list_end(1, rv ? rv : "", r->handlers.ctx)) != 0)
		goto out;
	set_last_version(r, rv);
	atomic_store(&r->synced, 1);
out:
	free(rv);
	return ret;
}

/* An event of a streamed list: an object of the list. */
static int initial_event(struct bw_reflector *r, enum bw_watch_type type, json_t *obj)
{
	int ret;

	if (type != BW_WATCH_ADDED)
		return bw_error_set(&r->watch_err, BW_EPARSE,
				    "a %s event before the list's end: listing again",
				    bw_watch_type_name(type));
	if ((ret = r->handlers.list_item(obj, r->handlers.ctx)) != 0) {
		r->refused = 1;
		return bw_error_set(&r->watch_err, ret < 0 ? ret : BW_EIO,
				    "the list handler refused an object");
	}
	r->initial_n++;
	return 0;
}

/* A bookmark of a streamed list: the one annotated
 * k8s.io/initial-events-end ends the list, at its resourceVersion. */
static int initial_bookmark(struct bw_reflector *r, const json_t *obj, const char *rv)
{
	const char *end = json_string_value(
	    json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"),
			    "k8s.io/initial-events-end"));
	int ret;

	if (!end || strcmp(end, "true") != 0)
		return 0; /* progress: the list is not whole yet */
	r->initial = 0;
	COUNT(r, lists); /* before the hand-over, as list_and_replace() */
	if ((ret = r->handlers.list_end(1, rv ? rv : "", r->handlers.ctx)) != 0) {
		r->refused = 1;
		return bw_error_set(&r->watch_err, ret < 0 ? ret : BW_EIO,
				    "the list could not be taken in");
	}
	bw_log_debug("reflector", "streamed %zu %s at resourceVersion %s", r->initial_n, where(r),
		     rv ? rv : "?");
	set_last_version(r, rv);
	atomic_store(&r->synced, 1);
	r->delivered = 1;
	return 0;
}

static int on_line(const char *line, size_t len, void *ctx)
{
	struct bw_reflector *r = ctx;
	enum bw_watch_type type;
	json_t *obj = NULL;
	const char *rv;
	int ret;

	ret = r->drop_managed_fields
		  ? bw_watch_event_parse_lean(line, len, &type, &obj, &r->watch_err)
		  : bw_watch_event_parse(line, len, &type, &obj, &r->watch_err);
	if (ret != 0)
		return ret;
	r->last_activity_ms = bw_now_ms();
	rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	switch (type) {
	case BW_WATCH_ERROR: {
		long code = (long)json_integer_value(json_object_get(obj, "code"));
		char *text = json_dumps(obj, JSON_COMPACT);

		ret = bw_client_status_error(code ? code : 500, text, text ? strlen(text) : 0,
					     &r->watch_err);
		free(text);
		break;
	}
	case BW_WATCH_BOOKMARK:
		if (r->initial) {
			ret = initial_bookmark(r, obj, rv);
			break;
		}
		set_last_version(r, rv);
		COUNT(r, bookmarks);
		r->delivered = 1;
		break;
	default:
		if (r->initial) {
			ret = initial_event(r, type, obj);
			break;
		}
		COUNT(r, events); /* before the hand-over, as lists */
		ret = r->handlers.event(type, obj, r->handlers.ctx);
		if (ret != 0) {
			/* its resourceVersion is not recorded: the relist brings it */
			r->refused = 1;
			ret = bw_error_set(&r->watch_err, ret < 0 ? ret : BW_EIO,
					   "an event (%s) could not be taken in",
					   bw_watch_type_name(type));
			break;
		}
		set_last_version(r, rv);
		r->delivered = 1;
		break;
	}
	json_decref(obj);
	return ret;
}

static int on_data(const char *data, size_t len, void *ctx)
{
	struct bw_reflector *r = ctx;

	r->last_activity_ms = bw_now_ms();
	return bw_line_reader_feed(&r->lines, data, len, on_line, r, &r->watch_err);
}

static int on_tick(void *ctx)
{
	struct bw_reflector *r = ctx;

	if (atomic_load(&r->stopping))
		return 1;
	if (bw_now_ms() - r->last_activity_ms > r->stall_timeout_ms) {
		r->stalled = 1;
		return 1;
	}
	return 0;
}

/* One watch request, until the server ends it or something goes wrong. */
static int watch_once(struct bw_reflector *r)
{
	char path[1024], query[4096], rv[RV_MAX], selector[2048];
	struct bw_error err;
	long timeout_s = r->watch_timeout_s;
	int n, ret;

	if ((ret = bw_client_path(path, sizeof(path), r->res, r->ns, NULL, NULL, &err)) != 0)
		return ret;
	if (timeout_s <= 0) /* like client-go: 5-10 min, so watches do not all end together */
		timeout_s = 300 + (long)(bw_backoff_rand(&r->backoff) * 300);
	bw_reflector_last_version(r, rv, sizeof(rv));
	n = snprintf(query, sizeof(query), "watch=1&allowWatchBookmarks=true&timeoutSeconds=%ld",
		     timeout_s);
	/* a streamed list: the state as of now (no resourceVersion: a
	 * consistent read), as ADDED events, then the bookmark that ends it */
	if (r->initial)
		n += snprintf(query + n, sizeof(query) - (size_t)n,
			      "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
	else if (*rv && (size_t)n < sizeof(query) &&
		 bw_query_escape(selector, sizeof(selector), rv) == 0)
		n +=
		    snprintf(query + n, sizeof(query) - (size_t)n, "&resourceVersion=%s", selector);
	if (r->label_selector && (size_t)n < sizeof(query) &&
	    bw_query_escape(selector, sizeof(selector), r->label_selector) == 0)
		n += snprintf(query + n, sizeof(query) - (size_t)n, "&labelSelector=%s", selector);
	if (r->field_selector && (size_t)n < sizeof(query) &&
	    bw_query_escape(selector, sizeof(selector), r->field_selector) == 0)
		n += snprintf(query + n, sizeof(query) - (size_t)n, "&fieldSelector=%s", selector);
	if ((size_t)n >= sizeof(query))
		return bw_error_set(&r->watch_err, BW_ETOOBIG, "watch query too long");

	bw_line_reader_release(&r->lines);
	bw_line_reader_init(&r->lines, r->max_event_bytes);
	bw_error_clear(&r->watch_err);
	r->stalled = 0;
	r->delivered = 0;
	r->refused = 0;
	r->last_activity_ms = bw_now_ms();
	COUNT(r, watches);
	ret = bw_client_stream(r->client, path, query, r->metadata_only ? BW_ACCEPT_METADATA : NULL,
			       on_data, on_tick, r, &err);
	if (ret == BW_ESTOPPED && r->stalled)
		return bw_error_set(&r->watch_err, BW_ETIMEDOUT, "no event or bookmark for %ld ms",
				    r->stall_timeout_ms);
	if (ret != 0 && r->watch_err.code == 0)
		r->watch_err = err;
	return ret;
}

int bw_reflector_run(struct bw_reflector *r)
{
	int need_list = 1, ret;

	while (!atomic_load(&r->stopping)) {
		if (need_list && r->streamed) {
			if (r->handlers.list_begin(r->handlers.ctx) != 0) {
				pause_ms(r, bw_backoff_next_ms(&r->backoff));
				continue;
			}
			r->initial = 1;
			r->initial_n = 0;
			ret = watch_once(r); /* lists, then watches on */
			if (r->initial) {    /* it ended before the list was whole */
				r->initial = 0;
				r->handlers.list_end(0, NULL, r->handlers.ctx);
				if (atomic_load(&r->stopping))
					break;
				if (ret == BW_EHTTP && (r->watch_err.http_status == 400 ||
							r->watch_err.http_status == 422)) {
					/* WatchList is off (it was in v1.33): pages */
					bw_log_info("reflector",
						    "list %s: the API server does not stream lists "
						    "(%s); listing in pages",
						    where(r), r->watch_err.message);
					r->streamed = 0;
					continue;
				}
				bw_log_warn("reflector", "list %s: %s; listing again%s", where(r),
					    r->watch_err.code ? r->watch_err.message
							      : "the stream ended early",
					    ret == BW_ENOTFOUND
						? " (the server does not serve this resource: is "
						  "its CustomResourceDefinition installed?)"
						: "");
				pause_ms(r, bw_backoff_next_ms(&r->backoff));
				continue;
			}
			need_list = 0;
		} else {
			if (need_list) {
				if (list_and_replace(r) != 0) {
					pause_ms(r, bw_backoff_next_ms(&r->backoff));
					continue;
				}
				need_list = 0;
			}
			ret = watch_once(r);
		}
		if (atomic_load(&r->stopping))
			break;
		if (r->delivered)
			bw_backoff_reset(&r->backoff);
		if (r->refused) {
			/* the view lacks a change: only a relist makes it whole */
			bw_log_warn("reflector", "watch %s: %s; relisting", where(r),
				    r->watch_err.message);
			COUNT(r, relists_failed);
			need_list = 1;
			pause_ms(r, bw_backoff_next_ms(&r->backoff));
			continue;
		}
		switch (ret) {
		case 0:
			/* the server ended the watch (timeoutSeconds): resume at once,
			 * unless it ends watches at once, which would be a hot loop */
			if (!r->delivered)
				pause_ms(r, bw_backoff_next_ms(&r->backoff));
			break;
		case BW_EGONE:
			bw_log_info("reflector", "watch %s: %s; relisting", where(r),
				    r->watch_err.message);
			COUNT(r, relists_gone);
			need_list = 1;
			break;
		case BW_ETIMEDOUT:
			bw_log_warn("reflector", "watch %s stalled: %s; restarting it", where(r),
				    r->watch_err.message);
			COUNT(r, stalls);
			COUNT(r, watch_restarts);
			break;
		case BW_ETOOBIG:
		case BW_EPARSE:
			/* an event was lost: only a relist can make the view whole */
			bw_log_error("reflector", "watch %s: %s; relisting", where(r),
				     r->watch_err.message);
			COUNT(r, watch_restarts);
			need_list = 1;
			pause_ms(r, bw_backoff_next_ms(&r->backoff));
			break;
		default:
			bw_log_warn("reflector", "watch %s: %s; retrying", where(r),
				    r->watch_err.message);
			COUNT(r, watch_restarts);
			pause_ms(r, bw_backoff_next_ms(&r->backoff));
			break;
		}
	}
	return 0;
}

static void *run_thread(void *arg)
{
	const struct bw_reflector *r = arg;

	bw_thread_name("rf", r->res->resource);
	bw_reflector_run(arg);
	return NULL;
}

int bw_reflector_start(struct bw_reflector *r, struct bw_error *err)
{
	int rc = pthread_create(&r->thread, NULL, run_thread, r);

	if (rc != 0)
		return bw_error_set(err, BW_ENOMEM, "cannot start the reflector thread: %s",
				    strerror(rc));
	r->started = 1;
	return 0;
}
