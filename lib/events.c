/* The event recorder: see events.h. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "events.h"
#include "log.h"
#include "rfc3339.h"
#include "thread.h"

#define MESSAGE_MAX 1024

/* One queued event; its strings live in the same allocation. */
struct pending {
	struct pending *next;
	char *api_version, *kind, *namespace, *name, *uid, *resource_version;
	char *type, *reason, *message;
	char data[];
};

/* One event already sent, for deduplication. */
struct sent {
	char *key;  /* namespace, kind, name, uid, type, reason, message */
	char *name; /* the Event object's name */
	char *namespace;
	long count;
	int64_t used_ms;
};

struct bw_recorder {
	struct bw_client *client;
	char component[128], instance[128];
	size_t queue_max, cache_max;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* work arrived, or stopping */
	pthread_cond_t idle; /* the queue emptied */
	struct pending *head, *tail;
	size_t queued;
	int busy, stopping;
	pthread_t thread;
	struct bw_recorder_stats stats;

	struct sent *cache; /* touched by the sending thread only */
	size_t cached;
};

static char *pack(char **cursor, const char *s)
{
	char *start = *cursor;
	size_t n = strlen(s) + 1;

	memcpy(start, s, n);
	*cursor += n;
	return start;
}

void bw_recorder_event(struct bw_recorder *rec, const struct bw_event_ref *obj, const char *type,
		       const char *reason, const char *fmt, ...)
{
	const char *parts[8];
	char message[MESSAGE_MAX + 1];
	struct pending *p;
	size_t size = sizeof(*p);
	char *cursor;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	parts[0] = obj->api_version ? obj->api_version : "v1";
	parts[1] = obj->kind ? obj->kind : "";
	parts[2] = obj->namespace ? obj->namespace : "default";
	parts[3] = obj->name ? obj->name : "";
	parts[4] = obj->uid ? obj->uid : "";
	parts[5] = obj->resource_version ? obj->resource_version : "";
	parts[6] = type ? type : "Normal";
	parts[7] = reason ? reason : "";
	for (int i = 0; i < 8; i++)
		size += strlen(parts[i]) + 1;
	size += strlen(message) + 1;

	pthread_mutex_lock(&rec->lock);
	if (rec->queued >= rec->queue_max || rec->stopping) {
		rec->stats.dropped++;
		pthread_mutex_unlock(&rec->lock);
		bw_log_warn("events", "dropped event %s %s/%s: %s (the queue is full)", parts[7],
			    parts[2], parts[3], message);
		return;
	}
	pthread_mutex_unlock(&rec->lock);

	p = malloc(size);
	if (!p)
		return;
	cursor = p->data;
	p->next = NULL;
	p->api_version = pack(&cursor, parts[0]);
	p->kind = pack(&cursor, parts[1]);
	p->namespace = pack(&cursor, parts[2]);
	p->name = pack(&cursor, parts[3]);
	p->uid = pack(&cursor, parts[4]);
	p->resource_version = pack(&cursor, parts[5]);
	p->type = pack(&cursor, parts[6]);
	p->reason = pack(&cursor, parts[7]);
	p->message = pack(&cursor, message);

	pthread_mutex_lock(&rec->lock);
	if (rec->tail)
		rec->tail->next = p;
	else
		rec->head = p;
	rec->tail = p;
	rec->queued++;
	rec->stats.recorded++;
	pthread_cond_signal(&rec->wake);
	pthread_mutex_unlock(&rec->lock);
}

static char *dedup_key(const struct pending *p)
{
	size_t n = strlen(p->namespace) + strlen(p->kind) + strlen(p->name) + strlen(p->uid) +
		   strlen(p->type) + strlen(p->reason) + strlen(p->message) + 8;
	char *key = malloc(n);

	if (key)
		snprintf(key, n, "%s\n%s\n%s\n%s\n%s\n%s\n%s", p->namespace, p->kind, p->name,
			 p->uid, p->type, p->reason, p->message);
	return key;
}

static struct sent *cache_find(struct bw_recorder *rec, const char *key)
{
	for (size_t i = 0; i < rec->cached; i++)
		if (strcmp(rec->cache[i].key, key) == 0)
			return &rec->cache[i];
	return NULL;
}

