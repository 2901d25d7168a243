/* Unit tests of the object store (lib/store.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "store.h"

/* A Deployment as the tests cache it. */
struct deploy {
	int64_t generation;
	int32_t replicas, ready;
	const char *image;
	const char *app;   /* label app, or NULL */
	const char *owner; /* first owner uid, or NULL */
};

struct counters {
	int projected;
};

static void *deploy_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct counters *c = arg;
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *spec = json_object_get(obj, "spec");
	const char *image, *app, *owner;
	struct deploy *d;

	if (c)
		c->projected++;
	/* objects labelled skip=yes are not cached */
	if (json_is_string(json_object_get(json_object_get(meta, "labels"), "skip")))
		return NULL;
	image = json_string_value(json_object_get(spec, "image"));
	app = json_string_value(json_object_get(json_object_get(meta, "labels"), "app"));
	owner = json_string_value(
	    json_object_get(json_array_get(json_object_get(meta, "ownerReferences"), 0), "uid"));
	bw_store_pack_reserve_str(pack, image);
	bw_store_pack_reserve_str(pack, app);
	bw_store_pack_reserve_str(pack, owner);
	d = bw_store_pack_alloc(pack, sizeof(*d));
	if (!d)
		return NULL;
	d->generation = json_integer_value(json_object_get(meta, "generation"));
	d->replicas = (int32_t)json_integer_value(json_object_get(spec, "replicas"));
	d->ready = (int32_t)json_integer_value(
	    json_object_get(json_object_get(obj, "status"), "readyReplicas"));
	d->image = bw_store_pack_str(pack, image);
	d->app = bw_store_pack_str(pack, app);
	d->owner = bw_store_pack_str(pack, owner);
	return d;
}

static size_t index_app(const void *item, const char **values, size_t max, void *arg)
{
	const struct deploy *d = item;

	(void)arg;
	if (!d->app || max < 1)
		return 0;
	values[0] = d->app;
	return 1;
}

static size_t index_owner(const void *item, const char **values, size_t max, void *arg)
{
	const struct deploy *d = item;

	(void)arg;
	if (!d->owner || max < 2)
		return 0;
	/* twice on purpose: duplicate values count once */
	values[0] = d->owner;
	values[1] = d->owner;
	return 2;
}

static const struct bw_store_index store_indexes[] = {
    {"by-app", index_app, NULL},
    {"by-owner", index_owner, NULL},
    {"by-namespace", bw_store_index_by_namespace, NULL},
};

#define N_INDEXES (sizeof(store_indexes) / sizeof(store_indexes[0]))

/* A Deployment object; ns, app and owner may be NULL. */
static json_t *deployment(const char *ns, const char *name, const char *rv, long long gen,
			  const char *image, const char *app, const char *owner)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:I, s:{}}, s:{s:i, s:s}, s:{s:i}}",
				"apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name",
				name, "generation", (json_int_t)gen, "labels", "spec", "replicas",
				3, "image", image, "status", "readyReplicas", 2);
	json_t *meta = json_object_get(obj, "metadata");

	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	if (rv)
		json_object_set_new(meta, "resourceVersion", json_string(rv));
	if (app)
		json_object_set_new(json_object_get(meta, "labels"), "app", json_string(app));
	if (owner)
		json_object_set_new(meta, "ownerReferences",
				    json_pack("[{s:s, s:s}]", "kind", "Service", "uid", owner));
	return obj;
}

/* Upserts a new object and returns the event (releasing the change). */
static int upsert(struct bw_store *s, json_t *obj)
{
	struct bw_store_change c;
	struct bw_error err;
	int rc = bw_store_upsert(s, obj, &c, &err);
	int event = rc ? rc : (int)c.event;

	if (rc)
		printf("# upsert: %s\n", err.message);
	bw_store_change_release(&c);
	json_decref(obj);
	return event;
}

static struct bw_store *new_store(struct counters *c)
{
	struct bw_error err;
	struct bw_store *s;

	if (bw_store_new(&s, deploy_project, c, store_indexes, N_INDEXES, &err) != 0)
		printf("# bw_store_new: %s\n", err.message);
	return s;
}

