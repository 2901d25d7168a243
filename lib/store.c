/*
 * The object store: see store.h.
 *
 * Memory layout of one item, one malloc() block:
 *
 *   struct item_hdr | the projection's struct | aligned room reserved |
 *   "namespace\0name\0resourceVersion\0" | string room reserved
 *
 * The header is 16 bytes (reference count, hash of "namespace/name", where
 * the key strings start, their lengths). Callers see a pointer just past the
 * header. The key table, index buckets and bucket sets are open-addressing
 * tables of pointers (linear probing, backward-shift deletion, no
 * tombstones), at most 3/4 full, so a cached object costs its block plus
 * 8 / load bytes of table.
 *
 * Locking: write_lock serialises writers; a writer reads the tables without
 * the rwlock (no one else changes them), projects and builds new tables
 * outside it, and takes it for writing only to change what readers see.
 * Readers take it for reading. A reader takes its reference under the
 * rwlock, so the store's reference, dropped by a writer after it unlocks,
 * is never the last one a reader is about to increment.
 *
 * glibc's default rwlock lets a steady stream of readers (webhook requests,
 * controller workers) starve the writer, which is the informer: its cache
 * would fall behind. The rwlock prefers writers, a glibc extension, hence
 * _GNU_SOURCE here and nowhere else.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "store.h"

#define NOT_FOUND	 SIZE_MAX
#define TABLE_MIN	 8 /* slots of a key or bucket table */
#define SET_MIN		 4 /* slots of a bucket's set once it holds two items */
#define PACK_ALIGN	 8
#define PACK_MAX	 ((size_t)1 << 24) /* the most one item may take: 16 MiB */
#define KEY_LEN_MAX	 UINT16_MAX
#define FNV_OFFSET_BASIS 2166136261u
#define FNV_PRIME	 16777619u

struct item_hdr {
	atomic_uint refs;
	uint32_t hash;	   /* FNV-1a of "namespace/name" */
	uint32_t key_off;  /* where "namespace\0name\0resourceVersion\0" starts */
	uint16_t ns_len;   /* Kubernetes caps a namespace at 63 bytes */
	uint16_t name_len; /* and a name at 253 */
};

_Static_assert(sizeof(struct item_hdr) % _Alignof(max_align_t) == 0,
	       "the item after the header must be aligned as malloc's");
_Static_assert(_Alignof(void *) <= PACK_ALIGN && _Alignof(uint64_t) <= PACK_ALIGN,
	       "PACK_ALIGN must suit pointers and integers");

/* A key being looked for: borrowed strings and their lengths. */
struct key {
	const char *ns, *name, *rv;
	size_t ns_len, name_len, rv_len;
	uint32_t hash;
};

/* An open-addressing table of non-NULL pointers. */
struct ptab {
	void **slots; /* mask + 1 of them (a power of two), or NULL when never used */
	size_t mask;
	size_t count;
};

typedef uint32_t entry_hash_fn(const void *entry);
typedef int entry_match_fn(const void *entry, const void *key);

/* One value of one index and the items having it. */
struct bucket {
	uint32_t hash;
	void *one;	 /* the only item while set.slots is NULL */
	struct ptab set; /* the items (struct item_hdr *) once there were two */
	char value[];
};

struct index {
	char *name;
	bw_store_index_fn *fn;
	void *arg;
	struct ptab buckets; /* struct bucket * by value */
};

struct bw_store {
	pthread_rwlock_t lock;
	pthread_mutex_t write_lock;
	bw_store_project_fn *project;
	void *arg;
	struct ptab items; /* struct item_hdr * by key */
	size_t n_indexes;
	struct index indexes[];
};

struct bw_store_pack {
	const struct key *key;
	size_t aligned; /* room reserved for bw_store_pack_mem() */
	size_t bytes;	/* room reserved for bw_store_pack_str() */
	struct item_hdr *hdr;
	char *aligned_next, *aligned_end;
	char *bytes_next, *bytes_end;
	int error; /* BW_ENOMEM or BW_EINVAL once something went wrong */
};

struct bw_store_replace {
	struct bw_store *store;
	struct ptab staged; /* struct item_hdr *, each holding a reference */
};

/* Hashing. */

