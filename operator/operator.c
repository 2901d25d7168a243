/*
 * The operator's wiring: informers and what they cache, which keys their
 * events enqueue, the controllers' queues and workers, and their metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "operator.h"
#include "registry.h"
#include "rules.h"

const struct bw_resource bw_res_bw_services = {"breakwater.io", "v1alpha1", "services", "Service",
					       1};
const struct bw_resource bw_res_bw_breakers = {"breakwater.io", "v1alpha1", "breakers", "Breaker",
					       1};

enum {
	INF_SERVICES,
	INF_BREAKERS,
	INF_DEPLOYMENTS,
	INF_PODS,
	INF_REGISTRIES,
	INF_INGRESSES,
	INF_NAMESPACES,
	INF_N
};

static const char *const informer_names[INF_N] = {"services.breakwater.io",
						  "breakers.breakwater.io",
						  "deployments",
						  "pods",
						  "configmaps",
						  "ingresses",
						  "namespaces"};

enum { Q_SERVICE, Q_BREAKER, Q_REGISTRY, Q_N };

static const char *const controller_names[Q_N] = {"service", "breaker", "registry"};

struct controller {
	struct bw_operator *op;
	int index;
	int (*reconcile)(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms);
};

enum {
	S_DEPTH,
	S_ADDS,
	S_RETRIES,
	S_UNFINISHED,
	S_LONGEST,
	S_QUEUE_DURATION,
	S_WORK_DURATION,
	S_WATCH_RESTARTS,
	S_WATCH_RELISTS,
	SCRAPED_N
};

/* A metric collected at scrape time: which one, of which operator. */
struct scraped {
	struct bw_operator *op;
	int which;
	struct bw_metrics_collector *collector;
};

struct bw_operator {
	struct bw_operator_context ctx;
	struct bw_metrics *metrics;
	struct bw_informer *informers[INF_N];
	struct bw_workqueue *queues[Q_N];
	struct controller controllers[Q_N];
	int workers;
	int controllers_started;

	struct bw_metrics_counter *reconcile_total, *reconcile_errors;
	struct bw_metrics_histogram *reconcile_time;
	struct scraped scraped[SCRAPED_N];
};

/* --- projections --- */

/* "namespace/name" in a new string (free()), or NULL. */
static char *join_key(const char *ns, const char *name)
{
	size_t size = strlen(ns) + strlen(name) + 2;
	char *key = malloc(size);

	if (key)
		snprintf(key, size, "%s/%s", ns, name);
	return key;
}

/* Custom resources are kept whole but compact: the reconcilers need every
 * field of the spec and the status they wrote. The text, without
 * managedFields and the last-applied annotation; NULL when out of memory. */
static char *compact_text(const json_t *obj)
{
	json_t *copy = json_copy((json_t *)obj), *meta = NULL, *ann;
	char *text;

	if (!copy)
		return NULL;
	meta = json_copy(json_object_get(copy, "metadata"));
	if (meta) {
		json_object_del(meta, "managedFields");
		ann = json_copy(json_object_get(meta, "annotations"));
		if (ann) {
			json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
			json_object_set_new(meta, "annotations", ann);
		}
		json_object_set_new(copy, "metadata", meta);
	}
	text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return text;
}

void *bw_operator_project_object(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct bw_cached_object *item = NULL;
	char *text = compact_text(obj);

	(void)arg;
	if (!text)
		return NULL;
	bw_store_pack_reserve_str(pack, text);
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (item) {
		item->json = bw_store_pack_str(pack, text);
		item->generation = (long)json_integer_value(
		    json_object_get(json_object_get(obj, "metadata"), "generation"));
	}
	free(text);
	return item;
}