/* The names of a list, sorted and joined with spaces, for comparisons. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *names_of(const struct bw_store_items *items)
{
	static char buf[1024];
	char *keys[64];
	size_t n = items->count < 64 ? items->count : 64, len = 0;

	for (size_t i = 0; i < n; i++) {
		keys[i] = malloc(300);
		bw_store_item_key(items->v[i], keys[i], 300);
	}
	qsort(keys, n, sizeof(keys[0]), cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		len +=
		    (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? " " : "", keys[i]);
		free(keys[i]);
	}
	return buf;
}

static const char *by_index(struct bw_store *s, const char *index, const char *value)
{
	struct bw_store_items items;
	const char *names;

	if (bw_store_by_index(s, index, value, &items, NULL))
		return "(error)";
	names = names_of(&items);
	bw_store_items_release(&items);
	return names;
}

static const char *list_ns(struct bw_store *s, const char *ns)
{
	struct bw_store_items items;
	const char *names;

	if (bw_store_list(s, ns, &items, NULL))
		return "(error)";
	names = names_of(&items);
	bw_store_items_release(&items);
	return names;
}

static void test_new(void)
{
	struct bw_error err;
	const struct bw_store_index twice[] = {{"a", index_app, NULL}, {"a", index_app, NULL}};
	const struct bw_store_index unnamed[] = {{"", index_app, NULL}};
	struct bw_store *s = (struct bw_store *)&err; /* not NULL before the call */

	CHECK_INT(BW_EINVAL, bw_store_new(&s, NULL, NULL, NULL, 0, &err),
		  "new: a projection is required");
	CHECK(s == NULL, "new: no store on failure");
	CHECK_INT(BW_EINVAL, err.code, "new: no projection is BW_EINVAL");
	CHECK(bw_store_new(&s, deploy_project, NULL, twice, 2, &err) != 0,
	      "new: duplicate index names");
	CHECK(strstr(err.message, "two indexes named a") != NULL, "new: message names the index");
	CHECK(bw_store_new(&s, deploy_project, NULL, unnamed, 1, &err) != 0,
	      "new: an unnamed index");
	bw_store_free(NULL);
}

static void test_add_update_unchanged(void)
{
	struct counters cnt = {0};
	struct bw_store *s = new_store(&cnt);
	struct bw_store_change c;
	struct bw_error err;
	const struct deploy *d, *old;
	char key[64];
	json_t *obj;

	CHECK(s != NULL, "add: store made");
	obj = deployment("shop", "orders", "10", 1, "orders:1", "orders", "uid-1");
	CHECK_INT(0, bw_store_upsert(s, obj, &c, &err), "add: upsert succeeds");
	CHECK_INT(BW_STORE_ADDED, c.event, "add: event ADDED");
	CHECK(c.old_item == NULL, "add: no old item");
	d = c.new_item;
	CHECK(d && d->generation == 1 && d->replicas == 3 && d->ready == 2,
	      "add: projected numbers");
	CHECK_STR("orders:1", d ? d->image : NULL, "add: packed image");
	CHECK_STR("shop", bw_store_item_namespace(d), "add: namespace accessor");
	CHECK_STR("orders", bw_store_item_name(d), "add: name accessor");
	CHECK_STR("10", bw_store_item_resource_version(d), "add: resourceVersion accessor");
	CHECK_INT(11, bw_store_item_key(d, key, sizeof(key)), "add: key length");
	CHECK_STR("shop/orders", key, "add: work-queue key");
	bw_store_change_release(&c);
	CHECK(c.new_item == NULL && c.event == BW_STORE_NONE, "add: release clears the change");
	json_decref(obj);

	/* same resourceVersion: skipped, nothing projected */
	cnt.projected = 0;
	obj = deployment("shop", "orders", "10", 99, "orders:9", "orders", "uid-1");
	CHECK_INT(0, bw_store_upsert(s, obj, &c, &err), "unchanged: upsert succeeds");
	CHECK_INT(BW_STORE_UNCHANGED, c.event, "unchanged: event UNCHANGED");
	CHECK_INT(0, cnt.projected, "unchanged: not projected again");
	CHECK(c.old_item && c.old_item == c.new_item, "unchanged: old and new are the cached item");
	CHECK_INT(1, ((const struct deploy *)c.new_item)->generation, "unchanged: kept the item");
	bw_store_change_release(&c);
	json_decref(obj);

	/* a new resourceVersion replaces it; an old reference stays valid */
	old = bw_store_get(s, "shop", "orders");
	CHECK(old != NULL, "update: get before the update");
	obj = deployment("shop", "orders", "11", 2, "orders:2", "orders", "uid-1");
	CHECK_INT(0, bw_store_upsert(s, obj, &c, &err), "update: upsert succeeds");
	CHECK_INT(BW_STORE_UPDATED, c.event, "update: event UPDATED");
	CHECK(c.old_item == old, "update: old item is the one cached before");
	CHECK_INT(2, ((const struct deploy *)c.new_item)->generation, "update: new item");
	bw_store_change_release(&c);
	json_decref(obj);
	d = bw_store_get(s, "shop", "orders");
	CHECK_STR("orders:2", d ? d->image : NULL, "update: get returns the new item");
	CHECK_STR("11", bw_store_item_resource_version(d), "update: new resourceVersion");
	CHECK_STR("orders:1", old ? old->image : NULL, "update: old reference still readable");
	CHECK_STR("10", bw_store_item_resource_version(old), "update: old resourceVersion");
	CHECK(bw_store_item_ref(old) == old, "ref returns the item");
	bw_store_item_put(old);
	bw_store_item_put(old);
	bw_store_item_put(d);
	bw_store_item_put(NULL);

	/* an empty resourceVersion never counts as unchanged */
	CHECK_INT(BW_STORE_ADDED, upsert(s, deployment("shop", "norv", NULL, 1, "a", NULL, NULL)),
		  "no rv: added");
	CHECK_INT(BW_STORE_UPDATED, upsert(s, deployment("shop", "norv", NULL, 2, "a", NULL, NULL)),
		  "no rv: always an update");
	CHECK_INT(2, bw_store_count(s), "count after updates");

	/* no change asked for: references released by the store */
	obj = deployment("shop", "orders", "12", 3, "orders:3", "orders", "uid-1");
	CHECK_INT(0, bw_store_upsert(s, obj, NULL, NULL), "update with a NULL change");
	json_decref(obj);

	/* malformed objects */
	obj = json_pack("{s:{s:s}}", "metadata", "namespace", "shop");
	CHECK_INT(BW_EINVAL, bw_store_upsert(s, obj, &c, &err), "no name: BW_EINVAL");
	CHECK(strstr(err.message, "metadata.name") != NULL, "no name: message names the field");
	CHECK(c.event == BW_STORE_NONE && !c.old_item && !c.new_item, "no name: change empty");
	json_decref(obj);
	obj = json_string("not an object");
	CHECK_INT(BW_EINVAL, bw_store_upsert(s, obj, NULL, &err), "not an object: BW_EINVAL");
	json_decref(obj);
	CHECK_INT(2, bw_store_count(s), "count unchanged by errors");
	bw_store_free(s);
}

