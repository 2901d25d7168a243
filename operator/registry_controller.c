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
 * text its cache projection computed once per version of it, spliced into
 * registry.json as it is (bw_registry_build_texts(): no parse of a Service
 * or an entry, no json_t per Service), and a namespace's changes are
 * gathered into one build for 1 to 10 s, the bigger the registry the longer
 * (operator.c's enqueue_registry(), bw_registry_gather_ms()). The cached
 * ConfigMap is only the digest and size of its data (bw_registry_digest()),
 * the digest compared with the build's: the echo of each write (200 KB at
 * 1,000 Services, 1 MB at 10,000) is still parsed by the watch, but not kept.
 */
#include <stdlib.h>
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

/* The registry entries of ns's Services, each the text its cache projection
 * computed once per version, with their Deployments' ready replicas; items
 * holds the Services, whose texts the entries borrow, until the build is
 * done. *n gets the listed entries, *count how many Services there are
 * (listed or not). */
static int entries_of(struct bw_operator_context *ctx, const char *ns, struct bw_store_items *items,
		      struct bw_registry_text_entry **entries, size_t *n, size_t *count,
		      struct bw_error *err)
{
	int ret;

	*n = 0;
	if ((ret = bw_store_list(ctx->caches.services, ns, items, err)) != 0)
		return ret;
	*count = items->count;
	*entries = calloc(items->count + 1, sizeof(**entries));
	if (!*entries)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	for (size_t i = 0; i < items->count; i++) {
		const struct bw_cached_service *o = items->v[i];
		const char *name = bw_store_item_name(o);
		const struct bw_cached_deployment *d;

		if (!o->registry_entry)
			continue; /* invalid or being deleted */
		d = bw_store_get(ctx->caches.deployments, ns, name);
		(*entries)[(*n)++] = (struct bw_registry_text_entry){
		    .name = name, .entry = o->registry_entry, .ready = d ? d->ready : 0};
		bw_store_item_put(d);
	}
	return 0;
}

int bw_reconcile_registry(struct bw_operator_context *ctx, const char *ns, long *requeue_after_ms)
{
	json_t *breakers = NULL, *cm = NULL, *data;
	struct bw_registry_text_entry *entries = NULL;
	struct bw_store_items services = {0};
	const struct bw_cached_registry *cached = NULL;
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};
	struct bw_error err = {0};
	size_t n_services = 0, n_entries = 0;
	unsigned char digest[BW_REGISTRY_DIGEST_LEN];
	int ret = 0;

	(void)requeue_after_ms;
	breakers = objects_of(ctx->caches.breakers, ns, &err);
	if (!breakers) {
		ret = err.code ? err.code : BW_ENOMEM;
		goto out;
	}
	if ((ret = entries_of(ctx, ns, &services, &entries, &n_entries, &n_services, &err)) != 0)
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
	ret = bw_registry_build_texts(ns, entries, n_entries, breakers, &cm, &err);
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
	bw_registry_digest(json_string_value(json_object_get(data, BW_REGISTRY_KEY)),
			   json_string_value(json_object_get(data, BW_REGISTRY_BREAKERS_KEY)),
			   digest);
	if (cached && memcmp(cached->digest, digest, sizeof(digest)) == 0)
		goto out; /* already as it should be */
	ret = bw_client_patch(ctx->client, &bw_res_configmaps, ns, BW_REGISTRY_NAME, NULL,
			      BW_PATCH_APPLY, cm, &po, NULL, &err);
	if (ret == 0)
		bw_log_debug("registry", "%s: registry updated", ns);
out:
	if (ret != 0)
		bw_log_warn("registry", "%s: %s", ns, err.message);
	bw_store_item_put(cached);
	free(entries);
	bw_store_items_release(&services);
	json_decref(breakers);
	json_decref(cm);
	return ret;
}