void *bw_operator_project_service(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata"),
		     *deps = json_object_get(json_object_get(obj, "spec"), "dependsOn"), *dep;
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	struct bw_cached_object *item = NULL;
	char *text = compact_text(obj), *entry_text = NULL, **keys = NULL;
	const char **packed;
	json_t *entry = NULL;
	size_t i, n = 0, slots;

	(void)arg;
	if (!text)
		return NULL;
	if (ns && bw_registry_service_entry(obj, ns, &entry, NULL) == 0 && entry)
		entry_text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(entry);
	keys = calloc(json_array_size(deps) + 2, sizeof(*keys)); /* the "*" key, a NULL */
	if (!keys)
		goto out;
	json_array_foreach(deps, i, dep)
	{
		if (json_string_value(dep) && ns &&
		    !(keys[n++] = join_key(ns, json_string_value(dep))))
			goto out;
	}
	if (n > BW_STORE_INDEX_MAX && !(keys[n] = join_key(ns, "*")))
		goto out;
	slots = n > BW_STORE_INDEX_MAX ? n + 1 : n;
	bw_store_pack_reserve_str(pack, text);
	bw_store_pack_reserve_str(pack, entry_text);
	bw_store_pack_reserve(pack, slots * sizeof(char *));
	for (i = 0; i < slots; i++)
		bw_store_pack_reserve_str(pack, keys[i]);
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (!item)
		goto out;
	item->json = bw_store_pack_str(pack, text);
	item->generation = (long)json_integer_value(json_object_get(meta, "generation"));
	item->registry_entry = bw_store_pack_str(pack, entry_text);
	packed = slots ? bw_store_pack_mem(pack, slots * sizeof(char *)) : NULL;
	for (i = 0; packed && i < slots; i++)
		packed[i] = bw_store_pack_str(pack, keys[i]);
	item->dependency_keys = packed;
	item->n_dependencies = n;
out:
	for (i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
	free(entry_text);
	free(text);
	return item;
}

size_t bw_operator_index_dependency(const void *item, const char **values, size_t max, void *arg)
{
	const struct bw_cached_object *o = item;
	size_t i;

	(void)arg;
	if (o->n_dependencies > max) { /* one value stands for all: "namespace/ *" */
		values[0] = o->dependency_keys[o->n_dependencies];
		return max > 0 ? 1 : 0;
	}
	for (i = 0; i < o->n_dependencies; i++)
		values[i] = o->dependency_keys[i];
	return i;
}

size_t bw_operator_index_service(const void *item, const char **values, size_t max, void *arg)
{
	const struct bw_cached_pod *p = item;

	(void)arg;
	if (max == 0)
		return 0;
	values[0] = p->service_key;
	return 1;
}

json_t *bw_cached_object_parse(const struct bw_cached_object *item)
{
	return item ? json_loads(item->json, JSON_ALLOW_NUL, NULL) : NULL;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static const char *condition_field(const json_t *conditions, const char *type, const char *field)
{
	size_t i;
	json_t *c;

	json_array_foreach(conditions, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return json_string_value(json_object_get(c, field));
	}
	return NULL;
}

static const char *controller_uid(const json_t *meta)
{
	size_t i;
	json_t *ref;

	json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return json_string_value(json_object_get(ref, "uid"));
	}
	return NULL;
}

static const char *app_image(const json_t *deployment)
{
	json_t *containers = json_object_get(
	    json_object_get(json_object_get(json_object_get(deployment, "spec"), "template"),
			    "spec"),
	    "containers");
	size_t i;
	json_t *c;

	json_array_foreach(containers, i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));

		if (name && strcmp(name, "app") == 0)
			return json_string_value(json_object_get(c, "image"));
	}
	return json_string_value(json_object_get(json_array_get(containers, 0), "image"));
}

static long int_at(const json_t *obj, const char *key)
{
	return (long)json_integer_value(json_object_get(obj, key));
}

void *bw_operator_project_deployment(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec"),
		     *status = json_object_get(obj, "status"),
		     *conds = json_object_get(status, "conditions");
	const char *image = str_or_empty(app_image(obj));
	const char *progressing = str_or_empty(condition_field(conds, "Progressing", "reason"));
	const char *available = str_or_empty(condition_field(conds, "Available", "status"));
	const char *owner = str_or_empty(controller_uid(meta));
	const char *uid = str_or_empty(json_string_value(json_object_get(meta, "uid")));
	const char *restarted_at = str_or_empty(json_string_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(spec, "template"), "metadata"),
			    "annotations"),
	    BW_ANNOTATION_RESTARTED_AT)));
	const char *applied = str_or_empty(json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), BW_ANNOTATION_APPLIED)));
	struct bw_cached_deployment *d;

	(void)arg;
	bw_store_pack_reserve_str(pack, applied);
	bw_store_pack_reserve_str(pack, image);
	bw_store_pack_reserve_str(pack, progressing);
	bw_store_pack_reserve_str(pack, available);
	bw_store_pack_reserve_str(pack, owner);
	bw_store_pack_reserve_str(pack, uid);
	bw_store_pack_reserve_str(pack, restarted_at);
	d = bw_store_pack_alloc(pack, sizeof(*d));
	if (!d)
		return NULL;
	d->generation = int_at(meta, "generation");
	d->observed_generation = int_at(status, "observedGeneration");
	d->spec_replicas = json_object_get(spec, "replicas") ? int_at(spec, "replicas") : 1;
	d->replicas = int_at(status, "replicas");
	d->updated = int_at(status, "updatedReplicas");
	d->ready = int_at(status, "readyReplicas");
	d->available = int_at(status, "availableReplicas");
	d->paused = json_is_true(json_object_get(spec, "paused"));
	d->image = bw_store_pack_str(pack, image);
	d->progressing = bw_store_pack_str(pack, progressing);
	d->available_status = bw_store_pack_str(pack, available);
	d->owner_uid = bw_store_pack_str(pack, owner);
	d->uid = bw_store_pack_str(pack, uid);
	d->restarted_at = bw_store_pack_str(pack, restarted_at);
	d->applied = bw_store_pack_str(pack, applied);
	return d;
}