static void test_delete_and_projection_null(void)
{
	struct bw_store *s = new_store(NULL);
	struct bw_store_change c;
	const struct deploy *held, *gone;
	json_t *obj;

	upsert(s, deployment("shop", "users", "1", 1, "users:1", "users", "uid-u"));
	held = bw_store_get(s, "shop", "users");
	gone = bw_store_delete(s, "shop", "users");
	CHECK(gone != NULL && gone == held, "delete: returns the old item");
	CHECK(bw_store_get(s, "shop", "users") == NULL, "delete: get finds nothing");
	CHECK(bw_store_delete(s, "shop", "users") == NULL, "delete: twice returns NULL");
	CHECK(bw_store_delete(s, "other", "users") == NULL, "delete: unknown key is NULL");
	CHECK_STR("users:1", held->image, "delete: held reference still readable");
	CHECK_STR("", by_index(s, "by-app", "users"), "delete: gone from the index");
	bw_store_item_put(gone);
	bw_store_item_put(held);
	CHECK_INT(0, bw_store_count(s), "delete: count 0");

	/* the projection declines an object that is not cached */
	obj = deployment("shop", "skipped", "1", 1, "x", NULL, NULL);
	json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), "skip",
			    json_string("yes"));
	CHECK_INT(0, bw_store_upsert(s, obj, &c, NULL), "declined: upsert succeeds");
	CHECK_INT(BW_STORE_IGNORED, c.event, "declined: IGNORED");
	CHECK(!c.old_item && !c.new_item, "declined: no items");
	CHECK_INT(0, bw_store_count(s), "declined: not cached");
	json_decref(obj);

	/* and one that is cached: it leaves the store */
	upsert(s, deployment("shop", "skipped", "1", 1, "x", "skipped", NULL));
	CHECK_STR("shop/skipped", by_index(s, "by-app", "skipped"), "declined later: indexed");
	obj = deployment("shop", "skipped", "2", 2, "x", "skipped", NULL);
	json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "labels"), "skip",
			    json_string("yes"));
	CHECK_INT(0, bw_store_upsert(s, obj, &c, NULL), "declined later: upsert succeeds");
	CHECK_INT(BW_STORE_DELETED, c.event, "declined later: DELETED");
	CHECK(c.old_item && !c.new_item, "declined later: old item given");
	CHECK(bw_store_get(s, "shop", "skipped") == NULL, "declined later: gone");
	CHECK_STR("", by_index(s, "by-app", "skipped"), "declined later: out of the index");
	bw_store_change_release(&c);
	json_decref(obj);
	bw_store_free(s);
}

