/*
 * The operator's wiring: informers and what they cache, which keys their
 * events enqueue, the controllers' queues and workers, and their metrics.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "operator.h"
#include "registry.h"
#include "rules.h"

enum {
	INF_SERVICES,
	INF_BREAKERS,
	INF_DEPLOYMENTS,
	INF_PODS,
	INF_REGISTRIES,
	INF_INGRESSES,
	INF_NAMESPACES,
	INF_CONFIGMAPS,
	INF_SECRETS,
	INF_N
};

static const char *const informer_names[INF_N] = {BW_PLURAL_SERVICES "." BW_API_GROUP,
						  BW_PLURAL_BREAKERS "." BW_API_GROUP,
						  "deployments",
						  "pods",
						  "configmaps",
						  "ingresses",
						  "namespaces",
						  "configmaps-config",
						  "secrets"};

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
	atomic_ulong reconciles; /* run so far, of every controller */
};

/* --- event handlers: enqueue keys --- */

static void enqueue(struct bw_workqueue *q, const char *key)
{
	struct bw_error err;

	if (bw_workqueue_add(q, key, &err) != 0 && err.code != BW_ESTOPPED)
		bw_log_warn("operator", "enqueue %s: %s", key, err.message);
}

/* A namespace's registry is built from every Service of it: changes are
 * gathered into one build, so a namespace converging costs a build per
 * window, not one per change (at 1,000 Services and 250 ms the builds were
 * still a third of the operator's CPU). The window grows with the registry
 * the namespace has now (bw_registry_gather_ms(): 1 s for a small one, 10 s
 * at 1 MB), as the cost of a build does. The first change of a window sets
 * its end: later ones keep it (bw_workqueue_add_after()). */
