/* libFuzzer: arbitrary JSON text through the store projections the
 * operator's informers use (Services, Breakers, Deployments, Pods, registry
 * ConfigMaps, Namespaces, ConfigMaps and Secrets as digests), with the
 * indexes of the Services and pods caches: each parsed value is
 * upserted into a real store with each projection, read back, deleted, and replaced as a list, as
 * the informers do on watch events and relists. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store.h"

#include "cached.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { P_BREAKER, P_SERVICE, P_DEPLOYMENT, P_POD, P_REGISTRY, P_NAMESPACE, P_CONFIG, P_N };

static bw_store_project_fn *const projections[P_N] = {
    bw_project_breaker,	 bw_project_service,   bw_project_deployment, bw_project_pod,
    bw_project_registry, bw_project_namespace, bw_project_config};

/* The indexes each cache keeps, as operator.c registers them (name NULL: none). */
static const struct bw_store_index indexes[P_N][2] = {
    [P_SERVICE] = {{BW_INDEX_BY_DEPENDENCY, bw_index_dependency, NULL},
		   {BW_INDEX_BY_CONFIG, bw_index_config, NULL}},
    [P_POD] = {{BW_INDEX_BY_SERVICE, bw_index_service, NULL}},
};

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_view(const struct bw_service_view *a, const struct bw_service_view *b)
{
	if (!same(a->ns, b->ns) || !same(a->name, b->name) || !same(a->created, b->created) ||
	    a->deleting != b->deleting || a->has_route != b->has_route ||
	    !same(a->route_host, b->route_host) || !same(a->route_path, b->route_path) ||
	    a->n_depends_on != b->n_depends_on || a->port != b->port)
		return 0;
	for (size_t i = 0; i < a->n_depends_on; i++)
		if (!same(a->depends_on[i], b->depends_on[i]))
			return 0;
	return 1;
}

/* Reads every string of an item, so ASan sees one that points out of it. */
static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

static void read_item(int p, const void *item)
{
	size_t n = touch(bw_store_item_namespace(item)) + touch(bw_store_item_name(item)) +
		   touch(bw_store_item_resource_version(item));
	char key[64];

	bw_store_item_key(item, key, sizeof(key));
	switch (p) {
	case P_BREAKER: {
		const struct bw_cached_breaker *b = item;
		json_t *back = bw_cached_object_parse(&b->object);
		struct bw_breaker_view v;

		/* what the cache keeps must parse again: reconcilers read it back */
		if (!back)
			abort();
		/* and the projected view is what that text reads as */
		bw_breaker_view_read(back, &v); /* its strings borrow from back */
		if (!same(v.ns, b->view.ns) || !same(v.name, b->view.name) ||
		    !same(v.created, b->view.created) || !same(v.target, b->view.target) ||
		    v.deleting != b->view.deleting || v.valid != b->view.valid)
			abort();
		json_decref(back);
		break;
	}
	case P_SERVICE: {
		const struct bw_cached_service *o = item;
		json_t *back = bw_cached_object_parse(&o->object), *entry = NULL;
		struct bw_service_view v;

		if (!back)
			abort();
		/* the projected view is what the kept text reads as: the rules and
		 * the webhook read the one, the reconciler the other */
		if (bw_service_view_read(back, &v) == 0) {
			if (!same_view(&v, &o->view))
				abort();
			bw_service_view_release(&v);
		}
		json_decref(back);
		n += touch(o->image);
		/* the registry entry is built from it by parsing: it must parse */
		if (o->registry_entry)
			entry = json_loads(o->registry_entry, JSON_ALLOW_NUL, NULL);
		if (o->registry_entry && !json_is_object(entry))
			abort();
		json_decref(entry);
		for (size_t i = 0; i < o->n_dependencies; i++)
			n += touch(o->dependency_keys[i]);
		if (o->n_dependencies > BW_STORE_INDEX_MAX)
			n += touch(o->dependency_keys[o->n_dependencies]);
		for (size_t i = 0; i < o->n_config; i++)
			n += touch(o->config_keys[i]);
		if (o->n_config > BW_STORE_INDEX_MAX)
			n += touch(o->config_keys[o->n_config]);
		break;
	}
	case P_DEPLOYMENT: {
		const struct bw_cached_deployment *d = item;

		n += touch(d->image) + touch(d->progressing) + touch(d->available_status) +
		     touch(d->owner_uid) + touch(d->restarted_at) + touch(d->applied);
		break;
	}
	case P_POD: {
		const struct bw_cached_pod *pod = item;

		if (!pod->service)
			abort();
		n += touch(pod->service) + touch(pod->service_key) + touch(pod->injected);
		break;
	}
	case P_REGISTRY: {
		const struct bw_cached_registry *r = item;

		for (size_t i = 0; i < sizeof(r->digest); i++)
			n += r->digest[i];
		break;
	}
	case P_CONFIG: {
		const struct bw_cached_config *c = item;

		/* a digest, nothing of the data */
		if (strlen(c->digest) != 32 || strspn(c->digest, "0123456789abcdef") != 32)
			abort();
		break;
	}
	case P_NAMESPACE: {
		const struct bw_cached_namespace *ns = item;
		/* label values cannot hold "\u0000" in Kubernetes; the dump must
		 * parse all the same */
		json_t *labels = json_loads(ns->labels_json, JSON_ALLOW_NUL, NULL);

		if (!labels)
			abort();
		json_decref(labels);
		break;
	}
	}
	(void)n;
}

static void run(int p, json_t *doc)
{
	struct bw_store *store;
	struct bw_store_change change = {0};
	struct bw_store_changes changes = {0};
	struct bw_store_items items = {0};
	size_t n_indexes = indexes[p][1].name ? 2 : indexes[p][0].name ? 1 : 0;
	json_t *list;
	size_t i;

	if (bw_store_new(&store, projections[p], NULL, n_indexes ? indexes[p] : NULL, n_indexes,
			 NULL) != 0)
		abort();
	/* the object itself, as a watch event delivers it, twice (UNCHANGED or UPDATED) */
	for (i = 0; i < 2; i++) {
		if (bw_store_upsert(store, doc, &change, NULL) == 0 && change.new_item)
			read_item(p, change.new_item);
		bw_store_change_release(&change);
	}
	/* an array: every element, as a relist delivers a List's items */
	list = json_is_array(doc) ? json_incref(doc) : json_pack("[O]", doc);
	if (bw_store_replace(store, list, &changes, NULL) == 0 &&
	    bw_store_list(store, NULL, &items, NULL) == 0) {
		for (i = 0; i < items.count; i++)
			read_item(p, items.v[i]);
		for (i = 0; i < items.count; i++)
			bw_store_item_put(bw_store_delete(store,
							  bw_store_item_namespace(items.v[i]),
							  bw_store_item_name(items.v[i])));
	}
	bw_store_items_release(&items);
	bw_store_changes_release(&changes);
	json_decref(list);
	bw_store_free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* as the client parses a response body and the watch an event */
	json_t *doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);

	if (!doc)
		return 0;
	for (int p = 0; p < P_N; p++)
		run(p, doc);
	json_decref(doc);
	return 0;
}