void *bw_operator_project_pod(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *service =
	    json_string_value(json_object_get(json_object_get(meta, "labels"), BW_LABEL_SERVICE));
	const char *injected = json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), BW_ANNOTATION_INJECTED));
	const char *ns = str_or_empty(json_string_value(json_object_get(meta, "namespace")));
	struct bw_cached_pod *p;
	char *key;

	(void)arg;
	if (!service || json_object_get(meta, "deletionTimestamp"))
		return NULL;
	key = join_key(ns, service);
	if (!key)
		return NULL;
	bw_store_pack_reserve_str(pack, service);
	bw_store_pack_reserve_str(pack, key);
	bw_store_pack_reserve_str(pack, str_or_empty(injected));
	p = bw_store_pack_alloc(pack, sizeof(*p));
	if (p) {
		p->service = bw_store_pack_str(pack, service);
		p->service_key = bw_store_pack_str(pack, key);
		p->injected = bw_store_pack_str(pack, str_or_empty(injected));
	}
	free(key);
	return p;
}

void *bw_operator_project_registry(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *data = json_object_get(obj, "data");
	const char *reg = str_or_empty(json_string_value(json_object_get(data, "registry.json")));
	const char *brk = str_or_empty(json_string_value(json_object_get(data, "breakers.json")));
	struct bw_cached_registry *r;

	(void)arg;
	bw_store_pack_reserve_str(pack, reg);
	bw_store_pack_reserve_str(pack, brk);
	r = bw_store_pack_alloc(pack, sizeof(*r));
	if (r) {
		r->registry_json = bw_store_pack_str(pack, reg);
		r->breakers_json = bw_store_pack_str(pack, brk);
	}
	return r;
}

/* Ingresses are cached only to know which exist (so a removed route deletes one). */
static void *project_key_only(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	(void)obj;
	(void)arg;
	return bw_store_pack_alloc(pack, 1);
}

/* Namespaces are cached for their labels: the webhook's opt-in. */
void *bw_operator_project_namespace(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	char *text = json_is_object(labels) ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS)
					    : strdup("{}");
	struct bw_cached_namespace *n = NULL;

	(void)arg;
	if (!text)
		return NULL;
	bw_store_pack_reserve_str(pack, text);
	n = bw_store_pack_alloc(pack, sizeof(*n));
	if (n) {
		n->labels_json = bw_store_pack_str(pack, text);
		n->terminating =
		    json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
	}
	free(text);
	return n;
}

int bw_operator_namespace_terminating(struct bw_store *namespaces, const char *ns)
{
	const struct bw_cached_namespace *n =
	    namespaces && ns ? bw_store_get(namespaces, NULL, ns) : NULL;
	int terminating = n && n->terminating;

	bw_store_item_put(n);
	return terminating;
}

int bw_operator_may_hold_route(struct bw_store *namespaces, const struct bw_cached_object *o,
			       const char *prefix)
{
	int plain = 1;

	for (const char *c = prefix; *c; c++)
		plain &= *c != '"' && *c != '\\' && (unsigned char)*c >= 0x20;
	return (!plain || strstr(o->json, prefix)) &&
	       !bw_operator_namespace_terminating(namespaces, bw_store_item_namespace(o));
}

/* --- event handlers: enqueue keys --- */

static void enqueue(struct bw_workqueue *q, const char *key)
{
	struct bw_error err;

	if (bw_workqueue_add(q, key, &err) != 0 && err.code != BW_ESTOPPED)
		bw_log_warn("operator", "enqueue %s: %s", key, err.message);
}