static uint32_t fnv1a(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint32_t key_hash(const char *ns, size_t ns_len, const char *name, size_t name_len)
{
	uint32_t h = fnv1a(FNV_OFFSET_BASIS, ns, ns_len);

	h = fnv1a(h, "/", 1);
	return fnv1a(h, name, name_len);
}

static uint32_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Items. */

static struct item_hdr *hdr_of(const void *item)
{
	return (struct item_hdr *)((uintptr_t)item - sizeof(struct item_hdr));
}

static void *item_of(struct item_hdr *h)
{
	return h + 1;
}

static const char *hdr_ns(const struct item_hdr *h)
{
	return (const char *)h + h->key_off;
}

static const char *hdr_name(const struct item_hdr *h)
{
	return hdr_ns(h) + h->ns_len + 1;
}

static const char *hdr_rv(const struct item_hdr *h)
{
	return hdr_name(h) + h->name_len + 1;
}

static void hdr_ref(struct item_hdr *h)
{
	atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

static void hdr_put(struct item_hdr *h)
{
	if (h && atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1)
		free(h);
}

/* A new reference to h as a caller's item, or NULL. */
static const void *hdr_take(struct item_hdr *h)
{
	if (!h)
		return NULL;
	hdr_ref(h);
	return item_of(h);
}

static struct key key_of_hdr(const struct item_hdr *h)
{
	struct key k = {
	    .ns = hdr_ns(h),
	    .name = hdr_name(h),
	    .ns_len = h->ns_len,
	    .name_len = h->name_len,
	    .hash = h->hash,
	};

	return k;
}

static uint32_t item_hash(const void *entry)
{
	return ((const struct item_hdr *)entry)->hash;
}

static int item_matches(const void *entry, const void *key)
{
	const struct item_hdr *h = entry;
	const struct key *k = key;

	return h->ns_len == k->ns_len && h->name_len == k->name_len &&
	       memcmp(hdr_ns(h), k->ns, k->ns_len) == 0 &&
	       memcmp(hdr_name(h), k->name, k->name_len) == 0;
}

static int rv_same(const struct item_hdr *h, const struct key *k)
{
	const char *rv = hdr_rv(h);

	return k->rv_len > 0 && strlen(rv) == k->rv_len && memcmp(rv, k->rv, k->rv_len) == 0;
}

/* Tables. */

static size_t ptab_find(const struct ptab *t, uint32_t hash, entry_hash_fn *hash_of,
			entry_match_fn *match, const void *key)
{
	if (!t->slots)
		return NOT_FOUND;
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		void *e = t->slots[i];

		if (!e)
			return NOT_FOUND;
		if (hash_of(e) == hash && match(e, key))
			return i;
	}
}

/* Adds e, which is not in t, to a table with room for it. */
static void ptab_put(struct ptab *t, void *e, uint32_t hash)
{
	size_t i = hash & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = e;
	t->count++;
}

/* Empties slot i, moving back the entries after it that would no longer be
 * found (Knuth's algorithm R for linear probing). */
static void ptab_remove_at(struct ptab *t, size_t i, entry_hash_fn *hash_of)
{
	size_t j = i;

	t->slots[i] = NULL;
	t->count--;
	for (;;) {
		size_t home;

		j = (j + 1) & t->mask;
		if (!t->slots[j])
			break;
		home = hash_of(t->slots[j]) & t->mask;
		/* the entry stays when its home lies cyclically in (i, j] */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j] = NULL;
		i = j;
	}
}

/* The slots for n entries at most 3/4 full. */
static size_t ptab_capacity_for(size_t n, size_t min)
{
	size_t cap = min;

	while (n > cap / 4 * 3 && cap < SIZE_MAX / 4)
		cap *= 2;
	return cap;
}

static int ptab_needs_grow(const struct ptab *t)
{
	return !t->slots || t->count + 1 > (t->mask + 1) / 4 * 3;
}

/* A new table of cap slots holding from's entries; from is left as it is. */
static int ptab_rebuild(const struct ptab *from, size_t cap, entry_hash_fn *hash_of,
			struct ptab *to)
{
	struct ptab t = {.mask = cap - 1};

	t.slots = calloc(cap, sizeof(*t.slots));
	if (!t.slots)
		return BW_ENOMEM;
	for (size_t i = 0; from->slots && i <= from->mask; i++) {
		if (from->slots[i])
			ptab_put(&t, from->slots[i], hash_of(from->slots[i]));
	}
	*to = t;
	return 0;
}

/* Makes room for one more entry in place. */
static int ptab_reserve_one(struct ptab *t, size_t min, entry_hash_fn *hash_of)
{
	struct ptab grown;
	int rc;

	if (!ptab_needs_grow(t))
		return 0;
	rc = ptab_rebuild(t, ptab_capacity_for(t->count + 1, min), hash_of, &grown);
	if (rc)
		return rc;
	free(t->slots);
	*t = grown;
	return 0;
}

static struct item_hdr *table_get(const struct ptab *t, const struct key *k, size_t *slot)
{
	size_t i = ptab_find(t, k->hash, item_hash, item_matches, k);

	if (slot)
		*slot = i;
	return i == NOT_FOUND ? NULL : t->slots[i];
}

/* Drops the reference of every entry of an item table and frees it. */
static void table_release(struct ptab *t)
{
	for (size_t i = 0; t->slots && i <= t->mask; i++)
		hdr_put(t->slots[i]);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* Keys. */

static int key_from_names(const char *ns, const char *name, size_t name_len, struct key *k)
{
	memset(k, 0, sizeof(*k));
	k->ns = ns ? ns : "";
	k->ns_len = strlen(k->ns);
	k->name = name;
	k->name_len = name_len;
	k->rv = "";
	if (k->ns_len > KEY_LEN_MAX || k->name_len > KEY_LEN_MAX)
		return BW_EINVAL;
	k->hash = key_hash(k->ns, k->ns_len, k->name, k->name_len);
	return 0;
}

static int key_from_object(const json_t *obj, struct key *k, struct bw_error *err)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));

	if (!name || !*name)
		return bw_error_set(err, BW_EINVAL, "store: object without metadata.name");
	if (key_from_names(ns, name, strlen(name), k))
		return bw_error_set(err, BW_EINVAL, "store: namespace or name of %.64s too long",
				    name);
	k->rv = rv ? rv : "";
	k->rv_len = strlen(k->rv);
	if (k->rv_len > KEY_LEN_MAX)
		return bw_error_set(err, BW_EINVAL, "store: resourceVersion of %s/%s too long",
				    k->ns, k->name);
	return 0;
}