static void test_cluster_scoped_and_lists(void)
{
	struct bw_store *s = new_store(NULL);
	const struct deploy *d;
	char key[64];

	upsert(s, deployment(NULL, "global", "1", 1, "g", NULL, NULL));
	upsert(s, deployment("shop", "global", "1", 1, "s", NULL, NULL));
	upsert(s, deployment("shop", "orders", "1", 1, "o", NULL, NULL));
	upsert(s, deployment("dev", "orders", "1", 1, "d", NULL, NULL));
	CHECK_INT(4, bw_store_count(s), "scoped: four keys");
	d = bw_store_get(s, NULL, "global");
	CHECK_STR("g", d ? d->image : NULL, "scoped: get with NULL namespace");
	CHECK_STR("", bw_store_item_namespace(d), "scoped: empty namespace");
	CHECK_INT(6, bw_store_item_key(d, key, sizeof(key)), "scoped: key length");
	CHECK_STR("global", key, "scoped: key has no slash");
	bw_store_item_put(d);
	d = bw_store_get(s, "", "global");
	CHECK_STR("g", d ? d->image : NULL, "scoped: get with empty namespace");
	bw_store_item_put(d);
	d = bw_store_get_key(s, "global");
	CHECK_STR("g", d ? d->image : NULL, "scoped: get_key without a slash");
	bw_store_item_put(d);
	d = bw_store_get_key(s, "shop/global");
	CHECK_STR("s", d ? d->image : NULL, "get_key with a namespace");
	bw_store_item_put(d);
	CHECK(bw_store_get_key(s, "nope/global") == NULL, "get_key: unknown namespace");
	CHECK(bw_store_get(s, "shop", NULL) == NULL, "get: NULL name");

	CHECK_STR("dev/orders global shop/global shop/orders", list_ns(s, NULL), "list: all");
	CHECK_STR("shop/global shop/orders", list_ns(s, "shop"), "list: one namespace");
	CHECK_STR("global", list_ns(s, ""), "list: cluster-scoped only");
	CHECK_STR("", list_ns(s, "none"), "list: empty namespace");
	CHECK_STR("shop/global shop/orders", by_index(s, "by-namespace", "shop"),
		  "by_index: built-in namespace index");
	bw_store_free(s);
}

static void test_indexes(void)
{
	struct bw_store *s = new_store(NULL);
	struct bw_store_items items;
	struct bw_error err;

	upsert(s, deployment("shop", "a", "1", 1, "i", "web", "o1"));
	upsert(s, deployment("shop", "b", "1", 1, "i", "web", "o1"));
	upsert(s, deployment("shop", "c", "1", 1, "i", "api", "o2"));
	CHECK_STR("shop/a shop/b", by_index(s, "by-app", "web"), "index: two in a bucket");
	CHECK_STR("shop/c", by_index(s, "by-app", "api"), "index: one in a bucket");
	CHECK_STR("shop/a shop/b", by_index(s, "by-owner", "o1"), "index: duplicate values");
	CHECK_STR("", by_index(s, "by-app", "none"), "index: no such value");
	CHECK_INT(BW_ENOTFOUND, bw_store_by_index(s, "by-nothing", "x", &items, &err),
		  "index: unknown index is BW_ENOTFOUND");
	CHECK(items.count == 0 && items.v == NULL, "index: unknown index gives an empty list");

	/* a value change moves the item between buckets */
	upsert(s, deployment("shop", "a", "2", 2, "i", "api", "o1"));
	CHECK_STR("shop/b", by_index(s, "by-app", "web"), "update: left the old bucket");
	CHECK_STR("shop/a shop/c", by_index(s, "by-app", "api"), "update: joined the new one");
	CHECK_STR("shop/a shop/b", by_index(s, "by-owner", "o1"), "update: unchanged value kept");
	/* and the new item, not the old one, is what the bucket holds */
	bw_store_by_index(s, "by-owner", "o1", &items, NULL);
	for (size_t i = 0; i < items.count; i++) {
		const struct deploy *d = items.v[i];

		if (strcmp(bw_store_item_name(d), "a") == 0)
			CHECK_INT(2, d->generation, "update: bucket holds the new item");
	}
	bw_store_items_release(&items);

	/* a value dropped altogether */
	upsert(s, deployment("shop", "b", "2", 2, "i", NULL, "o1"));
	CHECK_STR("", by_index(s, "by-app", "web"), "update: empty bucket removed");
	upsert(s, deployment("shop", "b", "3", 3, "i", "web", "o3"));
	CHECK_STR("shop/b", by_index(s, "by-app", "web"), "update: bucket made again");
	CHECK_STR("shop/a", by_index(s, "by-owner", "o1"), "update: owner changed");
	CHECK_STR("shop/b", by_index(s, "by-owner", "o3"), "update: new owner");

	bw_store_item_put(bw_store_delete(s, "shop", "a"));
	CHECK_STR("shop/c", by_index(s, "by-app", "api"), "delete: left its bucket");
	CHECK_STR("", by_index(s, "by-owner", "o1"), "delete: last of a bucket");
	CHECK_STR("shop/b shop/c", by_index(s, "by-namespace", "shop"), "delete: namespace");

	/* many items in one bucket, then all but one leave */
	for (int i = 0; i < 100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%03d", i);
		upsert(s, deployment("many", name, "1", 1, "i", "bulk", NULL));
	}
	bw_store_by_index(s, "by-app", "bulk", &items, NULL);
	CHECK_INT(100, items.count, "bulk: a hundred in one bucket");
	bw_store_items_release(&items);
	for (int i = 1; i < 100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%03d", i);
		bw_store_item_put(bw_store_delete(s, "many", name));
	}
	CHECK_STR("many/m000", by_index(s, "by-app", "bulk"), "bulk: one left");
	upsert(s, deployment("many", "m000", "2", 2, "i", "bulk", NULL));
	CHECK_STR("many/m000", by_index(s, "by-app", "bulk"), "bulk: swapped in place");
	bw_store_free(s);
}