/* A namespace's registry is built from every Service of it: changes are
 * gathered for this long into one build, so a namespace converging costs a
 * build per window, not one per change (at 1,000 Services and 250 ms the
 * builds were still a third of the operator's CPU). The ConfigMap reaches
 * pods through the kubelet's sync (up to a minute) anyway. */
#define REGISTRY_COALESCE_MS 1000

static void enqueue_registry(struct bw_operator *op, const char *ns)
{
	struct bw_error err;

	if (bw_workqueue_add_after(op->ctx.registry_queue, ns, REGISTRY_COALESCE_MS, &err) != 0 &&
	    err.code != BW_ESTOPPED)
		bw_log_warn("operator", "enqueue %s: %s", ns, err.message);
}

static void enqueue_item(struct bw_workqueue *q, const void *item)
{
	char key[600];

	bw_store_item_key(item, key, sizeof(key));
	enqueue(q, key);
}

/* Every Breaker of a namespace: their clients and pods follow Services. */
static void enqueue_breakers_of(struct bw_operator *op, const char *ns)
{
	struct bw_store_items items = {0};

	if (bw_store_list(op->ctx.caches.breakers, ns, &items, NULL) != 0)
		return;
	for (size_t i = 0; i < items.count; i++)
		enqueue_item(op->ctx.breaker_queue, items.v[i]);
	bw_store_items_release(&items);
}

/* Whether the cached Service o names `name` (of its namespace) in dependsOn. */
static int depends_on(const struct bw_cached_object *o, const char *key)
{
	for (size_t i = 0; i < o->n_dependencies; i++)
		if (strcmp(o->dependency_keys[i], key) == 0)
			return 1;
	return 0;
}

/* The Services of ns whose dependsOn names `name`: what their pods were
 * injected with (a <NAME>_SERVICE_URL) follows it. Found by the
 * by-dependency index: a pass over the namespace on every change of a
 * Service made a namespace's convergence quadratic. */
static void enqueue_dependents(struct bw_operator *op, const char *ns, const char *name)
{
	struct bw_store_items items = {0};
	char key[600];

	for (int pass = 0; pass < 2; pass++) {
		snprintf(key, sizeof(key), "%s/%s", ns, pass == 0 ? name : "*");
		if (bw_store_by_index(op->ctx.caches.services, BW_INDEX_BY_DEPENDENCY, key, &items,
				      NULL) != 0)
			continue;
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		for (size_t i = 0; i < items.count; i++)
			if (pass == 0 || depends_on(items.v[i], key))
				enqueue_item(op->ctx.service_queue, items.v[i]);
		bw_store_items_release(&items);
	}
}

/* The Services of any namespace that claim the route of the Service item:
 * when it comes, goes or moves, the one that may have the route now (the
 * order is in rules.h) must look again. */
static void enqueue_route_peers(struct bw_operator *op, const void *item)
{
	const struct bw_cached_object *o = item;
	struct bw_store_items items = {0};
	/* cheap: most Services have no route, and then nothing is parsed */
	json_t *svc = strstr(o->json, "\"route\"") ? bw_cached_object_parse(o) : NULL, *other;
	const json_t *route = json_object_get(json_object_get(svc, "spec"), "route");
	const char *prefix = json_string_value(json_object_get(route, "pathPrefix"));

	if (!prefix || bw_store_list(op->ctx.caches.services, NULL, &items, NULL) != 0)
		goto out;
	for (size_t i = 0; i < items.count; i++) {
		const struct bw_cached_object *p = items.v[i];

		if (p == o || !strstr(p->json, "\"route\"")) /* cheap: most have no route */
			continue;
		other = bw_cached_object_parse(p);
		if (other && !bw_rules_same_object(svc, other) &&
		    bw_rules_same_route(route,
					json_object_get(json_object_get(other, "spec"), "route")))
			enqueue_item(op->ctx.service_queue, p);
		json_decref(other);
	}
out:
	bw_store_items_release(&items);
	json_decref(svc);
}

static void on_service(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;
	const char *ns = bw_store_item_namespace(item);

	enqueue_item(op->ctx.service_queue, item);
	enqueue_route_peers(op, item);
	enqueue_registry(op, ns);
	enqueue_breakers_of(op, ns);
	enqueue_dependents(op, ns, bw_store_item_name(item));
}

