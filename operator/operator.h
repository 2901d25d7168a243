/*
 * The operator: shared informers feeding three controllers (Service,
 * Breaker, and the per-namespace registry ConfigMap), each with its own work
 * queue, started when this process leads.
 *
 * Ownership: bw_operator_new() borrows the client, recorder and metrics
 * registry (they must outlive the operator) and owns its informers and
 * queues. Items read from the caches are references (bw_store_item_put them).
 * Thread-safety: informer handlers run on the informers' threads and only
 * enqueue keys; reconcilers run on the queues' worker threads and read the
 * caches, which are safe for concurrent readers. A key is never reconciled by
 * two workers at once. start/stop/free are called from the main thread.
 */
#ifndef BW_OPERATOR_H
#define BW_OPERATOR_H

#include <stdint.h>

#include "applied.h"
#include "client.h"
#include "events.h"
#include "informer.h"
#include "metrics.h"
#include "names.h"
#include "workqueue.h"

extern const struct bw_resource bw_res_bw_services; /* services.breakwater.io */
extern const struct bw_resource bw_res_bw_breakers; /* breakers.breakwater.io */

/* Cached custom resources: the object as compact JSON (without managedFields
 * and the last-applied annotation), parsed again by the reconciler. A
 * Service's projection (bw_operator_project_service) also keeps what is read
 * of every Service of a namespace on every change of one, so that costs no
 * parse: its registry entry and the keys of its dependencies. */
struct bw_cached_object {
	const char *json;
	long generation;
	/* bw_registry_service_entry() as compact JSON; NULL when not listed
	 * (invalid, being deleted), and for Breakers */
	const char *registry_entry;
	/* "namespace/name" of each spec.dependsOn name, n_dependencies of them;
	 * past BW_STORE_INDEX_MAX of them, one more: "namespace/ *" without the
	 * space, the value the by-dependency index then holds instead */
	const char *const *dependency_keys;
	size_t n_dependencies;
};

/* The index of the Services cache: a Service under the key of each Service
 * it depends on ("namespace/name"), so the dependents of one are found
 * without a pass over the namespace. */
#define BW_INDEX_BY_DEPENDENCY "by-dependency"
/* The index of the pods cache: a pod under "namespace/service". */
#define BW_INDEX_BY_SERVICE "by-service"

/* A cached Deployment: what rollouts and status need, nothing more. */
struct bw_cached_deployment {
	long generation, observed_generation;
	long spec_replicas, replicas, updated, ready, available;
	int paused;
	const char *image;	      /* the "app" container's */
	const char *progressing;      /* the Progressing condition's reason, or "" */
	const char *available_status; /* "True", "False" or "" */
	const char *uid;	      /* its own metadata.uid */
	const char *owner_uid;	      /* the controller owner's uid, or "" */
	const char *restarted_at;     /* the pod template's breakwater.io/restartedAt, or "" */
	const char *applied;	      /* its breakwater.io/applied annotation, or "" */
};

/* A cached pod of a breakwater Service. */
struct bw_cached_pod {
	const char *service;	 /* its breakwater.io/service label */
	const char *service_key; /* "namespace/service", its by-service index value */
	const char *injected;	 /* its breakwater.io/injected annotation, or "" */
};

/* A cached registry ConfigMap. */
struct bw_cached_registry {
	const char *registry_json;
	const char *breakers_json;
};

struct bw_operator_options {
	const char *namespace; /* watch one namespace; NULL: all */
	int workers;	       /* per controller; default 2 */
	int repair_pods;       /* restart Services whose pods missed injection */
	/* The injection generation pods of a Service should carry now (the
	 * webhook's), so pods injected before a dependency changed count as
	 * stale too; NULL: only pods without injection are stale. */
	int (*expected_injection)(const char *ns, const char *service, char *buf, size_t size,
				  void *arg);
	void *expected_injection_arg;
};

/* A cached Namespace: its labels, as compact JSON ("{}" when none), and
 * whether it is being deleted. */
struct bw_cached_namespace {
	const char *labels_json;
	int terminating;
};

/* True when namespace ns is cached as being deleted: its Services are on
 * their way out and hold no route any more (a test, or a team, deleting a
 * namespace and applying the same routes elsewhere would otherwise be
 * refused until the namespace controller got to them). Thread-safe. */
int bw_operator_namespace_terminating(struct bw_store *namespaces, const char *ns);