/* Finds the change for name in c, or NULL. */
static const struct bw_store_change *change_for(const struct bw_store_changes *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++) {
		const void *item = c->v[i].new_item ? c->v[i].new_item : c->v[i].old_item;

		if (strcmp(bw_store_item_name(item), name) == 0)
			return &c->v[i];
	}
	return NULL;
}

static void test_replace(void)
{
	struct counters cnt = {0};
	struct bw_store *s = new_store(&cnt);
	struct bw_store_changes c;
	const struct bw_store_change *ch;
	struct bw_store_replace *r;
	struct bw_error err;
	const struct deploy *held_b, *d;
	json_t *list;

	upsert(s, deployment("shop", "a", "1", 1, "a:1", "web", NULL));
	upsert(s, deployment("shop", "b", "1", 1, "b:1", "web", NULL));
	upsert(s, deployment("shop", "c", "1", 1, "c:1", "web", NULL));
	held_b = bw_store_get(s, "shop", "b");

	list = json_array();
	json_array_append_new(list, deployment("shop", "b", "1", 1, "b:1", "web", NULL));
	json_array_append_new(list, deployment("shop", "c", "2", 2, "c:2", "api", NULL));
	json_array_append_new(list, deployment("shop", "d", "1", 1, "d:1", "api", NULL));
	cnt.projected = 0;
	CHECK_INT(0, bw_store_replace(s, list, &c, &err), "replace: succeeds");
	json_decref(list);
	CHECK_INT(2, cnt.projected, "replace: unchanged object not projected");
	CHECK_INT(1, c.added, "replace: one added");
	CHECK_INT(1, c.updated, "replace: one updated");
	CHECK_INT(1, c.deleted, "replace: one deleted");
	CHECK_INT(1, c.unchanged, "replace: one unchanged");
	CHECK_INT(3, c.count, "replace: three changes listed");
	ch = change_for(&c, "a");
	CHECK(ch && ch->event == BW_STORE_DELETED && ch->old_item && !ch->new_item,
	      "replace: a deleted, with its old item");
	ch = change_for(&c, "c");
	CHECK(ch && ch->event == BW_STORE_UPDATED && ch->old_item && ch->new_item,
	      "replace: c updated");
	CHECK_STR("c:1", ch ? ((const struct deploy *)ch->old_item)->image : NULL,
		  "replace: c's old item");
	CHECK_STR("c:2", ch ? ((const struct deploy *)ch->new_item)->image : NULL,
		  "replace: c's new item");
	ch = change_for(&c, "d");
	CHECK(ch && ch->event == BW_STORE_ADDED && !ch->old_item && ch->new_item,
	      "replace: d added");
	CHECK(change_for(&c, "b") == NULL, "replace: b not reported");
	bw_store_changes_release(&c);
	CHECK(c.count == 0 && c.v == NULL, "replace: release clears");

	CHECK_INT(3, bw_store_count(s), "replace: count");
	CHECK(bw_store_get(s, "shop", "a") == NULL, "replace: a gone");
	d = bw_store_get(s, "shop", "b");
	CHECK(d == held_b, "replace: unchanged item kept as it was");
	bw_store_item_put(d);
	bw_store_item_put(held_b);
	CHECK_STR("shop/b", by_index(s, "by-app", "web"), "replace: index web");
	CHECK_STR("shop/c shop/d", by_index(s, "by-app", "api"), "replace: index api");

	/* the staged form, with a duplicate key (the later one wins) */
	CHECK_INT(0, bw_store_replace_begin(s, 1000, &r, &err), "staged: begin");
	list = deployment("shop", "d", "5", 5, "d:5", "api", NULL);
	CHECK_INT(0, bw_store_replace_add(r, list, &err), "staged: add d");
	json_decref(list);
	list = deployment("shop", "e", "1", 1, "e:1", "web", NULL);
	CHECK_INT(0, bw_store_replace_add(r, list, &err), "staged: add e");
	json_decref(list);
	list = deployment("shop", "d", "6", 6, "d:6", "web", NULL);
	CHECK_INT(0, bw_store_replace_add(r, list, &err), "staged: add d again");
	json_decref(list);
	list = json_pack("{s:{}}", "metadata");
	CHECK_INT(BW_EINVAL, bw_store_replace_add(r, list, &err), "staged: nameless is BW_EINVAL");
	json_decref(list);
	CHECK_INT(3, bw_store_count(s), "staged: store unchanged before commit");
	CHECK_INT(0, bw_store_replace_commit(r, &c, &err), "staged: commit");
	CHECK_INT(1, c.added, "staged: e added");
	CHECK_INT(1, c.updated, "staged: d updated");
	CHECK_INT(2, c.deleted, "staged: b and c deleted");
	bw_store_changes_release(&c);
	d = bw_store_get(s, "shop", "d");
	CHECK_STR("d:6", d ? d->image : NULL, "staged: the later duplicate won");
	bw_store_item_put(d);
	CHECK_STR("shop/d shop/e", by_index(s, "by-app", "web"), "staged: index web");
	CHECK_STR("", by_index(s, "by-app", "api"), "staged: index api emptied");

	/* abort leaves the store as it was */
	CHECK_INT(0, bw_store_replace_begin(s, 0, &r, &err), "abort: begin");
	list = deployment("shop", "z", "1", 1, "z", NULL, NULL);
	bw_store_replace_add(r, list, &err);
	json_decref(list);
	bw_store_replace_abort(r);
	CHECK_STR("shop/d shop/e", list_ns(s, NULL), "abort: store unchanged");

	/* a bad list changes nothing */
	list = json_pack("[{s:{s:s, s:s}}, {s:{}}]", "metadata", "name", "y", "resourceVersion",
			 "1", "metadata");
	CHECK_INT(BW_EINVAL, bw_store_replace(s, list, &c, &err), "bad list: BW_EINVAL");
	CHECK(strstr(err.message, "item 1") != NULL, "bad list: message names the item");
	CHECK_STR("shop/d shop/e", list_ns(s, NULL), "bad list: store unchanged");
	json_decref(list);
	list = json_object();
	CHECK_INT(BW_EINVAL, bw_store_replace(s, list, NULL, &err), "not an array: BW_EINVAL");
	json_decref(list);

	/* an empty list deletes everything */
	list = json_array();
	CHECK_INT(0, bw_store_replace(s, list, &c, &err), "empty list: succeeds");
	CHECK_INT(2, c.deleted, "empty list: both deleted");
	CHECK_INT(0, bw_store_count(s), "empty list: store empty");
	CHECK_STR("", by_index(s, "by-namespace", "shop"), "empty list: indexes empty");
	bw_store_changes_release(&c);
	json_decref(list);
	bw_store_free(s);
}