static void on_service_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_object *a = old_item, *b = new_item;
	struct bw_operator *op = ctx;

	if (a->generation != b->generation) {
		enqueue_route_peers(op, old_item); /* the route it had may be free now */
		on_service(new_item, ctx);
		return;
	}
	/* A status change (mostly our own write): the registry, the Breakers and
	 * the dependents read only spec, and finding them costs a pass over the
	 * namespace. The Service itself still looks again: a rollback recorded
	 * in status is carried out by that next reconcile. */
	enqueue_item(op->ctx.service_queue, new_item);
}

static void on_breaker(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;

	/* every Breaker of the namespace: one that comes or goes may decide
	 * which of two Breakers with one target applies (rules.h) */
	enqueue_breakers_of(op, bw_store_item_namespace(item));
	enqueue_item(op->ctx.breaker_queue, item);
	enqueue_registry(op, bw_store_item_namespace(item));
}

static void on_breaker_update(const void *old_item, const void *new_item, void *ctx)
{
	(void)old_item;
	on_breaker(new_item, ctx);
}

/* A Deployment's owner Service is named after it (the operator names them so). */
static void on_deployment(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;

	enqueue_item(op->ctx.service_queue, item);
	enqueue_registry(op, bw_store_item_namespace(item));
}

static void on_deployment_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_deployment *a = old_item, *b = new_item;
	struct bw_operator *op = ctx;

	enqueue_item(op->ctx.service_queue, new_item);
	if (a->ready != b->ready) /* all the registry reads of a Deployment */
		enqueue_registry(op, bw_store_item_namespace(new_item));
}

static void on_pod_of_service(const void *item, void *ctx);

static void on_pod(const void *item, void *ctx)
{
	on_pod_of_service(item, ctx);
}

static void on_pod_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_pod *a = old_item, *b = new_item;

	if (strcmp(a->injected, b->injected) != 0)
		on_pod(new_item, ctx);
}

static void on_registry(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;

	enqueue_registry(op, bw_store_item_namespace(item));
}

static void on_registry_update(const void *old_item, const void *new_item, void *ctx)
{
	(void)old_item;
	on_registry(new_item, ctx);
}

static void on_ingress(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;

	enqueue_item(op->ctx.service_queue, item);
}

static void on_ingress_update(const void *old_item, const void *new_item, void *ctx)
{
	(void)old_item;
	on_ingress(new_item, ctx);
}

/* Pod counts in a Service's status follow its pods. */
static void on_pod_of_service(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;
	const struct bw_cached_pod *p = item;
	char key[600];

	snprintf(key, sizeof(key), "%s/%s", bw_store_item_namespace(item), p->service);
	enqueue(op->ctx.service_queue, key);
	enqueue_breakers_of(op, bw_store_item_namespace(item));
}

/* --- set-up --- */

struct informer_spec {
	const struct bw_resource *res;
	const char *label_selector, *field_selector;
	bw_store_project_fn *project;
	struct bw_informer_handlers handlers;
	struct bw_store_index index; /* one, or none (name NULL) */
};