static void sent_release(struct sent *s)
{
	free(s->key);
	free(s->name);
	free(s->namespace);
}

/* Remembers a created Event, evicting the least recently used when full. */
static void cache_put(struct bw_recorder *rec, char *key, const char *name, const char *ns)
{
	struct sent *slot;

	if (rec->cached < rec->cache_max) {
		slot = &rec->cache[rec->cached++];
	} else {
		slot = &rec->cache[0];
		for (size_t i = 1; i < rec->cached; i++)
			if (rec->cache[i].used_ms < slot->used_ms)
				slot = &rec->cache[i];
		sent_release(slot);
	}
	slot->key = key;
	slot->name = strdup(name);
	slot->namespace = strdup(ns);
	slot->count = 1;
	slot->used_ms = bw_now_ms();
	if (!slot->name || !slot->namespace) {
		sent_release(slot);
		*slot = rec->cache[--rec->cached];
	}
}

static int create_event(struct bw_recorder *rec, const struct pending *p, char *name, size_t size,
			struct bw_error *err)
{
	char now[32];
	json_t *ev, *involved;
	int ret;

	bw_rfc3339_now(now, sizeof(now), 0);
	/* client-go's naming: the object's name and a nanosecond timestamp in hex */
	snprintf(name, size, "%.200s.%llx", p->name, (unsigned long long)bw_now_ns());
	involved = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", p->api_version, "kind", p->kind,
			     "namespace", p->namespace, "name", p->name);
	if (*p->uid)
		json_object_set_new(involved, "uid", json_string(p->uid));
	if (*p->resource_version)
		json_object_set_new(involved, "resourceVersion", json_string(p->resource_version));
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s, s:s},"
		       " s:s, s:s}",
		       "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
		       p->namespace, "involvedObject", involved, "reason", p->reason, "message",
		       p->message, "type", p->type, "count", 1, "firstTimestamp", now,
		       "lastTimestamp", now, "source", "component", rec->component, "host",
		       rec->instance, "reportingComponent", rec->component, "reportingInstance",
		       rec->instance);
	if (!ev)
		return bw_error_set(err, BW_EINVAL, "event %s is not valid UTF-8", p->reason);
	ret = bw_client_create(rec->client, &bw_res_events, p->namespace, ev, NULL, err);
	json_decref(ev);
	return ret;
}

static int bump_event(struct bw_recorder *rec, struct sent *s, struct bw_error *err)
{
	char now[32];
	json_t *patch;
	int ret;

	bw_rfc3339_now(now, sizeof(now), 0);
	patch = json_pack("{s:I, s:s}", "count", (json_int_t)(s->count + 1), "lastTimestamp", now);
	ret = bw_client_patch(rec->client, &bw_res_events, s->namespace, s->name, NULL,
			      BW_PATCH_MERGE, patch, NULL, NULL, err);
	json_decref(patch);
	if (ret == 0) {
		s->count++;
		s->used_ms = bw_now_ms();
	}
	return ret;
}

static void send_one(struct bw_recorder *rec, const struct pending *p)
{
	char name[256];
	struct bw_error err;
	struct sent *s;
	char *key = dedup_key(p);
	int ret;

	if (!key)
		return;
	s = cache_find(rec, key);
	if (s) {
		ret = bump_event(rec, s, &err);
		if (ret == 0) {
			free(key);
			pthread_mutex_lock(&rec->lock);
			rec->stats.counted++;
			pthread_mutex_unlock(&rec->lock);
			return;
		}
		/* the Event expired (events have a TTL) or was deleted: make a new one */
		sent_release(s);
		*s = rec->cache[--rec->cached];
	}
	ret = create_event(rec, p, name, sizeof(name), &err);
	pthread_mutex_lock(&rec->lock);
	if (ret == 0)
		rec->stats.created++;
	else
		rec->stats.failed++;
	pthread_mutex_unlock(&rec->lock);
	if (ret == 0) {
		cache_put(rec, key, name, p->namespace);
	} else {
		bw_log_warn("events", "event %s on %s/%s not recorded: %s", p->reason, p->namespace,
			    p->name, err.message);
		free(key);
	}
}