/* Projections that misuse the packer. */
static void *over_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct deploy *d;

	(void)obj;
	(void)arg;
	bw_store_pack_reserve_str(pack, "short");
	d = bw_store_pack_alloc(pack, sizeof(*d));
	if (!d)
		return NULL;
	d->image = bw_store_pack_str(pack, "much longer than reserved");
	return d;
}

static void *foreign_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	static struct deploy d;

	(void)pack;
	(void)obj;
	(void)arg;
	return &d;
}

static void *mem_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct deploy *d;
	uint64_t *numbers;

	(void)obj;
	(void)arg;
	bw_store_pack_reserve(pack, 3 * sizeof(*numbers));
	bw_store_pack_reserve_str(pack, "img");
	d = bw_store_pack_alloc(pack, 1); /* an odd size: the room after it stays aligned */
	if (!d)
		return NULL;
	d = bw_store_pack_alloc(pack, 1);
	return d;
}

static void test_pack(void)
{
	struct bw_error err;
	struct bw_store *s;
	json_t *obj = deployment("shop", "p", "1", 1, "i", NULL, NULL);

	bw_store_new(&s, over_project, NULL, NULL, 0, &err);
	CHECK_INT(BW_EINVAL, bw_store_upsert(s, obj, NULL, &err), "pack: over the reservation");
	CHECK(strstr(err.message, "misused") != NULL, "pack: message says so");
	CHECK_INT(0, bw_store_count(s), "pack: nothing cached");
	bw_store_free(s);
	bw_store_new(&s, foreign_project, NULL, NULL, 0, &err);
	CHECK_INT(BW_EINVAL, bw_store_upsert(s, obj, NULL, &err), "pack: a foreign pointer");
	bw_store_free(s);
	bw_store_new(&s, mem_project, NULL, NULL, 0, &err);
	CHECK_INT(BW_EINVAL, bw_store_upsert(s, obj, NULL, &err), "pack: two allocations");
	bw_store_free(s);
	json_decref(obj);
}