static void enqueue_registry(struct bw_operator *op, const char *ns)
{
	const struct bw_cached_registry *r =
	    bw_store_get(op->ctx.caches.registries, ns, BW_REGISTRY_NAME);
	long delay_ms = bw_registry_gather_ms(r ? r->bytes : 0);
	struct bw_error err;

	bw_store_item_put(r);
	if (bw_workqueue_add_after(op->ctx.registry_queue, ns, delay_ms, &err) != 0 &&
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
static int depends_on(const struct bw_cached_service *o, const char *key)
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
	const struct bw_cached_service *o = item;
	struct bw_store_items items = {0};

	/* most Services have no route, and then nothing is listed */
	if (!o->view.route_path || bw_store_list(op->ctx.caches.services, NULL, &items, NULL) != 0)
		return;
	for (size_t i = 0; i < items.count; i++) {
		const struct bw_cached_service *p = items.v[i];

		if (p != o &&
		    !bw_rules_same_object(o->view.ns, o->view.name, p->view.ns, p->view.name) &&
		    bw_rules_same_route(&o->view, &p->view))
			enqueue_item(op->ctx.service_queue, p);
	}
	bw_store_items_release(&items);
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
	const struct bw_cached_service *a = old_item, *b = new_item;
	struct bw_operator *op = ctx;

	if (a->object.generation != b->object.generation) {
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
	const struct bw_cached_breaker *b = item;
	struct bw_operator *op = ctx;

	/* every Breaker of the namespace: one that comes or goes may decide
	 * which of two Breakers with one target applies (rules.h) */
	enqueue_breakers_of(op, bw_store_item_namespace(item));
	enqueue_item(op->ctx.breaker_queue, item);
	enqueue_registry(op, bw_store_item_namespace(item));
	/* the callers of its target: whether their breaker sidecar protects it
	 * is part of their pods' injection (webhook/mutate.h) */
	if (b->view.target)
		enqueue_dependents(op, bw_store_item_namespace(item), b->view.target);
}

static void on_breaker_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_breaker *a = old_item, *b = new_item;

	if (a->view.target && (!b->view.target || strcmp(a->view.target, b->view.target) != 0))
		enqueue_dependents(ctx, bw_store_item_namespace(old_item), a->view.target);
	on_breaker(new_item, ctx);
}

/* A namespace's labels choose injection and the breaker sidecar: its
 * Services count their pods against the new generation. */
static void on_namespace_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_namespace *a = old_item, *b = new_item;
	struct bw_operator *op = ctx;
	struct bw_store_items items = {0};

	if (strcmp(a->labels_json ? a->labels_json : "", b->labels_json ? b->labels_json : "") == 0)
		return;
	if (bw_store_list(op->ctx.caches.services, bw_store_item_name(new_item), &items, NULL) != 0)
		return;
	for (size_t i = 0; i < items.count; i++)
		enqueue_item(op->ctx.service_queue, items.v[i]);
	bw_store_items_release(&items);
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

static void enqueue_config_users(struct bw_operator *op, const void *item, const char *kind);

/* The registry's ConfigMap: its builder looks again (someone may have edited
 * or deleted it), and so do the Services whose pods reference it by name,
 * for their config hash (INF_CONFIGMAPS leaves it out). */
static void on_registry(const void *item, void *ctx)
{
	struct bw_operator *op = ctx;

	enqueue_registry(op, bw_store_item_namespace(item));
	enqueue_config_users(op, item, "ConfigMap");
}

static void on_registry_update(const void *old_item, const void *new_item, void *ctx)
{
	struct bw_operator *op = ctx;
	const struct bw_cached_registry *a = old_item, *b = new_item;

	enqueue_registry(op, bw_store_item_namespace(new_item));
	if (memcmp(a->digest, b->digest, sizeof(a->digest)) != 0)
		enqueue_config_users(op, new_item, "ConfigMap");
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

/* --- config rollouts: a ConfigMap or Secret whose content changed wakes
 * the Services that reference it (model/confighash.h), found by the
 * by-config index, not a pass over the namespace --- */

/* Whether the cached Service o references key ("namespace/Kind/name"). */
static int references(const struct bw_cached_service *o, const char *key)
{
	for (size_t i = 0; i < o->n_config; i++)
		if (strcmp(o->config_keys[i], key) == 0)
			return 1;
	return 0;
}

static void enqueue_config_users(struct bw_operator *op, const void *item, const char *kind)
{
	const char *ns = bw_store_item_namespace(item);
	struct bw_store_items items = {0};
	char key[600], all[300];

	snprintf(key, sizeof(key), "%s/%s/%s", ns, kind, bw_store_item_name(item));
	snprintf(all, sizeof(all), "%s/*", ns);
	for (int pass = 0; pass < 2; pass++) {
		if (bw_store_by_index(op->ctx.caches.services, BW_INDEX_BY_CONFIG,
				      pass == 0 ? key : all, &items, NULL) != 0)
			continue;
		for (size_t i = 0; i < items.count; i++)
			if (pass == 0 || references(items.v[i], key))
				enqueue_item(op->ctx.service_queue, items.v[i]);
		bw_store_items_release(&items);
	}
}

static void on_configmap(const void *item, void *ctx)
{
	enqueue_config_users(ctx, item, "ConfigMap");
}

/* Only a new digest counts: a label or annotation edit changes nothing. */
static void on_configmap_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_config *a = old_item, *b = new_item;

	if (strcmp(a->digest, b->digest) != 0)
		on_configmap(new_item, ctx);
}

static void on_secret(const void *item, void *ctx)
{
	enqueue_config_users(ctx, item, "Secret");
}

static void on_secret_update(const void *old_item, const void *new_item, void *ctx)
{
	const struct bw_cached_config *a = old_item, *b = new_item;

	if (strcmp(a->digest, b->digest) != 0)
		on_secret(new_item, ctx);
}

/* --- set-up --- */

struct informer_spec {
	const struct bw_resource *res;
	const char *label_selector, *field_selector;
	bw_store_project_fn *project;
	struct bw_informer_handlers handlers;
	struct bw_store_index index[2]; /* up to two; the first unused has name NULL */
};

/* The informers whose projection reads the metadata alone, watched as
 * PartialObjectMetadata: a pod's label and annotation are half its bytes,
 * parsed on every status change of every pod. */
static const int metadata_only[INF_N] = {[INF_PODS] = 1};

static int make_informers(struct bw_operator *op, const char *ns, struct bw_error *err)
{
	char ns_selector[300];
	const struct informer_spec specs[INF_N] = {
	    [INF_SERVICES] = {&bw_res_bw_services,
			      NULL,
			      NULL,
			      bw_project_service,
			      {on_service, on_service_update, on_service, op},
			      {{BW_INDEX_BY_DEPENDENCY, bw_index_dependency, NULL},
			       {BW_INDEX_BY_CONFIG, bw_index_config, NULL}}},
	    [INF_BREAKERS] = {&bw_res_bw_breakers,
			      NULL,
			      NULL,
			      bw_project_breaker,
			      {on_breaker, on_breaker_update, on_breaker, op},
			      {{NULL, NULL, NULL}}},
	    [INF_DEPLOYMENTS] = {&bw_res_deployments,
				 BW_LABEL_SERVICE,
				 NULL,
				 bw_project_deployment,
				 {on_deployment, on_deployment_update, on_deployment, op},
				 {{NULL, NULL, NULL}}},
	    [INF_PODS] = {&bw_res_pods,
			  BW_LABEL_SERVICE,
			  NULL,
			  bw_project_pod,
			  {on_pod, on_pod_update, on_pod, op},
			  {{BW_INDEX_BY_SERVICE, bw_index_service, NULL}}},
	    [INF_REGISTRIES] = {&bw_res_configmaps,
				NULL,
				"metadata.name=" BW_REGISTRY_NAME,
				bw_project_registry,
				{on_registry, on_registry_update, on_registry, op},
				{{NULL, NULL, NULL}}},
	    [INF_INGRESSES] = {&bw_res_ingresses,
			       BW_LABEL_MANAGED "=" BW_MANAGER,
			       NULL,
			       bw_project_ingress,
			       {on_ingress, on_ingress_update, on_ingress, op},
			       {{NULL, NULL, NULL}}},
	    [INF_NAMESPACES] = {&bw_res_namespaces,
				NULL,
				ns ? ns_selector : NULL,
				bw_project_namespace,
				{NULL, on_namespace_update, NULL, op},
				{{NULL, NULL, NULL}}},
	    /* every ConfigMap and Secret in scope, as a digest of its data
	     * (bw_cached_config): the data is never kept; but the registry's,
	     * which INF_REGISTRIES has (a digest too) and which changes with
	     * every Service: parsed twice per change, it cost a fifth of the
	     * operator's CPU at 1,000 Services (bench/README.md) */
	    [INF_CONFIGMAPS] = {&bw_res_configmaps,
				NULL,
				"metadata.name!=" BW_REGISTRY_NAME,
				bw_project_config,
				{on_configmap, on_configmap_update, on_configmap, op},
				{{NULL, NULL, NULL}}},
	    [INF_SECRETS] = {&bw_res_secrets,
			     NULL,
			     NULL,
			     bw_project_config,
			     {on_secret, on_secret_update, on_secret, op},
			     {{NULL, NULL, NULL}}},
	};
	int ret;

	/* a namespaced operator reads only its own Namespace object */
	if (ns)
		snprintf(ns_selector, sizeof(ns_selector), "metadata.name=%s", ns);
	for (int i = 0; i < INF_N; i++) {
		size_t n_indexes = specs[i].index[1].name ? 2 : specs[i].index[0].name ? 1 : 0;
		struct bw_informer_options o = {
		    .watch = {.resource = specs[i].res,
			      .namespace = ns,
			      .label_selector = specs[i].label_selector,
			      .field_selector = specs[i].field_selector,
			      .metadata_only = metadata_only[i],
			      /* no projection reads them: a third to two
			       * fifths of every object, and most of a pod's
			       * metadata, left unparsed */
			      .drop_managed_fields = 1},
		    .project = specs[i].project,
		    .indexes = n_indexes ? specs[i].index : NULL,
		    .n_indexes = n_indexes,
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
	op->ctx.caches.configmaps = bw_informer_store(op->informers[INF_CONFIGMAPS]);
	op->ctx.caches.secrets = bw_informer_store(op->informers[INF_SECRETS]);
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
	op->workers = opts && opts->workers > 0 ? opts->workers : 4;
	op->ctx.repair_pods = opts && opts->repair_pods;
	op->ctx.resync_s = opts && opts->resync_s > 0 ? opts->resync_s : 600;
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

unsigned long bw_operator_reconciles(struct bw_operator *op)
{
	return atomic_load_explicit(&op->reconciles, memory_order_relaxed);
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
	atomic_fetch_add_explicit(&op->reconciles, 1, memory_order_relaxed);
	bw_metrics_histogram_observe(op->reconcile_time, (double)(bw_now_ns() - start) / 1e9, name);
	bw_log_trace("operator", "%s %s: reconciled in %.1f ms (%s)", name, key,
		     (double)(bw_now_ns() - start) / 1e6, bw_code_name(ret));
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
	/* A Service's reconcile waits on its writes (a new one: its revision,
	 * core Service, Deployment, status; 0.9 s in all on a loaded API server
	 * at 300 Services), so its controller takes the workers; the Breakers'
	 * and the registry's (one key per namespace) take two at most. */
	for (int i = 0; i < Q_N; i++)
		if ((ret = bw_workqueue_run(op->queues[i],
					    i == Q_SERVICE || op->workers < 2 ? op->workers : 2,
					    run_one, &op->controllers[i], err)) != 0)
			return ret;
	op->controllers_started = 1;
	bw_log_info("operator", "controllers started: %d Service workers", op->workers);
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
