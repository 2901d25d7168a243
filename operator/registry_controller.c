/*
 * The registry controller: one ConfigMap per namespace, breakwater-registry,
 * holding registry.json (every Service: url, port, health path, ready
 * replicas, image) and breakers.json (every Breaker's policy). Pods mount it,
 * so it updates in running pods without a restart. It is written only when
 * its text would change (the text is canonical: sorted keys), and deleted
 * when the namespace has neither Services nor Breakers. A namespace too
 * large for the full registry gets the compact one (registry.h); too large
 * even for that, the ConfigMap keeps its last content and a Warning Event
 * RegistryTooLarge says why.
 *
 * Cost: a build reads every Service of the namespace, but only the entry
 * its cache projection computed once per version of it (no parse of the
 * Service), and builds are gathered (operator.c, REGISTRY_COALESCE_MS).
 */
#include <string.h>

#include "log.h"
#include "operator.h"
#include "registry.h"

/* Parses every cached object of ns into a JSON array: for the Breakers,
 * which are few. */
static json_t *objects_of(struct bw_store *store, const char *ns, struct bw_error *err)
{
	struct bw_store_items items = {0};
	json_t *array;

	if (bw_store_list(store, ns, &items, err) != 0)
		return NULL;
	array = json_array();
	for (size_t i = 0; array && i < items.count; i++) {
		json_t *obj = bw_cached_object_parse(items.v[i]);

		if (obj)
			json_array_append_new(array, obj);
	}
	bw_store_items_release(&items);
	return array;
}

/* The registry entries of ns's Services, each computed once by the cache's
 * projection, and their Deployments' ready replicas; *count gets how many
 * Services there are (listed or not). */
static int entries_of(struct bw_operator_context *ctx, const char *ns, json_t **entries,
		      json_t **ready, size_t *count, struct bw_error *err)
{
	struct bw_store_items items = {0};
	int ret;

	*entries = json_object();
	*ready = json_object();
	if (!*entries || !*ready)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	if ((ret = bw_store_list(ctx->caches.services, ns, &items, err)) != 0)
		return ret;
	*count = items.count;
	for (size_t i = 0; i < items.count; i++) {
		const struct bw_cached_service *o = items.v[i];
		const char *name = bw_store_item_name(o);
		const struct bw_cached_deployment *d;
		json_t *entry;

		if (!o->registry_entry)
			continue; /* invalid or being deleted */
		/* a string may hold "\u0000" (the fuzz target found an image that
		 * does): the text reads back as the object it came from */
		entry = json_loads(o->registry_entry, JSON_ALLOW_NUL, NULL);
		if (!entry || json_object_set_new(*entries, name, entry)) {
			ret = bw_error_set(err, BW_ENOMEM, "out of memory");
			break;
		}
		d = bw_store_get(ctx->caches.deployments, ns, name);
		if (d)
			json_object_set_new(*ready, name, json_integer(d->ready));
		bw_store_item_put(d);
	}
	bw_store_items_release(&items);
	return ret;
}

int bw_reconcile_registry(struct bw_operator_context *ctx, const char *ns, long *requeue_after_ms)
{
	json_t *entries = NULL, *breakers = NULL, *ready = NULL, *cm = NULL, *data;
	const struct bw_cached_registry *cached = NULL;
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};
	struct bw_error err = {0};
	size_t n_services = 0;
	int ret = 0;

	(void)requeue_after_ms;
	breakers = objects_of(ctx->caches.breakers, ns, &err);
	if (!breakers) {
		ret = err.code ? err.code : BW_ENOMEM;
		goto out;
	}
	if ((ret = entries_of(ctx, ns, &entries, &ready, &n_services, &err)) != 0)
		goto out;
	cached = bw_store_get(ctx->caches.registries, ns, BW_REGISTRY_NAME);
	if (n_services == 0 && json_array_size(breakers) == 0) {
		if (cached) {
			ret = bw_client_delete(ctx->client, &bw_res_configmaps, ns,
					       BW_REGISTRY_NAME, NULL, &err);
			if (ret == BW_ENOTFOUND)
				ret = 0;
		}
		goto out;
	}
	ret = bw_registry_build_entries(ns, entries, breakers, ready, &cm, &err);
	if (ret == BW_ETOOBIG) {
		/* retrying cannot help until the namespace shrinks (any change
		 * wakes this again): the ConfigMap keeps its last content, and
		 * the namespace's Events say why */
		struct bw_event_ref ref = {.api_version = "v1",
					   .kind = "ConfigMap",
					   .namespace = ns,
					   .name = BW_REGISTRY_NAME};

		bw_log_warn("registry", "%s: %s; the ConfigMap keeps its last content", ns,
			    err.message);
		if (ctx->recorder)
			bw_recorder_event(ctx->recorder, &ref, "Warning", "RegistryTooLarge",
					  "the registry of this namespace does not fit in one "
					  "ConfigMap (%d bytes) even in its compact form; the "
					  "ConfigMap keeps its last content",
					  BW_REGISTRY_MAX_BYTES);
		ret = 0;
		goto out;
	}
	if (ret != 0)
		goto out;
	data = json_object_get(cm, "data");
	if (cached &&
	    strcmp(cached->registry_json,
		   json_string_value(json_object_get(data, BW_REGISTRY_KEY))) == 0 &&
	    strcmp(cached->breakers_json,
		   json_string_value(json_object_get(data, BW_REGISTRY_BREAKERS_KEY))) == 0)
		goto out; /* already as it should be */
	ret = bw_client_patch(ctx->client, &bw_res_configmaps, ns, BW_REGISTRY_NAME, NULL,
			      BW_PATCH_APPLY, cm, &po, NULL, &err);
	if (ret == 0)
		bw_log_debug("registry", "%s: registry updated", ns);
out:
	if (ret != 0)
		bw_log_warn("registry", "%s: %s", ns, err.message);
	bw_store_item_put(cached);
	json_decref(entries);
	json_decref(breakers);
	json_decref(ready);
	json_decref(cm);
	return ret;
}