static void *array_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct labelled {
		char tag;
		uint64_t *numbers;
		const char *s;
	} * l;

	(void)obj;
	(void)arg;
	bw_store_pack_reserve_str(pack, "x");
	bw_store_pack_reserve(pack, 3 * sizeof(uint64_t));
	l = bw_store_pack_alloc(pack, sizeof(*l));
	if (!l)
		return NULL;
	l->s = bw_store_pack_str(pack, "x");
	l->numbers = bw_store_pack_mem(pack, 3 * sizeof(uint64_t));
	if (!l->numbers)
		return NULL;
	l->numbers[0] = 1;
	l->numbers[2] = 3;
	return l;
}

static void test_pack_mem(void)
{
	struct bw_store *s;
	json_t *obj = deployment("shop", "p", "1", 1, "i", NULL, NULL);
	const struct {
		char tag;
		uint64_t *numbers;
		const char *s;
	} * l;

	CHECK_INT(0, bw_store_new(&s, array_project, NULL, NULL, 0, NULL), "pack mem: new");
	CHECK_INT(0, bw_store_upsert(s, obj, NULL, NULL), "pack mem: upsert");
	l = bw_store_get(s, "shop", "p");
	CHECK(l && ((uintptr_t)l->numbers % 8) == 0, "pack mem: aligned array");
	CHECK(l && l->numbers[0] == 1 && l->numbers[1] == 0 && l->numbers[2] == 3,
	      "pack mem: zeroed and written");
	CHECK_STR("x", l ? l->s : NULL, "pack mem: string beside it");
	CHECK_STR("p", bw_store_item_name(l), "pack mem: key intact");
	bw_store_item_put(l);
	json_decref(obj);
	bw_store_free(s);
}

static void test_growth(void)
{
	struct bw_store *s = new_store(NULL);
	struct bw_store_items items;
	int found = 0, right = 0;
	char name[32], ns[16], rv[16];
	const int n = 6000;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(ns, sizeof(ns), "ns-%d", i % 7);
		snprintf(rv, sizeof(rv), "%d", i);
		upsert(s, deployment(ns, name, rv, i, "img", i % 2 ? "odd" : "even", NULL));
	}
	CHECK_INT(n, bw_store_count(s), "growth: every item counted");
	for (int i = 0; i < n; i++) {
		const struct deploy *d;

		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(ns, sizeof(ns), "ns-%d", i % 7);
		d = bw_store_get(s, ns, name);
		found += d != NULL;
		right += d && d->generation == i;
		bw_store_item_put(d);
	}
	CHECK_INT(n, found, "growth: every item found");
	CHECK_INT(n, right, "growth: every item right");
	bw_store_by_index(s, "by-app", "odd", &items, NULL);
	CHECK_INT(n / 2, items.count, "growth: index bucket of half");
	bw_store_items_release(&items);
	bw_store_list(s, "ns-3", &items, NULL);
	CHECK_INT(857, items.count, "growth: namespace list");
	bw_store_items_release(&items);

	/* delete most: the table shrinks, the rest stays reachable */
	for (int i = 0; i < n; i++) {
		if (i % 100 == 0)
			continue;
		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(ns, sizeof(ns), "ns-%d", i % 7);
		bw_store_item_put(bw_store_delete(s, ns, name));
	}
	CHECK_INT(n / 100, bw_store_count(s), "shrink: count");
	found = 0;
	for (int i = 0; i < n; i += 100) {
		const void *d;

		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(ns, sizeof(ns), "ns-%d", i % 7);
		d = bw_store_get(s, ns, name);
		found += d != NULL;
		bw_store_item_put(d);
	}
	CHECK_INT(n / 100, found, "shrink: survivors found");
	bw_store_by_index(s, "by-app", "even", &items, NULL);
	CHECK_INT(n / 100, items.count, "shrink: index kept current");
	bw_store_items_release(&items);
	bw_store_free(s);
}

