/* What the service controller last applied: see applied.h. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "error.h"

#define BUCKETS 1024 /* chains of ~10 at 10,000 Services: no resizing needed */
/* A part's digest is kept to its first 16 bytes: it tells a change from
 * none (2^-128 to be wrong), it is not a signature. */
#define PART_LEN 16

/* What only a Service's own entry holds (the scaler's, one per Service
 * too, has none of it), allocated when first set: at 10,000 Services the
 * memo was 5.8 MB of 288-byte entries, two a Service. */
struct more {
	unsigned char part[BW_APPLIED_PARTS][PART_LEN]; /* what each object was applied as */
	char status_rv[24];	 /* the resourceVersion a status write was based on */
	time_t status_at;	 /* and when it was written */
	uint64_t history_uid;	 /* FNV-1a of the Service uid whose history is known, or 0 */
	uint64_t history_newest; /* FNV-1a of its newest revision's name */
	long history_number;	 /* and that revision's number (0: not known) */
	long history_count;	 /* how many revisions it controls */
};

struct entry {
	struct entry *next;
	struct more *more; /* NULL until a part, a status or a history is set */
	unsigned char digest[BW_APPLIED_DIGEST_LEN];
	long generation;
	time_t at;
	unsigned char applied;	   /* digest, generation and at are set */
	unsigned char parts_known; /* and more->part: what each object was applied as */
	char key[];		   /* "namespace/name" */
};

struct bw_applied {
	pthread_mutex_t lock;
	struct entry *buckets[BUCKETS];
	size_t count;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t bucket_of(const char *key)
{
	return (size_t)(fnv1a(key) % BUCKETS);
}

/* The entry for key and the link that points at it; call with the lock held. */
static struct entry **find(struct bw_applied *memo, const char *key)
{
	struct entry **link = &memo->buckets[bucket_of(key)];

	while (*link && strcmp((*link)->key, key) != 0)
		link = &(*link)->next;
	return link;
}

/* key's extension, or NULL; call with the lock held. */
static struct more *more_in(struct bw_applied *memo, const char *key)
{
	struct entry *e = *find(memo, key);

	return e ? e->more : NULL;
}

struct bw_applied *bw_applied_new(void)
{
	struct bw_applied *memo = calloc(1, sizeof(*memo));

	if (memo)
		pthread_mutex_init(&memo->lock, NULL);
	return memo;
}

void bw_applied_free(struct bw_applied *memo)
{
	if (!memo)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (memo->buckets[i]) {
			struct entry *e = memo->buckets[i];

			memo->buckets[i] = e->next;
			free(e->more);
			free(e);
		}
	}
	pthread_mutex_destroy(&memo->lock);
	free(memo);
}

enum bw_applied_state bw_applied_state(struct bw_applied *memo, const char *key,
				       const unsigned char digest[BW_APPLIED_DIGEST_LEN],
				       long generation, time_t now, long max_age_s)
{
	enum bw_applied_state state = BW_APPLIED_NEW;
	struct entry *e;

	pthread_mutex_lock(&memo->lock);
	e = *find(memo, key);
	/* a recorded generation above the cache's: our apply's watch event is
	 * still on its way (see applied.h) */
	if (e && e->applied && e->generation >= generation &&
	    memcmp(e->digest, digest, BW_APPLIED_DIGEST_LEN) == 0)
		state = now - e->at < max_age_s && now >= e->at ? BW_APPLIED_FRESH : BW_APPLIED_DUE;
	pthread_mutex_unlock(&memo->lock);
	return state;
}

int bw_applied_same(struct bw_applied *memo, const char *key,
		    const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation, time_t now,
		    long max_age_s)
{
	return bw_applied_state(memo, key, digest, generation, now, max_age_s) == BW_APPLIED_FRESH;
}

/* Whether v is a value the API server does not store (omitempty): an
 * apply of it where the member is missing changes nothing. */