/* Packing. */

static size_t align_up(size_t n)
{
	return (n + PACK_ALIGN - 1) & ~(size_t)(PACK_ALIGN - 1);
}

static void pack_fail(struct bw_store_pack *pack, int code)
{
	if (!pack->error)
		pack->error = code;
}

static void pack_add(size_t *room, struct bw_store_pack *pack, size_t n)
{
	if (pack->hdr) {
		pack_fail(pack, BW_EINVAL); /* reserving after the allocation */
		return;
	}
	if (n > PACK_MAX || *room > PACK_MAX - n) {
		pack_fail(pack, BW_ETOOBIG);
		return;
	}
	*room += n;
}

void bw_store_pack_reserve_str(struct bw_store_pack *pack, const char *s)
{
	if (s)
		pack_add(&pack->bytes, pack, strlen(s) + 1);
}

void bw_store_pack_reserve(struct bw_store_pack *pack, size_t size)
{
	pack_add(&pack->aligned, pack, size > PACK_MAX ? size : align_up(size));
}

void *bw_store_pack_alloc(struct bw_store_pack *pack, size_t size)
{
	const struct key *k = pack->key;
	size_t head, key_len, total;
	struct item_hdr *h;
	char *p;

	if (pack->hdr) {
		pack_fail(pack, BW_EINVAL); /* a second allocation */
		return NULL;
	}
	if (pack->error)
		return NULL;
	if (size > PACK_MAX) {
		pack_fail(pack, BW_ETOOBIG);
		return NULL;
	}
	head = sizeof(*h) + align_up(size) + pack->aligned;
	key_len = k->ns_len + 1 + k->name_len + 1 + k->rv_len + 1;
	total = head + key_len + pack->bytes; /* each term is capped: no overflow */
	h = malloc(total);
	if (!h) {
		pack_fail(pack, BW_ENOMEM);
		return NULL;
	}
	memset(h, 0, head);
	atomic_init(&h->refs, 1);
	h->hash = k->hash;
	h->key_off = (uint32_t)head;
	h->ns_len = (uint16_t)k->ns_len;
	h->name_len = (uint16_t)k->name_len;
	p = (char *)h + head;
	memcpy(p, k->ns, k->ns_len);
	p += k->ns_len;
	*p++ = '\0';
	memcpy(p, k->name, k->name_len);
	p += k->name_len;
	*p++ = '\0';
	memcpy(p, k->rv, k->rv_len);
	p += k->rv_len;
	*p++ = '\0';
	pack->hdr = h;
	pack->aligned_next = (char *)h + sizeof(*h) + align_up(size);
	pack->aligned_end = pack->aligned_next + pack->aligned;
	pack->bytes_next = p;
	pack->bytes_end = p + pack->bytes;
	return item_of(h);
}

const char *bw_store_pack_str(struct bw_store_pack *pack, const char *s)
{
	size_t n;
	char *copy;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	if (!pack->hdr || n > (size_t)(pack->bytes_end - pack->bytes_next)) {
		pack_fail(pack, BW_EINVAL);
		return NULL;
	}
	copy = pack->bytes_next;
	memcpy(copy, s, n);
	pack->bytes_next += n;
	return copy;
}

void *bw_store_pack_mem(struct bw_store_pack *pack, size_t size)
{
	void *p;

	if (!pack->hdr || size > (size_t)(pack->aligned_end - pack->aligned_next) ||
	    align_up(size) > (size_t)(pack->aligned_end - pack->aligned_next)) {
		pack_fail(pack, BW_EINVAL);
		return NULL;
	}
	p = pack->aligned_next;
	pack->aligned_next += align_up(size);
	return p;
}

/* Runs the projection: *out is the new item (one reference) or NULL when the
 * projection declined obj. */
static int run_projection(struct bw_store *s, const json_t *obj, const struct key *k,
			  struct item_hdr **out, struct bw_error *err)
{
	struct bw_store_pack pack = {.key = k};
	void *item;
	int rc = 0;

	*out = NULL;
	item = s->project(&pack, obj, s->arg);
	if (pack.error == BW_ENOMEM)
		rc = bw_error_set(err, BW_ENOMEM, "store: out of memory caching %s/%s", k->ns,
				  k->name);
	else if (pack.error == BW_ETOOBIG)
		rc = bw_error_set(err, BW_ETOOBIG, "store: the item for %s/%s is over %zu bytes",
				  k->ns, k->name, PACK_MAX);
	else if (pack.error || (item && (!pack.hdr || item != item_of(pack.hdr))))
		rc = bw_error_set(err, BW_EINVAL,
				  "store: the projection of %s/%s misused bw_store_pack", k->ns,
				  k->name);
	if (rc || !item)
		goto cleanup;
	*out = pack.hdr;
	pack.hdr = NULL;
cleanup:
	free(pack.hdr);
	return rc;
}

/* Indexes. All of this runs under the rwlock taken for writing, or for
 * reading where nothing changes. */

static uint32_t bucket_hash(const void *entry)
{
	return ((const struct bucket *)entry)->hash;
}

static int bucket_matches(const void *entry, const void *key)
{
	return strcmp(((const struct bucket *)entry)->value, key) == 0;
}

static uint32_t set_hash(const void *entry)
{
	return ptr_hash(entry);
}