/* Concurrency: one writer replaces items while readers get and put them. */

#define CONC_KEYS    64
#define CONC_ROUNDS  20000
#define CONC_READERS 3

struct conc {
	struct bw_store *store;
	atomic_int done;
	atomic_long reads, bad;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	char name[32];
	unsigned seed = 1;

	while (!atomic_load(&c->done)) {
		const struct deploy *d;
		struct bw_store_items items;

		seed = seed * 1103515245u + 12345u;
		snprintf(name, sizeof(name), "k%02u", (seed >> 8) % CONC_KEYS);
		d = bw_store_get(c->store, "conc", name);
		if (d) {
			/* the item must be whole: generation matches resourceVersion and image */
			char want[32];

			snprintf(want, sizeof(want), "%lld", (long long)d->generation);
			if (strcmp(want, bw_store_item_resource_version(d)) != 0 ||
			    strcmp(want, d->image) != 0 || strcmp(name, bw_store_item_name(d)) != 0)
				atomic_fetch_add(&c->bad, 1);
			bw_store_item_put(d);
		}
		if ((seed >> 4) % 64 == 0 && !bw_store_list(c->store, "conc", &items, NULL)) {
			for (size_t i = 0; i < items.count; i++) {
				const struct deploy *x = items.v[i];

				if (x->generation < 0 || !x->image[0])
					atomic_fetch_add(&c->bad, 1);
			}
			bw_store_items_release(&items);
		}
		if ((seed >> 4) % 64 == 1 &&
		    !bw_store_by_index(c->store, "by-app", "conc", &items, NULL))
			bw_store_items_release(&items);
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

static void test_concurrency(void)
{
	struct conc c = {.store = new_store(NULL)};
	pthread_t readers[CONC_READERS];
	int started = 0, failures = 0;
	char name[32], gen[32];

	for (int i = 0; i < CONC_READERS; i++)
		started += pthread_create(&readers[i], NULL, conc_reader, &c) == 0;
	CHECK_INT(CONC_READERS, started, "concurrency: readers started");
	/* they read before the writes start, or they might not run until the
	 * writes are over */
	for (int i = 0; i < 10000 && started && atomic_load(&c.reads) == 0; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	for (int round = 1; round <= CONC_ROUNDS; round++) {
		json_t *obj;

		snprintf(name, sizeof(name), "k%02d", round % CONC_KEYS);
		snprintf(gen, sizeof(gen), "%d", round);
		if (round % 97 == 0) {
			bw_store_item_put(bw_store_delete(c.store, "conc", name));
			continue;
		}
		obj = deployment("conc", name, gen, round, gen, "conc", NULL);
		failures += bw_store_upsert(c.store, obj, NULL, NULL) != 0;
		json_decref(obj);
		if (round % 5000 == 0) {
			/* a relist in the middle of it */
			json_t *list = json_array();

			for (int k = 0; k < CONC_KEYS / 2; k++) {
				snprintf(name, sizeof(name), "k%02d", k);
				json_array_append_new(
				    list, deployment("conc", name, gen, round, gen, "conc", NULL));
			}
			failures += bw_store_replace(c.store, list, NULL, NULL) != 0;
			json_decref(list);
		}
	}
	atomic_store(&c.done, 1);
	for (int i = 0; i < started; i++)
		pthread_join(readers[i], NULL);
	CHECK_INT(0, failures, "concurrency: every write succeeded");
	CHECK_INT(0, atomic_load(&c.bad), "concurrency: readers saw only whole items");
	CHECK(atomic_load(&c.reads) > 0, "concurrency: readers read (%ld reads)",
	      atomic_load(&c.reads));
	CHECK(bw_store_count(c.store) <= CONC_KEYS, "concurrency: count bounded");
	bw_store_free(c.store);
}

int main(void)
{
	test_new();
	test_add_update_unchanged();
	test_delete_and_projection_null();
	test_cluster_scoped_and_lists();
	test_indexes();
	test_replace();
	test_pack();
	test_pack_mem();
	test_growth();
	test_concurrency();
	printf("# store tests done\n");
	return check_exit();
}