static int zero(const json_t *v)
{
	return json_is_false(v) || json_is_null(v) ||
	       (json_is_integer(v) && json_integer_value(v) == 0) ||
	       (json_is_string(v) && json_string_length(v) == 0) ||
	       (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

/* bw_applied_covers(), and where it fails: path (size bytes) gets the
 * member names and indexes down to the first difference. */
static int covers_at(const json_t *live, const json_t *desired, char *path, size_t size, size_t len)
{
	const char *key;
	json_t *value;
	size_t i;

	if (!desired)
		return 0;
	if (!live) /* the API server leaves out false, 0, "" and empty values */
		return zero(desired);
	if (json_is_object(desired)) {
		if (!json_is_object(live))
			return 0;
		json_object_foreach((json_t *)desired, key, value)
		{
			if (len < size)
				snprintf(path + len, size - len, ".%s", key);
			if (!covers_at(json_object_get(live, key), value, path, size,
				       len + strlen(key) + 1))
				return 0;
		}
		return 1;
	}
	if (json_is_array(desired)) {
		if (!json_is_array(live) || json_array_size(live) != json_array_size(desired))
			return 0;
		for (i = 0; i < json_array_size(desired); i++) {
			int n = len < size ? snprintf(path + len, size - len, "[%zu]", i) : 0;

			if (!covers_at(json_array_get(live, i), json_array_get(desired, i), path,
				       size, len + (size_t)n))
				return 0;
		}
		return 1;
	}
	return json_equal((json_t *)live, (json_t *)desired);
}

int bw_applied_covers_at(const json_t *live, const json_t *desired, char *path, size_t size)
{
	int covers;

	if (size)
		path[0] = '\0';
	covers = covers_at(live, desired, path, size, 0);
	if (covers && size)
		path[0] = '\0'; /* the last member looked at, not a difference */
	return covers;
}

int bw_applied_covers(const json_t *live, const json_t *desired)
{
	char path[1];

	return bw_applied_covers_at(live, desired, path, 0);
}

/* key's entry, made if there is none; call with the lock held. */
static struct entry *entry_of(struct bw_applied *memo, const char *key)
{
	struct entry **link = find(memo, key), *e = *link;

	if (!e && (e = calloc(1, sizeof(*e) + strlen(key) + 1)) != NULL) {
		strcpy(e->key, key);
		*link = e;
		memo->count++;
	}
	return e;
}

/* key's entry with its extension, both made if there are none; call with
 * the lock held. */
static struct more *more_of(struct bw_applied *memo, const char *key)
{
	struct entry *e = entry_of(memo, key);

	if (e && !e->more)
		e->more = calloc(1, sizeof(*e->more));
	return e ? e->more : NULL;
}

int bw_applied_record(struct bw_applied *memo, const char *key,
		      const unsigned char digest[BW_APPLIED_DIGEST_LEN],
		      const unsigned char part[BW_APPLIED_PARTS][BW_APPLIED_DIGEST_LEN],
		      long generation, time_t now)
{
	struct entry *e;

	struct more *m = NULL;

	pthread_mutex_lock(&memo->lock);
	e = entry_of(memo, key);
	if (e && part)
		m = more_of(memo, key);
	if (e) {
		memcpy(e->digest, digest, BW_APPLIED_DIGEST_LEN);
		e->generation = generation;
		e->at = now;
		e->applied = 1;
		e->parts_known = m != NULL;
		for (int i = 0; m && i < BW_APPLIED_PARTS; i++)
			memcpy(m->part[i], part[i], PART_LEN);
	}
	pthread_mutex_unlock(&memo->lock);
	return e ? 0 : BW_ENOMEM;
}

void bw_applied_status_written(struct bw_applied *memo, const char *key, const char *based_on,
			       time_t now)
{
	struct more *m;

	pthread_mutex_lock(&memo->lock);
	m = more_of(memo, key);
	if (m) {
		/* a longer one (not the API server's decimal counter) is not kept:
		 * the next reconcile then does not wait for its event */
		if (!based_on || strlen(based_on) >= sizeof(m->status_rv))
			based_on = "";
		snprintf(m->status_rv, sizeof(m->status_rv), "%s", based_on);
		m->status_at = now;
	}
	pthread_mutex_unlock(&memo->lock);
}

void bw_applied_history_synced(struct bw_applied *memo, const char *key, const char *uid,
			       const char *newest, long number, long count)
{
	struct more *m;

	pthread_mutex_lock(&memo->lock);
	m = more_of(memo, key);
	if (m) {
		m->history_uid = uid && newest ? fnv1a(uid) | 1 : 0; /* never 0 when known */
		m->history_newest = newest ? fnv1a(newest) : 0;
		m->history_number = number > 0 ? number : 0;
		m->history_count = count;
	}
	pthread_mutex_unlock(&memo->lock);
}

long bw_applied_history_next(struct bw_applied *memo, const char *key, const char *uid,
			     const char *update, const char *current, long limit, long *count)
{
	struct more *m;
	long next = 0;

	if (!uid || !update)
		return 0;
	pthread_mutex_lock(&memo->lock);
	m = more_in(memo, key);
	/* update new: with it there are count + 1, of which update and current
	 * (if any) are not counted against the limit: count - (current) others */
	if (m && m->history_uid == (fnv1a(uid) | 1) && m->history_number > 0 &&
	    m->history_newest != fnv1a(update) && m->history_count - (current ? 1 : 0) <= limit) {
		next = m->history_number + 1;
		*count = m->history_count;
	}
	pthread_mutex_unlock(&memo->lock);
	return next;
}

int bw_applied_history_settled(struct bw_applied *memo, const char *key, const char *uid,
			       const char *update, const char *current, long limit)
{
	struct more *m;
	long others;
	int settled = 0;

	if (!uid || !update)
		return 0;
	pthread_mutex_lock(&memo->lock);
	m = more_in(memo, key);
	if (m && m->history_uid == (fnv1a(uid) | 1) && m->history_newest == fnv1a(update)) {
		/* the update and current revisions are kept and not counted */
		others = m->history_count - 1 - (current && strcmp(current, update) != 0 ? 1 : 0);
		settled = others <= limit;
	}
	pthread_mutex_unlock(&memo->lock);
	return settled;
}

/* The status fields a rollout moves as it goes, which alone need no
 * prompt write (applied.h). */
static int progress_field(const char *key)
{
	static const char *const fields[] = {"replicas", "updatedReplicas", "readyReplicas",
					     "availableReplicas", "pods"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(key, fields[i]) == 0)
			return 1;
	return 0;
}

/* Whether the conditions differ in their messages at most: the same types
 * in the same order, each with the same status, reason, observed generation
 * and transition time. */
static int conditions_alike(const json_t *old, const json_t *new)
{
	static const char *const same_in[] = {"type", "status", "reason", "observedGeneration",
					      "lastTransitionTime"};
	size_t i, j;

	if (!json_is_array(old) || !json_is_array(new) ||
	    json_array_size(old) != json_array_size(new))
		return 0;
	for (i = 0; i < json_array_size(new); i++)
		for (j = 0; j < sizeof(same_in) / sizeof(same_in[0]); j++) {
			const json_t *a = json_object_get(json_array_get(old, i), same_in[j]);
			const json_t *b = json_object_get(json_array_get(new, i), same_in[j]);

			if (!(a == b || (a && b && json_equal((json_t *)a, (json_t *)b))))
				return 0;
		}
	return 1;
}

int bw_applied_status_progress_only(const json_t *old_status, const json_t *new_status)
{
	const char *key;
	json_t *value;

	if (!json_is_object(old_status) || !json_is_object(new_status) ||
	    json_equal((json_t *)old_status, (json_t *)new_status))
		return 0;
	json_object_foreach((json_t *)new_status, key, value)
	{
		const json_t *old = json_object_get(old_status, key);

		if (progress_field(key))
			continue;
		if (strcmp(key, "conditions") == 0 ? !conditions_alike(old, value)
						   : !(old && json_equal((json_t *)old, value)))
			return 0;
	}
	json_object_foreach((json_t *)old_status, key, value)
	{
		if (!progress_field(key) && !json_object_get(new_status, key))
			return 0; /* a field dropped */
	}
	return 1;
}

long bw_applied_status_hold_ms(struct bw_applied *memo, const char *key, time_t now)
{
	struct more *m;
	long hold = 0;

	pthread_mutex_lock(&memo->lock);
	m = more_in(memo, key);
	if (m && m->status_at && now >= m->status_at &&
	    now - m->status_at < BW_APPLIED_STATUS_HOLD_S)
		hold = (long)(m->status_at + BW_APPLIED_STATUS_HOLD_S - now) * 1000;
	pthread_mutex_unlock(&memo->lock);
	return hold;
}

int bw_applied_status_behind(struct bw_applied *memo, const char *key, const char *cached,
			     time_t now)
{
	struct more *m;
	int behind;

	pthread_mutex_lock(&memo->lock);
	m = more_in(memo, key);
	behind = m && cached && *cached && strcmp(m->status_rv, cached) == 0 &&
		 now >= m->status_at && now - m->status_at < BW_APPLIED_STATUS_WAIT_S;
	pthread_mutex_unlock(&memo->lock);
	return behind;
}

int bw_applied_part_fresh(struct bw_applied *memo, const char *key, int i,
			  const unsigned char part[BW_APPLIED_DIGEST_LEN], time_t now,
			  long max_age_s)
{
	struct entry *e;
	int fresh;

	if (i < 0 || i >= BW_APPLIED_PARTS)
		return 0;
	pthread_mutex_lock(&memo->lock);
	e = *find(memo, key);
	fresh = e && e->applied && e->parts_known && e->more && now >= e->at &&
		now - e->at < max_age_s && memcmp(e->more->part[i], part, PART_LEN) == 0;
	pthread_mutex_unlock(&memo->lock);
	return fresh;
}

int bw_applied_known(struct bw_applied *memo, const char *key)
{
	int known;

	pthread_mutex_lock(&memo->lock);
	known = *find(memo, key) != NULL && (*find(memo, key))->applied;
	pthread_mutex_unlock(&memo->lock);
	return known;
}

void bw_applied_hex(const unsigned char digest[BW_APPLIED_DIGEST_LEN],
		    char hex[BW_APPLIED_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < BW_APPLIED_DIGEST_LEN; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[BW_APPLIED_HEX_LEN] = '\0';
}

void bw_applied_forget(struct bw_applied *memo, const char *key)
{
	struct entry **link, *e;

	pthread_mutex_lock(&memo->lock);
	link = find(memo, key);
	e = *link;
	if (e) {
		*link = e->next;
		free(e->more);
		free(e);
		memo->count--;
	}
	pthread_mutex_unlock(&memo->lock);
}

size_t bw_applied_count(struct bw_applied *memo)
{
	size_t n;

	pthread_mutex_lock(&memo->lock);
	n = memo->count;
	pthread_mutex_unlock(&memo->lock);
	return n;
}