static int make_informers(struct bw_operator *op, const char *ns, struct bw_error *err)
{
	char ns_selector[300];
	const struct informer_spec specs[INF_N] = {
	    [INF_SERVICES] = {&bw_res_bw_services,
			      NULL,
			      NULL,
			      bw_operator_project_service,
			      {on_service, on_service_update, on_service, op},
			      {BW_INDEX_BY_DEPENDENCY, bw_operator_index_dependency, NULL}},
	    [INF_BREAKERS] = {&bw_res_bw_breakers,
			      NULL,
			      NULL,
			      bw_operator_project_object,
			      {on_breaker, on_breaker_update, on_breaker, op},
			      {NULL, NULL, NULL}},
	    [INF_DEPLOYMENTS] = {&bw_res_deployments,
				 BW_LABEL_SERVICE,
				 NULL,
				 bw_operator_project_deployment,
				 {on_deployment, on_deployment_update, on_deployment, op},
				 {NULL, NULL, NULL}},
	    [INF_PODS] = {&bw_res_pods,
			  BW_LABEL_SERVICE,
			  NULL,
			  bw_operator_project_pod,
			  {on_pod, on_pod_update, on_pod, op},
			  {BW_INDEX_BY_SERVICE, bw_operator_index_service, NULL}},
	    [INF_REGISTRIES] = {&bw_res_configmaps,
				NULL,
				"metadata.name=" BW_REGISTRY_NAME,
				bw_operator_project_registry,
				{on_registry, on_registry_update, on_registry, op},
				{NULL, NULL, NULL}},
	    [INF_INGRESSES] = {&bw_res_ingresses,
			       BW_LABEL_MANAGED "=breakwater",
			       NULL,
			       project_key_only,
			       {on_ingress, on_ingress_update, on_ingress, op},
			       {NULL, NULL, NULL}},
	    [INF_NAMESPACES] = {&bw_res_namespaces,
				NULL,
				ns ? ns_selector : NULL,
				bw_operator_project_namespace,
				{NULL, NULL, NULL, NULL},
				{NULL, NULL, NULL}},
	};
	int ret;

	/* a namespaced operator reads only its own Namespace object */
	if (ns)
		snprintf(ns_selector, sizeof(ns_selector), "metadata.name=%s", ns);
	for (int i = 0; i < INF_N; i++) {
		struct bw_informer_options o = {
		    .watch = {.resource = specs[i].res,
			      .namespace = ns,
			      .label_selector = specs[i].label_selector,
			      .field_selector = specs[i].field_selector},
		    .project = specs[i].project,
		    .indexes = specs[i].index.name ? &specs[i].index : NULL,
		    .n_indexes = specs[i].index.name ? 1 : 0,
		};

		if ((ret = bw_informer_new(&op->informers[i], op->ctx.client, &o, err)) != 0 ||
		    (ret = bw_informer_add_handlers(op->informers[i], &specs[i].handlers, err)) !=
			0)
			return ret;
	}
	op->ctx.caches.services = bw_informer_store(op->informers[INF_SERVICES]);
	op->ctx.caches.breakers = bw_informer_store(op->informers[INF_BREAKERS]);
	op->ctx.caches.deployments = bw_informer_store(op->informers[INF_DEPLOYMENTS]);
	op->ctx.caches.pods = bw_informer_store(op->informers[INF_PODS]);
	op->ctx.caches.registries = bw_informer_store(op->informers[INF_REGISTRIES]);
	op->ctx.caches.ingresses = bw_informer_store(op->informers[INF_INGRESSES]);
	op->ctx.caches.namespaces = bw_informer_store(op->informers[INF_NAMESPACES]);
	return 0;
}

/* The work queues' and watches' metrics (controller-runtime's workqueue_*
 * names) are collected from their statistics at each scrape. */
static const struct {
	enum bw_metrics_type type;
	const char *name, *help;
} scraped_metrics[SCRAPED_N] = {
    [S_DEPTH] = {BW_METRICS_GAUGE, "workqueue_depth", "Current depth of workqueue"},
    [S_ADDS] = {BW_METRICS_COUNTER, "workqueue_adds_total",
		"Total number of adds handled by workqueue"},
    [S_RETRIES] = {BW_METRICS_COUNTER, "workqueue_retries_total",
		   "Total number of retries handled by workqueue"},
    [S_UNFINISHED] = {BW_METRICS_GAUGE, "workqueue_unfinished_work_seconds",
		      "How many seconds of work has been done that is in progress and hasn't "
		      "been observed by work_duration."},
    [S_LONGEST] = {BW_METRICS_GAUGE, "workqueue_longest_running_processor_seconds",
		   "How many seconds has the longest running processor for workqueue been "
		   "running."},
    [S_QUEUE_DURATION] = {BW_METRICS_HISTOGRAM, "workqueue_queue_duration_seconds",
			  "How long in seconds an item stays in workqueue before being "
			  "requested"},
    [S_WORK_DURATION] = {BW_METRICS_HISTOGRAM, "workqueue_work_duration_seconds",
			 "How long in seconds processing an item from workqueue takes."},
    [S_WATCH_RESTARTS] = {BW_METRICS_COUNTER, "breakwater_watch_restarts_total",
			  "Watches that ended in an error or a stall and were restarted"},
    [S_WATCH_RELISTS] = {BW_METRICS_COUNTER, "breakwater_watch_relists_total",
			 "Complete lists, the first and after 410 Gone"},
};

static void collect_histogram(struct bw_metrics_sink *sink, const char *queue,
			      const struct bw_workqueue_histogram *h)
{
	bw_metrics_sink_histogram(sink, h->buckets, h->count, h->sum_seconds, queue);
}