/* True when the cached Service o may hold route pathPrefix prefix: its JSON
 * holds the prefix (a substring test that spares parsing every Service of
 * the cluster; a prefix JSON would escape cannot be tested so, and then any
 * Service may) and its namespace is not being deleted. Thread-safe. */
int bw_operator_may_hold_route(struct bw_store *namespaces, const struct bw_cached_object *o,
			       const char *prefix);

struct bw_operator;

int bw_operator_new(struct bw_operator **out, struct bw_client *client,
		    struct bw_recorder *recorder, struct bw_metrics *metrics,
		    const struct bw_operator_options *opts, struct bw_error *err);
void bw_operator_free(struct bw_operator *op);

/* Starts the informers (every replica keeps its caches warm). */
int bw_operator_start_informers(struct bw_operator *op, struct bw_error *err);
/* True once every informer has listed. */
int bw_operator_synced(struct bw_operator *op);
/* Starts the controllers' workers: on becoming the leader. */
int bw_operator_start_controllers(struct bw_operator *op, struct bw_error *err);
/* Stops the controllers (finishing the keys in hand), then the informers. */
void bw_operator_stop(struct bw_operator *op);

/* The registry's metrics in Prometheus text, the operator's work queues and
 * watches among them (collected at each call); for the /metrics handler. */
int bw_operator_render_metrics(struct bw_operator *op, char **out, size_t *len,
			       struct bw_error *err);

/* --- for the controllers --- */

struct bw_operator_caches {
	struct bw_store *services, *breakers, *deployments, *pods, *registries, *ingresses,
	    *namespaces;
};

/* The shared pieces a reconciler uses. */
struct bw_operator_context {
	struct bw_client *client;
	struct bw_recorder *recorder;
	struct bw_operator_caches caches;
	struct bw_workqueue *service_queue, *breaker_queue, *registry_queue;
	struct bw_applied *applied; /* what the service controller last applied */
	int repair_pods;
	int (*expected_injection)(const char *ns, const char *service, char *buf, size_t size,
				  void *arg);
	void *expected_injection_arg;
};

/* The caches, for the webhook (borrowed; valid until bw_operator_free). */
const struct bw_operator_caches *bw_operator_caches(struct bw_operator *op);

/* The projections behind the caches, for anyone filling a store the same
 * way (the webhook's benchmark, the fuzz target): custom resources,
 * Namespaces, Deployments, Pods (NULL for a pod of no breakwater Service, or
 * one being deleted) and registry ConfigMaps. They read any JSON object
 * without trusting its shape: a missing or mistyped field reads as 0 or "". */
void *bw_operator_project_object(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_operator_project_service(struct bw_store_pack *pack, const json_t *obj, void *arg);
size_t bw_operator_index_dependency(const void *item, const char **values, size_t max, void *arg);
size_t bw_operator_index_service(const void *item, const char **values, size_t max, void *arg);
void *bw_operator_project_namespace(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_operator_project_deployment(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_operator_project_pod(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_operator_project_registry(struct bw_store_pack *pack, const json_t *obj, void *arg);

/* Parses a cached custom resource back into JSON (a new reference), or NULL. */
json_t *bw_cached_object_parse(const struct bw_cached_object *item);

/* Reconcilers: one key each ("namespace/name", or "namespace" for the
 * registry). Return 0, a negative BW_E* code (retried with backoff), and may
 * ask for a requeue after *requeue_after_ms. */
int bw_reconcile_service(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms);
int bw_reconcile_breaker(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms);
int bw_reconcile_registry(struct bw_operator_context *ctx, const char *ns, long *requeue_after_ms);

/* Sets (or replaces) a metav1.Condition in the array conditions, keeping
 * lastTransitionTime when the status did not change. */
void bw_condition_set(json_t *conditions, const json_t *old_conditions, const char *type,
		      const char *status, const char *reason, const char *message,
		      long observed_generation);

/* Writes new_status through the status subresource (a merge patch) when it
 * differs from obj's, the cached object it was computed from. The patch
 * carries obj's resourceVersion, so a status computed from a cache that had
 * not yet seen the last write is refused (BW_ECONFLICT: the queue retries
 * with the fresh object) instead of undoing that write. 0 also when the
 * object is gone; else the client's error. */
int bw_status_update(struct bw_operator_context *ctx, const struct bw_resource *res,
		     const json_t *obj, const json_t *new_status, struct bw_error *err);

#endif