static int set_matches(const void *entry, const void *key)
{
	return entry == key;
}

static size_t set_find(const struct ptab *set, const struct item_hdr *h)
{
	return ptab_find(set, ptr_hash(h), set_hash, set_matches, h);
}

static size_t bucket_count(const struct bucket *b)
{
	return b->set.slots ? b->set.count : b->one != NULL;
}

static struct bucket *bucket_find(const struct index *ix, const char *value, size_t *slot)
{
	uint32_t hash = fnv1a(FNV_OFFSET_BASIS, value, strlen(value));
	size_t i = ptab_find(&ix->buckets, hash, bucket_hash, bucket_matches, value);

	if (slot)
		*slot = i;
	return i == NOT_FOUND ? NULL : ix->buckets.slots[i];
}

static int bucket_add(struct index *ix, const char *value, struct item_hdr *h)
{
	struct bucket *b = bucket_find(ix, value, NULL);
	size_t len;
	int rc;

	if (!b) {
		rc = ptab_reserve_one(&ix->buckets, TABLE_MIN, bucket_hash);
		if (rc)
			return rc;
		len = strlen(value);
		b = calloc(1, sizeof(*b) + len + 1);
		if (!b)
			return BW_ENOMEM;
		b->hash = fnv1a(FNV_OFFSET_BASIS, value, len);
		memcpy(b->value, value, len + 1);
		b->one = h;
		ptab_put(&ix->buckets, b, b->hash);
		return 0;
	}
	if (!b->set.slots) {
		struct ptab set = {0};

		if (b->one == h)
			return 0;
		rc = ptab_reserve_one(&set, SET_MIN, set_hash);
		if (rc)
			return rc;
		ptab_put(&set, b->one, ptr_hash(b->one));
		ptab_put(&set, h, ptr_hash(h));
		b->set = set;
		b->one = NULL;
		return 0;
	}
	if (set_find(&b->set, h) != NOT_FOUND)
		return 0;
	rc = ptab_reserve_one(&b->set, SET_MIN, set_hash);
	if (rc)
		return rc;
	ptab_put(&b->set, h, ptr_hash(h));
	return 0;
}

/* After a removal: a smaller set once it is 1/8 full (a failed allocation
 * keeps the big one), back to a single item when one is left, and no bucket
 * when none is. */
static void bucket_settle(struct index *ix, struct bucket *b, size_t slot)
{
	struct ptab small;
	size_t cap = ptab_capacity_for(b->set.count, SET_MIN);

	if (b->set.slots && b->set.count > 1 && cap <= b->set.mask / 4 &&
	    !ptab_rebuild(&b->set, cap, set_hash, &small)) {
		free(b->set.slots);
		b->set = small;
	}
	if (b->set.slots && b->set.count <= 1) {
		for (size_t i = 0; i <= b->set.mask; i++) {
			if (b->set.slots[i])
				b->one = b->set.slots[i];
		}
		free(b->set.slots);
		memset(&b->set, 0, sizeof(b->set));
	}
	if (bucket_count(b) == 0) {
		ptab_remove_at(&ix->buckets, slot, bucket_hash);
		free(b);
	}
}

static void bucket_remove(struct index *ix, const char *value, struct item_hdr *h)
{
	size_t slot, i;
	struct bucket *b = bucket_find(ix, value, &slot);

	if (!b)
		return;
	if (!b->set.slots) {
		if (b->one != h)
			return;
		b->one = NULL;
	} else {
		i = set_find(&b->set, h);
		if (i == NOT_FOUND)
			return;
		ptab_remove_at(&b->set, i, set_hash);
	}
	bucket_settle(ix, b, slot);
}

/* Puts new where old was in the bucket of value; never allocates. */
static void bucket_swap(struct index *ix, const char *value, struct item_hdr *old,
			struct item_hdr *new)
{
	size_t slot, i;
	struct bucket *b = bucket_find(ix, value, &slot);

	if (!b)
		return;
	if (!b->set.slots) {
		if (b->one == old)
			b->one = new;
		return;
	}
	i = set_find(&b->set, old);
	if (i == NOT_FOUND)
		return;
	ptab_remove_at(&b->set, i, set_hash);
	if (set_find(&b->set, new) == NOT_FOUND)
		ptab_put(&b->set, new, ptr_hash(new));
	bucket_settle(ix, b, slot);
}

static size_t index_values(const struct index *ix, struct item_hdr *h, const char **values)
{
	size_t n;

	if (!h)
		return 0;
	n = ix->fn(item_of(h), values, BW_STORE_INDEX_MAX, ix->arg);
	return n > BW_STORE_INDEX_MAX ? BW_STORE_INDEX_MAX : n;
}

static int has_value(const char **values, size_t n, const char *value)
{
	for (size_t i = 0; i < n; i++) {
		if (values[i] && strcmp(values[i], value) == 0)
			return 1;
	}
	return 0;
}

/* Takes new out of the buckets index_add_new() put it in (those of values
 * old does not have). */
static void index_undo_new(struct bw_store *s, struct item_hdr *old, struct item_hdr *new)
{
	const char *ov[BW_STORE_INDEX_MAX], *nv[BW_STORE_INDEX_MAX];

	for (size_t x = 0; x < s->n_indexes; x++) {
		struct index *ix = &s->indexes[x];
		size_t on = index_values(ix, old, ov), nn = index_values(ix, new, nv);

		for (size_t i = 0; i < nn; i++) {
			if (nv[i] && !has_value(ov, on, nv[i]))
				bucket_remove(ix, nv[i], new);
		}
	}
}

