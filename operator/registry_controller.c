/*
 * The registry controller: one ConfigMap per namespace, breakwater-registry,
 * holding registry.json (every Service: url, port, health path, ready
 * replicas, image) and breakers.json (every Breaker's policy). Pods mount it,
 * so it updates in running pods without a restart. It is written only when
 * its text would change (the text is canonical: sorted keys), and deleted
 * when the namespace has neither Services nor Breakers.
 */
#include <string.h>

#include "log.h"
#include "operator.h"
#include "registry.h"

/* Parses every cached object of ns into a JSON array. */
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

int bw_reconcile_registry(struct bw_operator_context *ctx, const char *ns, long *requeue_after_ms)
{
	json_t *services = NULL, *breakers = NULL, *ready = NULL, *cm = NULL, *data;
	const struct bw_cached_registry *cached = NULL;
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};
	struct bw_error err = {0};
	size_t i;
	json_t *svc;
	int ret = 0;

	(void)requeue_after_ms;
	services = objects_of(ctx->caches.services, ns, &err);
	breakers = objects_of(ctx->caches.breakers, ns, &err);
	if (!services || !breakers) {
		ret = err.code ? err.code : BW_ENOMEM;
		goto out;
	}
	cached = bw_store_get(ctx->caches.registries, ns, BW_REGISTRY_NAME);
	if (json_array_size(services) == 0 && json_array_size(breakers) == 0) {
		if (cached) {
			ret = bw_client_delete(ctx->client, &bw_res_configmaps, ns,
					       BW_REGISTRY_NAME, NULL, &err);
			if (ret == BW_ENOTFOUND)
				ret = 0;
		}
		goto out;
	}

	ready = json_object();
	json_array_foreach(services, i, svc)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"));
		const struct bw_cached_deployment *d =
		    bw_store_get(ctx->caches.deployments, ns, name);

		if (name && d)
			json_object_set_new(ready, name, json_integer(d->ready));
		bw_store_item_put(d);
	}
	if ((ret = bw_registry_build(ns, services, breakers, ready, &cm, &err)) != 0)
		goto out;
	data = json_object_get(cm, "data");
	if (cached &&
	    strcmp(cached->registry_json,
		   json_string_value(json_object_get(data, "registry.json"))) == 0 &&
	    strcmp(cached->breakers_json,
		   json_string_value(json_object_get(data, "breakers.json"))) == 0)
		goto out; /* already as it should be */
	ret = bw_client_patch(ctx->client, &bw_res_configmaps, ns, BW_REGISTRY_NAME, NULL,
			      BW_PATCH_APPLY, cm, &po, NULL, &err);
	if (ret == 0)
		bw_log_debug("registry", "%s: registry updated", ns);
out:
	if (ret != 0)
		bw_log_warn("registry", "%s: %s", ns, err.message);
	bw_store_item_put(cached);
	json_decref(services);
	json_decref(breakers);
	json_decref(ready);
	json_decref(cm);
	return ret;
}
