/*
 * The object store under an informer: an in-memory cache of Kubernetes
 * objects keyed by namespace/name, with secondary indexes (client-go's
 * thread-safe store and indexer), built for memory.
 *
 * The store never keeps the JSON it is given. A projection callback turns
 * each object into a small caller-defined struct (an "item"): for a
 * Deployment, its generation, replica counts and image. The item, its
 * bookkeeping (reference count, hash) and its strings (namespace, name,
 * resourceVersion, and whatever the projection packs) are ONE allocation,
 * made through the struct bw_store_pack the projection is handed:
 *
 *   static void *deployment_project(struct bw_store_pack *pack, const json_t *obj,
 *                                   void *arg)
 *   {
 *           const char *image = ...;   (read from obj with jansson)
 *           struct deployment *d;
 *
 *           bw_store_pack_reserve_str(pack, image);        first reserve sizes
 *           d = bw_store_pack_alloc(pack, sizeof(*d));     then allocate once
 *           if (!d)
 *                   return NULL;
 *           d->image = bw_store_pack_str(pack, image);     then copy
 *           d->generation = ...;
 *           return d;
 *   }
 *
 * The namespace, name and resourceVersion are packed by the store itself:
 * read them with bw_store_item_namespace() and friends. An item is a plain
 * pointer to the projection's struct; it must not own other allocations
 * (everything it points to is inside its own block), because the store frees
 * it with one free() when its last reference goes.
 *
 * Ownership (as jansson says it): items are immutable once stored and
 * reference-counted. Every function returning an item or a list of items
 * returns NEW references: the caller releases each with bw_store_item_put()
 * (or the list with bw_store_items_release()). A reference stays valid after
 * the store replaced or deleted the object, and after bw_store_free().
 * Strings read from an item are borrowed and live as long as the reference.
 * JSON arguments are borrowed: the store reads them during the call only.
 *
 * Thread-safety: every bw_store_* function except bw_store_free() may be
 * called from any thread at any time. Readers (get, list, by_index, count)
 * share a pthread rwlock and never block each other; writers (upsert,
 * delete, replace) are serialised by a mutex, run the projection and build
 * any new table outside the rwlock, and take it for writing only to swap
 * pointers, so readers wait microseconds. bw_store_item_ref/put use atomic
 * counts and may be called from any thread without the store. The
 * projection and index functions run on the writer's thread, one at a time.
 * bw_store_free() must not race with other calls on the same store.
 */
#ifndef BW_STORE_H
#define BW_STORE_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"

struct bw_store;
struct bw_store_pack;
struct bw_store_replace;

/* Most index values one item may have in one index; more are ignored. */
#define BW_STORE_INDEX_MAX 16

/*
 * Turns a Kubernetes object into an item allocated with
 * bw_store_pack_alloc(pack, ...), or returns NULL to mean "do not cache this
 * object" (a NULL after a failed bw_store_pack_alloc() is reported as
 * BW_ENOMEM by the store). obj is borrowed; arg is the one given to
 * bw_store_new().
 */
typedef void *bw_store_project_fn(struct bw_store_pack *pack, const json_t *obj, void *arg);

/*
 * Writes up to max index values of item into values[] and returns how many.
 * The strings are borrowed: they must point into the item (or be static), and
 * the function must give the same answer every time for the same item, since
 * the store calls it again to take the item out of its buckets. Duplicate
 * values are allowed and count once.
 */
typedef size_t bw_store_index_fn(const void *item, const char **values, size_t max, void *arg);

/* One named index, given to bw_store_new() (which copies the name). */
struct bw_store_index {
	const char *name; /* e.g. "by-owner", "by-label:app" */
	bw_store_index_fn *fn;
	void *arg;
};

/* A ready-made index function: the item's namespace. */
size_t bw_store_index_by_namespace(const void *item, const char **values, size_t max, void *arg);