/* The first half of replacing old by new (either may be NULL) in every
 * index, the only one that allocates: adds new to the buckets of values old
 * does not have. On failure nothing is changed. */
static int index_add_new(struct bw_store *s, struct item_hdr *old, struct item_hdr *new)
{
	const char *ov[BW_STORE_INDEX_MAX], *nv[BW_STORE_INDEX_MAX];
	int rc;

	for (size_t x = 0; new &&x < s->n_indexes; x++) {
		struct index *ix = &s->indexes[x];
		size_t on = index_values(ix, old, ov), nn = index_values(ix, new, nv);

		for (size_t i = 0; i < nn; i++) {
			if (!nv[i] || has_value(ov, on, nv[i]))
				continue;
			rc = bucket_add(ix, nv[i], new);
			if (rc) {
				index_undo_new(s, old, new);
				return rc;
			}
		}
	}
	return 0;
}

/* The second half: new takes old's place in the buckets of values both have,
 * and old leaves the others. Never fails. */
static void index_finish(struct bw_store *s, struct item_hdr *old, struct item_hdr *new)
{
	const char *ov[BW_STORE_INDEX_MAX], *nv[BW_STORE_INDEX_MAX];

	for (size_t x = 0; old && x < s->n_indexes; x++) {
		struct index *ix = &s->indexes[x];
		size_t on = index_values(ix, old, ov), nn = index_values(ix, new, nv);

		for (size_t i = 0; i < on; i++) {
			if (!ov[i])
				continue;
			if (has_value(nv, nn, ov[i]))
				bucket_swap(ix, ov[i], old, new);
			else
				bucket_remove(ix, ov[i], old);
		}
	}
}

static void index_release(struct index *ix)
{
	for (size_t i = 0; ix->buckets.slots && i <= ix->buckets.mask; i++) {
		struct bucket *b = ix->buckets.slots[i];

		if (b) {
			free(b->set.slots);
			free(b);
		}
	}
	free(ix->buckets.slots);
	free(ix->name);
}

size_t bw_store_index_by_namespace(const void *item, const char **values, size_t max, void *arg)
{
	(void)arg;
	if (max < 1)
		return 0;
	values[0] = bw_store_item_namespace(item);
	return 1;
}

/* The store. */

int bw_store_new(struct bw_store **out, bw_store_project_fn *project, void *arg,
		 const struct bw_store_index *indexes, size_t n_indexes, struct bw_error *err)
{
	struct bw_store *s = NULL;
	size_t i, j;
	int locks = 0, rc = BW_ENOMEM;

	*out = NULL;
	if (!project || (n_indexes && !indexes)) {
		rc = bw_error_set(err, BW_EINVAL, "store: no projection");
		goto fail;
	}
	for (i = 0; i < n_indexes; i++) {
		if (!indexes[i].name || !*indexes[i].name || !indexes[i].fn) {
			rc = bw_error_set(err, BW_EINVAL,
					  "store: index %zu has no name or function", i);
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(indexes[i].name, indexes[j].name) == 0) {
				rc = bw_error_set(err, BW_EINVAL, "store: two indexes named %s",
						  indexes[i].name);
				goto fail;
			}
		}
	}
	s = calloc(1, sizeof(*s) + n_indexes * sizeof(s->indexes[0]));
	if (!s)
		goto fail;
	s->project = project;
	s->arg = arg;
	for (i = 0; i < n_indexes; i++) {
		s->indexes[i].fn = indexes[i].fn;
		s->indexes[i].arg = indexes[i].arg;
		s->indexes[i].name = strdup(indexes[i].name);
		s->n_indexes = i + 1;
		if (!s->indexes[i].name)
			goto fail;
	}
	{
		pthread_rwlockattr_t attr;
		int rc_init;

		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		rc_init = pthread_rwlock_init(&s->lock, &attr);
		pthread_rwlockattr_destroy(&attr);
		if (rc_init)
			goto fail;
	}
	locks++;
	if (pthread_mutex_init(&s->write_lock, NULL))
		goto fail;
	*out = s;
	return 0;
fail:
	if (rc == BW_ENOMEM)
		bw_error_set(err, BW_ENOMEM, "store: out of memory");
	if (s) {
		if (locks > 0)
			pthread_rwlock_destroy(&s->lock);
		for (i = 0; i < s->n_indexes; i++)
			index_release(&s->indexes[i]);
		free(s);
	}
	return rc;
}

void bw_store_free(struct bw_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_indexes; i++)
		index_release(&s->indexes[i]);
	table_release(&s->items);
	pthread_mutex_destroy(&s->write_lock);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

/* Gives the key table back most of its slots once it is 1/8 full. Called by a
 * writer holding write_lock; a failed allocation just keeps the big table. */
static void table_maybe_shrink(struct bw_store *s)
{
	struct ptab small;
	void **retired;
	size_t cap = ptab_capacity_for(s->items.count, TABLE_MIN);

	if (!s->items.slots || s->items.count > (s->items.mask + 1) / 8 || cap > s->items.mask)
		return;
	if (ptab_rebuild(&s->items, cap, item_hash, &small))
		return;
	pthread_rwlock_wrlock(&s->lock);
	retired = s->items.slots;
	s->items = small;
	pthread_rwlock_unlock(&s->lock);
	free(retired);
}