static void collect_scraped(struct bw_metrics_sink *sink, void *arg)
{
	const struct scraped *m = arg;
	struct bw_workqueue_stats qs;
	struct bw_reflector_stats rs;

	if (m->which == S_WATCH_RESTARTS || m->which == S_WATCH_RELISTS) {
		for (int i = 0; i < INF_N; i++) {
			bw_informer_stats(m->op->informers[i], &rs);
			bw_metrics_sink_value(
			    sink,
			    (double)(m->which == S_WATCH_RESTARTS ? rs.watch_restarts : rs.lists),
			    informer_names[i]);
		}
		return;
	}
	for (int i = 0; i < Q_N; i++) {
		const char *q = controller_names[i];

		bw_workqueue_stats(m->op->queues[i], &qs);
		switch (m->which) {
		case S_DEPTH:
			bw_metrics_sink_value(sink, (double)qs.depth, q);
			break;
		case S_ADDS:
			bw_metrics_sink_value(sink, (double)qs.adds_total, q);
			break;
		case S_RETRIES:
			bw_metrics_sink_value(sink, (double)qs.retries_total, q);
			break;
		case S_UNFINISHED:
			bw_metrics_sink_value(sink, qs.unfinished_work_seconds, q);
			break;
		case S_LONGEST:
			bw_metrics_sink_value(sink, qs.longest_running_processor_seconds, q);
			break;
		case S_QUEUE_DURATION:
			collect_histogram(sink, q, &qs.queue_duration);
			break;
		case S_WORK_DURATION:
			collect_histogram(sink, q, &qs.work_duration);
			break;
		}
	}
}

static int make_scraped_metrics(struct bw_operator *op, struct bw_error *err)
{
	int ret;

	for (int i = 0; i < SCRAPED_N; i++) {
		int watch = i == S_WATCH_RESTARTS || i == S_WATCH_RELISTS;
		int hist = scraped_metrics[i].type == BW_METRICS_HISTOGRAM;

		op->scraped[i] = (struct scraped){op, i, NULL};
		if ((ret = bw_metrics_register_collector(
			 op->metrics, scraped_metrics[i].type, scraped_metrics[i].name,
			 scraped_metrics[i].help, BW_METRICS_LABELS(watch ? "resource" : "name"),
			 hist ? bw_workqueue_bucket_bounds : NULL, hist ? BW_WORKQUEUE_BUCKETS : 0,
			 collect_scraped, &op->scraped[i], &op->scraped[i].collector, err)) != 0)
			return ret;
	}
	return 0;
}

static int make_metrics(struct bw_operator *op, struct bw_error *err)
{
	int ret;

	if ((ret = bw_metrics_register_counter(op->metrics, "controller_runtime_reconcile_total",
					       "Total number of reconciliations per controller",
					       BW_METRICS_LABELS("controller", "result"),
					       &op->reconcile_total, err)) != 0 ||
	    (ret = bw_metrics_register_counter(
		 op->metrics, "controller_runtime_reconcile_errors_total",
		 "Total number of reconciliation errors per controller",
		 BW_METRICS_LABELS("controller"), &op->reconcile_errors, err)) != 0 ||
	    (ret = bw_metrics_register_histogram(
		 op->metrics, "controller_runtime_reconcile_time_seconds",
		 "Length of time per reconciliation per controller",
		 BW_METRICS_LABELS("controller"), bw_metrics_reconcile_buckets,
		 BW_METRICS_RECONCILE_BUCKETS_N, &op->reconcile_time, err)) != 0)
		return ret;
	for (int i = 0; i < Q_N; i++) {
		/* series exist from the start, as controller-runtime does */
		bw_metrics_counter_add(op->reconcile_total, 0, controller_names[i], "success");
		bw_metrics_counter_add(op->reconcile_total, 0, controller_names[i], "error");
		bw_metrics_counter_add(op->reconcile_total, 0, controller_names[i],
				       "requeue_after");
		bw_metrics_counter_add(op->reconcile_errors, 0, controller_names[i]);
	}
	return make_scraped_metrics(op, err);
}