/* What a write did to one key. */
enum bw_store_event {
	BW_STORE_NONE = 0,
	BW_STORE_ADDED = 1,   /* new key: new_item set */
	BW_STORE_UPDATED = 2, /* resourceVersion changed: old_item and new_item set */
	BW_STORE_UNCHANGED =
	    3, /* same resourceVersion: nothing stored; both set to the cached item */
	BW_STORE_DELETED =
	    4, /* key removed (or the projection declined a cached object): old_item */
	BW_STORE_IGNORED = 5, /* the projection declined an object that was not cached: neither */
};

/* One change. Holds a reference to each item set; release with
 * bw_store_change_release(). */
struct bw_store_change {
	enum bw_store_event event;
	const void *old_item;
	const void *new_item;
};

/* The changes a replace made: adds, updates and deletes (not unchanged keys,
 * which are only counted). Release with bw_store_changes_release(). */
struct bw_store_changes {
	struct bw_store_change *v; /* count entries; NULL when count is 0 */
	size_t count;
	size_t added, updated, deleted, unchanged;
};

/* A snapshot list of items: count new references. Release with
 * bw_store_items_release(). */
struct bw_store_items {
	const void **v; /* NULL when count is 0 */
	size_t count;
};

/*
 * A new, empty store in *out. project is required; arg is passed to it.
 * indexes may be NULL when n_indexes is 0; their names must be distinct.
 * On failure (BW_EINVAL, BW_ENOMEM) *out is NULL and err says why.
 */
int bw_store_new(struct bw_store **out, bw_store_project_fn *project, void *arg,
		 const struct bw_store_index *indexes, size_t n_indexes, struct bw_error *err);

/* Drops the store's references and frees it; items the caller still holds
 * stay valid. NULL is a no-op. Not to be called while other threads use it. */
void bw_store_free(struct bw_store *store);

/*
 * Inserts or replaces the object obj (a Kubernetes object with
 * metadata.name; metadata.namespace absent or "" for cluster-scoped ones).
 * When the key is cached with the same (non-empty) resourceVersion, nothing
 * is projected and the event is UNCHANGED. Resource versions are compared
 * for equality only. change (may be NULL) receives the event and references
 * to the old and new items (release with bw_store_change_release()).
 * Returns 0, or BW_EINVAL (no metadata.name, a name over 65535 bytes, a
 * projection misusing bw_store_pack), BW_ETOOBIG (an item over 16 MiB) or
 * BW_ENOMEM; on failure the store is as it was and *change is empty.
 */
int bw_store_upsert(struct bw_store *store, const json_t *obj, struct bw_store_change *change,
		    struct bw_error *err);

/* Removes namespace/name (ns NULL or "" for cluster-scoped) and returns
 * the store's reference to the old item (the caller puts it), or NULL when
 * the key was not cached. Cannot fail. */
const void *bw_store_delete(struct bw_store *store, const char *ns, const char *name);

/* A new reference to the item under ns/name (ns NULL or "" for
 * cluster-scoped), or NULL. */
const void *bw_store_get(struct bw_store *store, const char *ns, const char *name);

/* The same, for a work-queue key "namespace/name" or "name" (cluster-scoped). */
const void *bw_store_get_key(struct bw_store *store, const char *key);

/* The number of cached items. */
size_t bw_store_count(struct bw_store *store);

/* A snapshot of every item (ns NULL) or of one namespace's items ("" for
 * cluster-scoped ones), in no particular order. *out is filled with new
 * references. Returns 0 or BW_ENOMEM (then *out is empty). */
int bw_store_list(struct bw_store *store, const char *ns, struct bw_store_items *out,
		  struct bw_error *err);

/* A snapshot of the items whose index index_name has value among its values.
 * Returns 0 (an empty list when nothing matches), BW_ENOTFOUND for an index
 * not registered, or BW_ENOMEM. */
int bw_store_by_index(struct bw_store *store, const char *index_name, const char *value,
		      struct bw_store_items *out, struct bw_error *err);