/* Takes the item at slot out of the table and the indexes; the store's
 * reference goes to the caller. Called by a writer holding write_lock. */
static struct item_hdr *table_take(struct bw_store *s, size_t slot)
{
	struct item_hdr *old = s->items.slots[slot];

	pthread_rwlock_wrlock(&s->lock);
	ptab_remove_at(&s->items, slot, item_hash);
	index_finish(s, old, NULL);
	pthread_rwlock_unlock(&s->lock);
	table_maybe_shrink(s);
	return old;
}

int bw_store_upsert(struct bw_store *s, const json_t *obj, struct bw_store_change *change,
		    struct bw_error *err)
{
	struct bw_store_change result = {BW_STORE_NONE, NULL, NULL};
	struct item_hdr *old, *item = NULL;
	struct ptab grown = {0};
	void **retired = NULL;
	struct key k;
	size_t slot;
	int rc;

	if (change)
		*change = result;
	rc = key_from_object(obj, &k, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->write_lock);
	old = table_get(&s->items, &k, &slot);
	if (old && rv_same(old, &k)) {
		result.event = BW_STORE_UNCHANGED;
		result.old_item = hdr_take(old);
		result.new_item = hdr_take(old);
		goto cleanup;
	}
	rc = run_projection(s, obj, &k, &item, err);
	if (rc)
		goto cleanup;
	if (!item) {
		result.event = old ? BW_STORE_DELETED : BW_STORE_IGNORED;
		if (old)
			result.old_item = item_of(table_take(s, slot));
		goto cleanup;
	}
	if (!old && ptab_needs_grow(&s->items))
		rc = ptab_rebuild(&s->items, ptab_capacity_for(s->items.count + 1, TABLE_MIN),
				  item_hash, &grown);
	if (rc) {
		rc = bw_error_set(err, rc, "store: out of memory caching %s/%s", k.ns, k.name);
		goto cleanup;
	}
	pthread_rwlock_wrlock(&s->lock);
	rc = index_add_new(s, old, item);
	if (rc) {
		pthread_rwlock_unlock(&s->lock);
		rc = bw_error_set(err, rc, "store: out of memory indexing %s/%s", k.ns, k.name);
		goto cleanup;
	}
	if (grown.slots) {
		retired = s->items.slots;
		s->items = grown;
		grown.slots = NULL;
	}
	if (old)
		s->items.slots[slot] = item;
	else
		ptab_put(&s->items, item, item->hash);
	index_finish(s, old, item);
	pthread_rwlock_unlock(&s->lock);
	result.event = old ? BW_STORE_UPDATED : BW_STORE_ADDED;
	result.old_item = old ? item_of(old) : NULL; /* the store's reference */
	result.new_item = hdr_take(item);
	item = NULL;
cleanup:
	pthread_mutex_unlock(&s->write_lock);
	free(retired);
	free(grown.slots);
	hdr_put(item);
	if (change)
		*change = result;
	else
		bw_store_change_release(&result);
	return rc;
}

const void *bw_store_delete(struct bw_store *s, const char *ns, const char *name)
{
	struct item_hdr *old = NULL;
	struct key k;
	size_t slot;

	if (!name || key_from_names(ns, name, strlen(name), &k))
		return NULL;
	pthread_mutex_lock(&s->write_lock);
	if (table_get(&s->items, &k, &slot))
		old = table_take(s, slot);
	pthread_mutex_unlock(&s->write_lock);
	return old ? item_of(old) : NULL;
}

static const void *get_key(struct bw_store *s, const struct key *k)
{
	const void *item;

	pthread_rwlock_rdlock(&s->lock);
	item = hdr_take(table_get(&s->items, k, NULL));
	pthread_rwlock_unlock(&s->lock);
	return item;
}

const void *bw_store_get(struct bw_store *s, const char *ns, const char *name)
{
	struct key k;

	if (!name || key_from_names(ns, name, strlen(name), &k))
		return NULL;
	return get_key(s, &k);
}

const void *bw_store_get_key(struct bw_store *s, const char *key)
{
	const char *slash;
	struct key k;

	if (!key)
		return NULL;
	slash = strchr(key, '/');
	if (!slash)
		return bw_store_get(s, NULL, key);
	if (slash - key > KEY_LEN_MAX || strlen(slash + 1) > KEY_LEN_MAX)
		return NULL;
	k.ns = key;
	k.ns_len = (size_t)(slash - key);
	k.name = slash + 1;
	k.name_len = strlen(k.name);
	k.hash = key_hash(k.ns, k.ns_len, k.name, k.name_len);
	return get_key(s, &k);
}

size_t bw_store_count(struct bw_store *s)
{
	size_t n;

	pthread_rwlock_rdlock(&s->lock);
	n = s->items.count;
	pthread_rwlock_unlock(&s->lock);
	return n;
}

static int in_namespace(const struct item_hdr *h, const char *ns, size_t ns_len)
{
	return !ns || (h->ns_len == ns_len && memcmp(hdr_ns(h), ns, ns_len) == 0);
}