int bw_operator_new(struct bw_operator **out, struct bw_client *client,
		    struct bw_recorder *recorder, struct bw_metrics *metrics,
		    const struct bw_operator_options *opts, struct bw_error *err)
{
	static int (*const reconcilers[Q_N])(struct bw_operator_context *, const char *, long *) = {
	    bw_reconcile_service, bw_reconcile_breaker, bw_reconcile_registry};
	struct bw_operator *op;
	int ret;

	*out = NULL;
	op = calloc(1, sizeof(*op));
	if (!op)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	op->ctx.client = client;
	op->ctx.recorder = recorder;
	op->metrics = metrics;
	op->workers = opts && opts->workers > 0 ? opts->workers : 2;
	op->ctx.repair_pods = opts && opts->repair_pods;
	op->ctx.expected_injection = opts ? opts->expected_injection : NULL;
	op->ctx.expected_injection_arg = opts ? opts->expected_injection_arg : NULL;
	op->ctx.applied = bw_applied_new();
	if (!op->ctx.applied) {
		ret = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto fail;
	}
	for (int i = 0; i < Q_N; i++) {
		struct bw_workqueue_options qo = {.name = controller_names[i]};

		if ((ret = bw_workqueue_new(&op->queues[i], &qo, err)) != 0)
			goto fail;
		op->controllers[i] = (struct controller){op, i, reconcilers[i]};
	}
	op->ctx.service_queue = op->queues[Q_SERVICE];
	op->ctx.breaker_queue = op->queues[Q_BREAKER];
	op->ctx.registry_queue = op->queues[Q_REGISTRY];
	if ((ret = make_informers(op, opts ? opts->namespace : NULL, err)) != 0 ||
	    (ret = make_metrics(op, err)) != 0)
		goto fail;
	*out = op;
	return 0;
fail:
	bw_operator_free(op);
	return ret;
}

const struct bw_operator_caches *bw_operator_caches(struct bw_operator *op)
{
	return &op->ctx.caches;
}

int bw_operator_start_informers(struct bw_operator *op, struct bw_error *err)
{
	int ret;

	for (int i = 0; i < INF_N; i++)
		if ((ret = bw_informer_start(op->informers[i], err)) != 0)
			return ret;
	return 0;
}

int bw_operator_synced(struct bw_operator *op)
{
	for (int i = 0; i < INF_N; i++)
		if (!bw_informer_has_synced(op->informers[i]))
			return 0;
	return 1;
}

static int run_one(const char *key, void *arg, long *requeue_after_ms)
{
	struct controller *c = arg;
	struct bw_operator *op = c->op;
	const char *name = controller_names[c->index];
	int64_t start = bw_now_ns();
	int ret;

	ret = c->reconcile(&op->ctx, key, requeue_after_ms);
	bw_metrics_histogram_observe(op->reconcile_time, (double)(bw_now_ns() - start) / 1e9, name);
	if (ret != 0) {
		bw_metrics_counter_inc(op->reconcile_total, name, "error");
		bw_metrics_counter_inc(op->reconcile_errors, name);
		if (ret == BW_ECONFLICT) /* routine: a write raced the cache */
			bw_log_debug("operator", "%s %s: conflict; retrying", name, key);
		else
			bw_log_warn("operator",
				    "%s %s: reconcile failed (%s); retrying with backoff", name,
				    key, bw_code_name(ret));
	} else {
		bw_metrics_counter_inc(op->reconcile_total, name,
				       *requeue_after_ms > 0 ? "requeue_after" : "success");
	}
	return ret;
}

int bw_operator_start_controllers(struct bw_operator *op, struct bw_error *err)
{
	int ret;

	if (op->controllers_started)
		return 0;
	for (int i = 0; i < Q_N; i++)
		if ((ret = bw_workqueue_run(op->queues[i], op->workers, run_one,
					    &op->controllers[i], err)) != 0)
			return ret;
	op->controllers_started = 1;
	bw_log_info("operator", "controllers started with %d workers each", op->workers);
	return 0;
}

void bw_operator_stop(struct bw_operator *op)
{
	for (int i = 0; i < Q_N; i++)
		if (op->queues[i])
			bw_workqueue_shutdown(op->queues[i], BW_WORKQUEUE_NOW);
	for (int i = 0; i < INF_N; i++)
		if (op->informers[i])
			bw_informer_stop(op->informers[i]);
}

void bw_operator_free(struct bw_operator *op)
{
	if (!op)
		return;
	for (int i = 0; i < SCRAPED_N; i++)
		bw_metrics_collector_detach(op->scraped[i].collector);
	bw_operator_stop(op);
	/* every informer ended before any store goes: one's handlers read the
	 * others' stores (a pod's handler looks up its Breakers) */
	for (int i = 0; i < INF_N; i++)
		if (op->informers[i])
			bw_informer_join(op->informers[i]);
	for (int i = 0; i < INF_N; i++)
		bw_informer_free(op->informers[i]);
	for (int i = 0; i < Q_N; i++)
		bw_workqueue_free(op->queues[i]);
	bw_applied_free(op->ctx.applied);
	free(op);
}

/* --- metrics that are read from the queues and informers at scrape time --- */

int bw_operator_render_metrics(struct bw_operator *op, char **out, size_t *len,
			       struct bw_error *err)
{
	return bw_metrics_render(op->metrics, out, len, err);
}
