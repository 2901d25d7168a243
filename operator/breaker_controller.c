/*
 * The Breaker controller: a Breaker's status says which Services it protects
 * the callers of (status.clients: the Services of its namespace whose
 * dependsOn names the target), how many of those clients' pods carry the
 * injected configuration (status.pods), and whether its target exists.
 * The policy itself reaches pods through the registry ConfigMap
 * (registry_controller.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "operator.h"
#include "rules.h"

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings, so status does not change with cache order. */
static json_t *sorted(json_t *array)
{
	size_t n = json_array_size(array);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(array, i);
	if (v)
		qsort(v, n, sizeof(*v), compare_strings);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(array);
	return out;
}

int bw_reconcile_breaker(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms)
{
	const struct bw_cached_breaker *item = bw_store_get_key(ctx->caches.breakers, key);
	struct bw_store_items services = {0}, pods = {0}, breakers = {0};
	json_t *brk = NULL, *meta, *old_status, *status = NULL, *clients, *conds;
	const struct bw_breaker_view **others = NULL, *holder;
	const char *ns, *name, *target;
	int target_found = 0, ret = 0;
	long configured = 0, stale = 0, generation;
	char msg[1024]; /* a target (63 characters) and a name (253) fit whole */
	struct bw_error err;

	(void)requeue_after_ms;
	brk = item ? bw_cached_object_parse(&item->object) : NULL;
	if (!brk)
		goto out;
	meta = json_object_get(brk, "metadata");
	old_status = json_object_get(brk, "status");
	ns = str(meta, "namespace");
	name = str(meta, "name");
	target = str(json_object_get(brk, "spec"), "target");
	generation = (long)json_integer_value(json_object_get(meta, "generation"));
	if (!ns || !name || !target || json_object_get(meta, "deletionTimestamp"))
		goto out;

	/* the clients by the by-dependency index and their pods by the
	 * by-service one: this runs on every pod change of the namespace */
	clients = json_array();
	{
		const void *t = bw_store_get(ctx->caches.services, ns, target);

		target_found = t != NULL;
		bw_store_item_put(t);
	}
	snprintf(msg, sizeof(msg), "%s/%s", ns, target);
	for (int pass = 0; pass < 2; pass++) {
		char value[600];

		snprintf(value, sizeof(value), "%s/%s", ns, pass == 0 ? target : "*");
		if ((ret = bw_store_by_index(ctx->caches.services, BW_INDEX_BY_DEPENDENCY, value,
					     &services, &err)) != 0) {
			json_decref(clients);
			goto out;
		}
		for (size_t i = 0; i < services.count; i++) {
			const struct bw_cached_service *o = services.v[i];
			int named = pass == 0;

			for (size_t j = 0; !named && j < o->n_dependencies; j++)
				named = strcmp(o->dependency_keys[j], msg) == 0;
			if (named)
				json_array_append_new(clients, json_string(bw_store_item_name(o)));
		}
		bw_store_items_release(&services);
	}
	clients = sorted(clients);

	{
		size_t j;
		json_t *c;

		json_array_foreach(clients, j, c)
		{
			/* configured: the pod has the injection the webhook gives now
			 * (breakers.json reaches it live, so it runs the current
			 * policy); stale: none, or an older one (the Service's
			 * status.pods counts the same way) */
			char expected[64] = "";
			int known = ctx->expected_injection &&
				    ctx->expected_injection(ns, json_string_value(c), expected,
							    sizeof(expected),
							    ctx->expected_injection_arg) == 0;

			snprintf(msg, sizeof(msg), "%s/%s", ns, json_string_value(c));
			if ((ret = bw_store_by_index(ctx->caches.pods, BW_INDEX_BY_SERVICE, msg,
						     &pods, &err)) != 0) {
				json_decref(clients);
				goto out;
			}
			for (size_t i = 0; i < pods.count; i++) {
				const struct bw_cached_pod *p = pods.v[i];

				if (*p->injected && (!known || strcmp(p->injected, expected) == 0))
					configured++;
				else
					stale++;
			}
			bw_store_items_release(&pods);
		}
	}

	if ((ret = bw_store_list(ctx->caches.breakers, ns, &breakers, &err)) != 0) {
		json_decref(clients);
		goto out;
	}
	/* the views projected in the cache: no other Breaker is parsed */
	others = calloc(breakers.count + 1, sizeof(*others));
	if (!others) {
		json_decref(clients);
		ret = BW_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < breakers.count; i++)
		others[i] = &((const struct bw_cached_breaker *)breakers.v[i])->view;
	holder = bw_rules_breaker_holder(&item->view, others, breakers.count);

	status = json_pack("{s:I, s:o, s:{s:I, s:I}}", "observedGeneration", (json_int_t)generation,
			   "clients", clients, "pods", "configured", (json_int_t)configured,
			   "stale", (json_int_t)stale);
	conds = json_array();
	if (holder) {
		snprintf(msg, sizeof(msg),
			 "spec.target: %s is already protected by the older Breaker %s; this "
			 "policy is not applied while that one exists (two policies for one target "
			 "would be ambiguous)",
			 target, holder->name);
		bw_condition_set(conds, json_object_get(old_status, "conditions"), "Ready", "False",
				 "TargetConflict", msg, generation);
	} else if (target_found) {
		snprintf(msg, sizeof(msg), "protecting calls to %s from %zu client Service(s)",
			 target, json_array_size(clients));
		bw_condition_set(conds, json_object_get(old_status, "conditions"), "Ready", "True",
				 "Configured", msg, generation);
	} else {
		snprintf(msg, sizeof(msg), "no Service named %s in namespace %s", target, ns);
		bw_condition_set(conds, json_object_get(old_status, "conditions"), "Ready", "False",
				 "TargetNotFound", msg, generation);
	}
	json_object_set_new(status, "conditions", conds);
	ret = bw_status_update(ctx, &bw_res_bw_breakers, brk, status, &err);
	if (ret == BW_ECONFLICT) /* computed from a stale cache: again, from a fresh one */
		bw_log_debug("breaker", "%s: status: %s", key, err.message);
	else if (ret != 0)
		bw_log_warn("breaker", "%s: status: %s", key, err.message);
out:
	bw_store_items_release(&services);
	bw_store_items_release(&pods);
	bw_store_items_release(&breakers);
	free(others);
	bw_store_item_put(item);
	json_decref(brk);
	json_decref(status);
	return ret;
}