/*
 * Replace-all, for a relist: the store becomes exactly the objects of items
 * (a JSON array, e.g. a List's "items"), and *changes (may be NULL) reports
 * the keys added, updated (resourceVersion changed) and deleted (cached
 * before, absent now), so an informer can emit delete events for objects
 * that vanished while its watch was down. Unchanged objects keep their item
 * and are not projected again. When a key appears twice, the later one wins.
 * Returns 0, BW_EINVAL (not an array, an object without a name) or BW_ENOMEM;
 * on failure the store is as it was.
 */
int bw_store_replace(struct bw_store *store, const json_t *items, struct bw_store_changes *changes,
		     struct bw_error *err);

/*
 * The same, fed one object at a time, for paginated lists (limit/continue)
 * whose pages are freed as they are read: begin, add each object, then
 * commit. Objects are projected at add time (unchanged ones take a reference
 * to the cached item instead), so a relist never holds more than one page of
 * JSON. Other writers may run between the calls; commit compares the staged
 * set with the store as it is then. commit and abort free *replace (commit
 * even when it fails, leaving the store as it was). begin returns 0 or
 * BW_ENOMEM; add returns 0, BW_EINVAL or BW_ENOMEM (the staged set is kept
 * as it was, so the caller may abort or go on). Use one replace from one
 * thread at a time; the store itself stays usable from others.
 */
int bw_store_replace_begin(struct bw_store *store, size_t size_hint,
			   struct bw_store_replace **replace, struct bw_error *err);
int bw_store_replace_add(struct bw_store_replace *replace, const json_t *obj, struct bw_error *err);
int bw_store_replace_commit(struct bw_store_replace *replace, struct bw_store_changes *changes,
			    struct bw_error *err);
void bw_store_replace_abort(struct bw_store_replace *replace);

/* Puts the references a change or changes hold and clears it. NULL is a no-op. */
void bw_store_change_release(struct bw_store_change *change);
void bw_store_changes_release(struct bw_store_changes *changes);

/* Puts every reference of a list and clears it. NULL is a no-op. */
void bw_store_items_release(struct bw_store_items *items);

/* Items. item is a pointer returned by the store (or by bw_store_pack_alloc
 * inside a projection). */

/* Takes a new reference and returns item. NULL is returned as NULL. */
const void *bw_store_item_ref(const void *item);
/* Drops a reference; the last one frees the item. NULL is a no-op. */
void bw_store_item_put(const void *item);

/* The item's namespace ("" for cluster-scoped), name and resourceVersion
 * ("" when the object had none); borrowed, valid while a reference is held. */
const char *bw_store_item_namespace(const void *item);
const char *bw_store_item_name(const void *item);
const char *bw_store_item_resource_version(const void *item);

/* Writes the work-queue key "namespace/name" (or "name" when cluster-scoped)
 * into buf as snprintf does, and returns the length it needs. */
size_t bw_store_item_key(const void *item, char *buf, size_t size);

/*
 * Packing, inside a projection: reserve the sizes of what the item will hold
 * beyond its struct, allocate it once, then copy into the reserved space.
 * Nothing here needs a cleanup: the store frees a block the projection
 * allocated but did not return.
 */

/* Reserves room for a copy of s (its length and the NUL); NULL reserves none. */
void bw_store_pack_reserve_str(struct bw_store_pack *pack, const char *s);
/* Reserves size bytes aligned for any pointer or integer (for arrays). */
void bw_store_pack_reserve(struct bw_store_pack *pack, size_t size);
/* Allocates the item: size bytes of zeroes, aligned as malloc's, followed by
 * the room reserved. Once per projection; NULL when out of memory or when
 * the item would pass 16 MiB (the projection then returns NULL, and the
 * store reports BW_ENOMEM or BW_ETOOBIG rather than skipping the object). */
void *bw_store_pack_alloc(struct bw_store_pack *pack, size_t size);
/* A copy of s in the room reserved (NULL for NULL, or when more is asked than
 * was reserved: a bug in the projection, reported as BW_EINVAL). */
const char *bw_store_pack_str(struct bw_store_pack *pack, const char *s);
/* size zeroed bytes of the aligned room reserved (NULL as above). */
void *bw_store_pack_mem(struct bw_store_pack *pack, size_t size);

#endif