static void *sender(void *arg)
{
	struct bw_recorder *rec = arg;

	bw_thread_name("events", NULL);
	pthread_mutex_lock(&rec->lock);
	for (;;) {
		struct pending *p;

		while (!rec->head && !rec->stopping) {
			pthread_cond_broadcast(&rec->idle);
			pthread_cond_wait(&rec->wake, &rec->lock);
		}
		if (!rec->head)
			break;
		p = rec->head;
		rec->head = p->next;
		if (!rec->head)
			rec->tail = NULL;
		rec->busy = 1;
		pthread_mutex_unlock(&rec->lock);
		send_one(rec, p);
		free(p);
		pthread_mutex_lock(&rec->lock);
		rec->queued--;
		rec->busy = 0;
	}
	pthread_cond_broadcast(&rec->idle);
	pthread_mutex_unlock(&rec->lock);
	return NULL;
}

int bw_recorder_new(struct bw_recorder **out, struct bw_client *client,
		    const struct bw_recorder_options *opts, struct bw_error *err)
{
	struct bw_recorder *rec;
	pthread_condattr_t attr;
	int rc;

	*out = NULL;
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	rec->client = client;
	snprintf(rec->component, sizeof(rec->component), "%s",
		 opts && opts->component ? opts->component : "breakwater");
	if (opts && opts->instance)
		snprintf(rec->instance, sizeof(rec->instance), "%s", opts->instance);
	else if (gethostname(rec->instance, sizeof(rec->instance) - 1) != 0)
		snprintf(rec->instance, sizeof(rec->instance), "unknown");
	rec->queue_max = opts && opts->queue_max ? opts->queue_max : 1000;
	rec->cache_max = opts && opts->cache_max ? opts->cache_max : 1024;
	rec->cache = calloc(rec->cache_max, sizeof(*rec->cache));
	if (!rec->cache) {
		free(rec);
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&rec->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rec->wake, NULL);
	pthread_cond_init(&rec->idle, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&rec->thread, NULL, sender, rec);
	if (rc != 0) {
		free(rec->cache);
		free(rec);
		return bw_error_set(err, BW_ENOMEM, "cannot start the event sender: %s",
				    strerror(rc));
	}
	*out = rec;
	return 0;
}

int bw_recorder_flush(struct bw_recorder *rec, long timeout_ms)
{
	struct timespec until;
	int ret = 0;

	bw_deadline_after_ms(&until, timeout_ms);
	pthread_mutex_lock(&rec->lock);
	while ((rec->head || rec->busy) && ret == 0)
		if (pthread_cond_timedwait(&rec->idle, &rec->lock, &until) == ETIMEDOUT)
			ret = BW_ETIMEDOUT;
	pthread_mutex_unlock(&rec->lock);
	return ret;
}

void bw_recorder_stats(struct bw_recorder *rec, struct bw_recorder_stats *out)
{
	pthread_mutex_lock(&rec->lock);
	*out = rec->stats;
	pthread_mutex_unlock(&rec->lock);
}

void bw_recorder_free(struct bw_recorder *rec)
{
	struct pending *p;

	if (!rec)
		return;
	if (bw_recorder_flush(rec, 5000) != 0)
		bw_log_warn("events", "%zu events not sent at shutdown", rec->queued);
	pthread_mutex_lock(&rec->lock);
	rec->stopping = 1;
	/* what could not be sent in time is dropped */
	while ((p = rec->head) != NULL) {
		rec->head = p->next;
		free(p);
	}
	rec->tail = NULL;
	pthread_cond_broadcast(&rec->wake);
	pthread_mutex_unlock(&rec->lock);
	pthread_join(rec->thread, NULL);
	for (size_t i = 0; i < rec->cached; i++)
		sent_release(&rec->cache[i]);
	free(rec->cache);
	pthread_mutex_destroy(&rec->lock);
	pthread_cond_destroy(&rec->wake);
	pthread_cond_destroy(&rec->idle);
	free(rec);
}
