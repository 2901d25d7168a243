/* What the service controller last applied: see applied.h. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "error.h"

#define BUCKETS 1024 /* chains of ~10 at 10,000 Services: no resizing needed */

struct entry {
	struct entry *next;
	unsigned char digest[BW_APPLIED_DIGEST_LEN];
	long generation;
	time_t at;
	char key[]; /* "namespace/name" */
};

struct bw_applied {
	pthread_mutex_t lock;
	struct entry *buckets[BUCKETS];
	size_t count;
};

static size_t bucket_of(const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return (size_t)(h % BUCKETS);
}

/* The entry for key and the link that points at it; call with the lock held. */
static struct entry **find(struct bw_applied *memo, const char *key)
{
	struct entry **link = &memo->buckets[bucket_of(key)];

	while (*link && strcmp((*link)->key, key) != 0)
		link = &(*link)->next;
	return link;
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
			free(e);
		}
	}
	pthread_mutex_destroy(&memo->lock);
	free(memo);
}

int bw_applied_same(struct bw_applied *memo, const char *key,
		    const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation, time_t now,
		    long max_age_s)
{
	struct entry *e;
	int same;

	pthread_mutex_lock(&memo->lock);
	e = *find(memo, key);
	same = e && e->generation == generation && now - e->at < max_age_s && now >= e->at &&
	       memcmp(e->digest, digest, BW_APPLIED_DIGEST_LEN) == 0;
	pthread_mutex_unlock(&memo->lock);
	return same;
}

int bw_applied_record(struct bw_applied *memo, const char *key,
		      const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation,
		      time_t now)
{
	struct entry **link, *e;

	pthread_mutex_lock(&memo->lock);
	link = find(memo, key);
	e = *link;
	if (!e) {
		e = calloc(1, sizeof(*e) + strlen(key) + 1);
		if (!e) {
			pthread_mutex_unlock(&memo->lock);
			return BW_ENOMEM;
		}
		strcpy(e->key, key);
		*link = e;
		memo->count++;
	}
	memcpy(e->digest, digest, BW_APPLIED_DIGEST_LEN);
	e->generation = generation;
	e->at = now;
	pthread_mutex_unlock(&memo->lock);
	return 0;
}

int bw_applied_known(struct bw_applied *memo, const char *key)
{
	int known;

	pthread_mutex_lock(&memo->lock);
	known = *find(memo, key) != NULL;
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