int bw_store_list(struct bw_store *s, const char *ns, struct bw_store_items *out,
		  struct bw_error *err)
{
	size_t n = 0, ns_len = ns ? strlen(ns) : 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; s->items.slots && i <= s->items.mask; i++) {
		if (s->items.slots[i] && in_namespace(s->items.slots[i], ns, ns_len))
			n++;
	}
	if (!n)
		goto cleanup;
	out->v = malloc(n * sizeof(*out->v));
	if (!out->v) {
		rc = bw_error_set(err, BW_ENOMEM, "store: out of memory listing %zu items", n);
		goto cleanup;
	}
	for (size_t i = 0; i <= s->items.mask; i++) {
		if (s->items.slots[i] && in_namespace(s->items.slots[i], ns, ns_len))
			out->v[out->count++] = hdr_take(s->items.slots[i]);
	}
cleanup:
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int bw_store_by_index(struct bw_store *s, const char *index_name, const char *value,
		      struct bw_store_items *out, struct bw_error *err)
{
	struct index *ix = NULL;
	struct bucket *b;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; index_name && i < s->n_indexes; i++) {
		if (strcmp(s->indexes[i].name, index_name) == 0)
			ix = &s->indexes[i];
	}
	if (!ix)
		return bw_error_set(err, BW_ENOTFOUND, "store: no index named %s",
				    index_name ? index_name : "(null)");
	if (!value)
		return 0;
	pthread_rwlock_rdlock(&s->lock);
	b = bucket_find(ix, value, NULL);
	n = b ? bucket_count(b) : 0;
	if (!n)
		goto cleanup;
	out->v = malloc(n * sizeof(*out->v));
	if (!out->v) {
		rc = bw_error_set(err, BW_ENOMEM, "store: out of memory listing %zu items", n);
		goto cleanup;
	}
	if (!b->set.slots)
		out->v[out->count++] = hdr_take(b->one);
	for (size_t i = 0; b->set.slots && i <= b->set.mask; i++) {
		if (b->set.slots[i])
			out->v[out->count++] = hdr_take(b->set.slots[i]);
	}
cleanup:
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* Replace-all. */

int bw_store_replace_begin(struct bw_store *s, size_t size_hint, struct bw_store_replace **out,
			   struct bw_error *err)
{
	struct bw_store_replace *r;
	size_t cap = ptab_capacity_for(size_hint, TABLE_MIN);

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->staged.slots = calloc(cap, sizeof(void *)))) {
		free(r);
		return bw_error_set(err, BW_ENOMEM, "store: out of memory for a relist of %zu",
				    size_hint);
	}
	r->staged.mask = cap - 1;
	r->store = s;
	*out = r;
	return 0;
}

int bw_store_replace_add(struct bw_store_replace *r, const json_t *obj, struct bw_error *err)
{
	struct bw_store *s = r->store;
	struct item_hdr *cur, *item = NULL;
	struct key k;
	size_t slot;
	int rc;

	rc = key_from_object(obj, &k, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->write_lock);
	cur = table_get(&s->items, &k, NULL);
	if (cur && rv_same(cur, &k)) {
		item = cur;
		hdr_ref(item);
	} else {
		rc = run_projection(s, obj, &k, &item, err);
		if (rc)
			goto cleanup;
	}
	if (table_get(&r->staged, &k, &slot)) {
		/* the later object wins; a declined one leaves the key out */
		hdr_put(r->staged.slots[slot]);
		if (item)
			r->staged.slots[slot] = item;
		else
			ptab_remove_at(&r->staged, slot, item_hash);
		item = NULL;
		goto cleanup;
	}
	if (!item)
		goto cleanup;
	rc = ptab_reserve_one(&r->staged, TABLE_MIN, item_hash);
	if (rc) {
		rc = bw_error_set(err, BW_ENOMEM, "store: out of memory staging %s/%s", k.ns,
				  k.name);
		goto cleanup;
	}
	ptab_put(&r->staged, item, item->hash);
	item = NULL;
cleanup:
	pthread_mutex_unlock(&s->write_lock);
	hdr_put(item);
	return rc;
}

void bw_store_replace_abort(struct bw_store_replace *r)
{
	if (!r)
		return;
	table_release(&r->staged);
	free(r);
}

/* One pass over the staged table and the store's: counts the differences
 * into c while c->v is NULL, records them once it is allocated. */
static void diff_pass(struct bw_store *s, struct bw_store_replace *r, struct bw_store_changes *c)
{
	for (size_t i = 0; i <= r->staged.mask; i++) {
		struct item_hdr *e = r->staged.slots[i], *old;
		struct key k;

		if (!e)
			continue;
		k = key_of_hdr(e);
		old = table_get(&s->items, &k, NULL);
		if (!c->v) {
			if (!old)
				c->added++;
			else if (old != e)
				c->updated++;
			else
				c->unchanged++;
		} else if (old != e) {
			c->v[c->count].event = old ? BW_STORE_UPDATED : BW_STORE_ADDED;
			c->v[c->count].old_item = hdr_take(old);
			c->v[c->count++].new_item = hdr_take(e);
		}
	}
	for (size_t i = 0; s->items.slots && i <= s->items.mask; i++) {
		struct item_hdr *e = s->items.slots[i];
		struct key k;

		if (!e)
			continue;
		k = key_of_hdr(e);
		if (table_get(&r->staged, &k, NULL))
			continue;
		if (!c->v) {
			c->deleted++;
		} else {
			c->v[c->count].event = BW_STORE_DELETED;
			c->v[c->count++].old_item = hdr_take(e);
		}
	}
}

/* Fills c with the differences between the store's table and the staged
 * one: counted first, then recorded. Called by a writer holding write_lock. */
static int replace_diff(struct bw_store *s, struct bw_store_replace *r, struct bw_store_changes *c)
{
	size_t n;

	memset(c, 0, sizeof(*c));
	diff_pass(s, r, c);
	n = c->added + c->updated + c->deleted;
	if (!n)
		return 0;
	c->v = calloc(n, sizeof(*c->v));
	if (!c->v)
		return BW_ENOMEM;
	diff_pass(s, r, c);
	return 0;
}

static struct item_hdr *change_hdr(const void *item)
{
	return item ? hdr_of(item) : NULL;
}

int bw_store_replace_commit(struct bw_store_replace *r, struct bw_store_changes *changes,
			    struct bw_error *err)
{
	struct bw_store *s = r->store;
	struct bw_store_changes c = {0};
	struct ptab fitted, retired;
	size_t i = 0, cap;
	int rc;

	if (changes)
		memset(changes, 0, sizeof(*changes));
	pthread_mutex_lock(&s->write_lock);
	/* a size hint far too big leaves a sparse table: give it back */
	cap = ptab_capacity_for(r->staged.count, TABLE_MIN);
	if (cap <= r->staged.mask / 4 && !ptab_rebuild(&r->staged, cap, item_hash, &fitted)) {
		free(r->staged.slots);
		r->staged = fitted;
	}
	rc = replace_diff(s, r, &c);
	if (rc) {
		rc = bw_error_set(err, rc, "store: out of memory replacing %zu items",
				  r->staged.count);
		goto cleanup;
	}
	pthread_rwlock_wrlock(&s->lock);
	for (i = 0; i < c.count; i++) {
		rc = index_add_new(s, change_hdr(c.v[i].old_item), change_hdr(c.v[i].new_item));
		if (rc)
			break;
	}
	if (rc) {
		while (i-- > 0)
			index_undo_new(s, change_hdr(c.v[i].old_item), change_hdr(c.v[i].new_item));
		pthread_rwlock_unlock(&s->lock);
		rc = bw_error_set(err, rc, "store: out of memory indexing %zu items",
				  r->staged.count);
		goto cleanup;
	}
	for (i = 0; i < c.count; i++)
		index_finish(s, change_hdr(c.v[i].old_item), change_hdr(c.v[i].new_item));
	retired = s->items;
	s->items = r->staged;
	r->staged = retired; /* released below, dropping the old table's references */
	pthread_rwlock_unlock(&s->lock);
cleanup:
	pthread_mutex_unlock(&s->write_lock);
	bw_store_replace_abort(r);
	if (changes && !rc)
		*changes = c;
	else
		bw_store_changes_release(&c);
	return rc;
}

int bw_store_replace(struct bw_store *s, const json_t *items, struct bw_store_changes *changes,
		     struct bw_error *err)
{
	struct bw_store_replace *r = NULL;
	size_t i;
	json_t *obj;
	int rc;

	if (changes)
		memset(changes, 0, sizeof(*changes));
	if (!json_is_array(items))
		return bw_error_set(err, BW_EINVAL, "store: a relist needs an array of items");
	rc = bw_store_replace_begin(s, json_array_size(items), &r, err);
	if (rc)
		return rc;
	json_array_foreach(items, i, obj)
	{
		rc = bw_store_replace_add(r, obj, err);
		if (rc) {
			bw_error_prefix(err, "item %zu", i);
			bw_store_replace_abort(r);
			return rc;
		}
	}
	return bw_store_replace_commit(r, changes, err);
}

/* Releasing. */

void bw_store_change_release(struct bw_store_change *change)
{
	if (!change)
		return;
	bw_store_item_put(change->old_item);
	bw_store_item_put(change->new_item);
	memset(change, 0, sizeof(*change));
}

void bw_store_changes_release(struct bw_store_changes *changes)
{
	if (!changes)
		return;
	for (size_t i = 0; i < changes->count; i++)
		bw_store_change_release(&changes->v[i]);
	free(changes->v);
	memset(changes, 0, sizeof(*changes));
}

void bw_store_items_release(struct bw_store_items *items)
{
	if (!items)
		return;
	for (size_t i = 0; i < items->count; i++)
		bw_store_item_put(items->v[i]);
	free(items->v);
	memset(items, 0, sizeof(*items));
}

/* Item accessors. */

const void *bw_store_item_ref(const void *item)
{
	if (item)
		hdr_ref(hdr_of(item));
	return item;
}

void bw_store_item_put(const void *item)
{
	if (item)
		hdr_put(hdr_of(item));
}

const char *bw_store_item_namespace(const void *item)
{
	return hdr_ns(hdr_of(item));
}

const char *bw_store_item_name(const void *item)
{
	return hdr_name(hdr_of(item));
}

const char *bw_store_item_resource_version(const void *item)
{
	return hdr_rv(hdr_of(item));
}

size_t bw_store_item_key(const void *item, char *buf, size_t size)
{
	const struct item_hdr *h = hdr_of(item);
	int n;

	if (h->ns_len)
		n = snprintf(buf, size, "%s/%s", hdr_ns(h), hdr_name(h));
	else
		n = snprintf(buf, size, "%s", hdr_name(h));
	return n < 0 ? 0 : (size_t)n;
}
