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
#include "cached.h"
#include "rollout.h"
#include "workqueue.h"

struct bw_operator_options {
	const char *namespace; /* watch one namespace; NULL: all */
	int workers;	       /* the Service controller's (the others: 2 at most); default 4 */
	int repair_pods;       /* restart Services whose pods missed injection */
	int resync_s;	       /* a Service is looked at this often anyway; 0: 600 */
	/* The injection generation pods of a Service should carry now (the
	 * webhook's), so pods injected before a dependency changed count as
	 * stale too; NULL: only pods without injection are stale. */
	int (*expected_injection)(const char *ns, const char *service, char *buf, size_t size,
				  void *arg);
	void *expected_injection_arg;
};

struct bw_operator;

int bw_operator_new(struct bw_operator **out, struct bw_client *client,
		    struct bw_recorder *recorder, struct bw_metrics *metrics,
		    const struct bw_operator_options *opts, struct bw_error *err);
void bw_operator_free(struct bw_operator *op);

/* Starts the informers (every replica keeps its caches warm). */
int bw_operator_start_informers(struct bw_operator *op, struct bw_error *err);
/* True once every informer has listed. */
int bw_operator_synced(struct bw_operator *op);
/* How many reconciles have run, of every controller: main.c gives the
 * heap's free memory back when they stop coming. Any thread. */
unsigned long bw_operator_reconciles(struct bw_operator *op);
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
	/* every ConfigMap and Secret in scope as a digest (bw_cached_config) */
	struct bw_store *configmaps, *secrets;
};

/* The shared pieces a reconciler uses. */
struct bw_operator_context {
	struct bw_client *client;
	struct bw_recorder *recorder;
	struct bw_operator_caches caches;
	struct bw_workqueue *service_queue, *breaker_queue, *registry_queue;
	struct bw_applied *applied; /* what the service controller last applied */
	int repair_pods;
	long resync_s; /* see bw_operator_options */
	int (*expected_injection)(const char *ns, const char *service, char *buf, size_t size,
				  void *arg);
	void *expected_injection_arg;
};

/* The caches, for the webhook (borrowed; valid until bw_operator_free). */
const struct bw_operator_caches *bw_operator_caches(struct bw_operator *op);

/* Reconcilers: one key each ("namespace/name", or "namespace" for the
 * registry). Return 0, a negative BW_E* code (retried with backoff), and may
 * ask for a requeue after *requeue_after_ms. */
int bw_reconcile_service(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms);

/*
 * Server-side apply of body to ns/name of res, field manager breakwater,
 * with force; *out (may be NULL) gets the object as applied. bw_create_by_apply()
 * only creates: body carries metadata.resourceVersion "1" for the call, a
 * precondition no namespaced object meets, so an object of that name that
 * exists is refused with BW_ECONFLICT (409) instead of taken over
 * (service_controller.c says why that holds).
 */
int bw_apply(struct bw_operator_context *ctx, const struct bw_resource *res, const char *ns,
	     const char *name, const json_t *body, json_t **out, struct bw_error *err);
int bw_create_by_apply(struct bw_operator_context *ctx, const struct bw_resource *res,
		       const char *ns, const char *name, json_t *body, json_t **out,
		       struct bw_error *err);

/*
 * For the objects a Service owns beyond its Deployment, Service and Ingress
 * (scaler.h), with the same rules (service_controller.c): svc's namespace,
 * name and uid say which object and whose. bw_owned_write() creates body
 * when absent, applies it (with force) when svc controls it, and otherwise
 * writes nothing and fills conflict (size bytes) with the sentence for the
 * OwnershipConflict condition (conflict is "" when written). body gets
 * metadata.uid for the call. bw_owned_delete() deletes the object only when
 * svc controls it (a uid precondition: never one that replaced it).
 * Both return 0 or a BW_E* code with err filled.
 */
int bw_owned_write(struct bw_operator_context *ctx, const struct bw_resource *res,
		   const json_t *svc, json_t *body, char *conflict, size_t size,
		   struct bw_error *err);
int bw_owned_delete(struct bw_operator_context *ctx, const struct bw_resource *res,
		    const json_t *svc, struct bw_error *err);
int bw_reconcile_breaker(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms);
int bw_reconcile_registry(struct bw_operator_context *ctx, const char *ns, long *requeue_after_ms);

/* Sets (or replaces) a metav1.Condition in the array conditions, keeping
 * lastTransitionTime when the status did not change. */
void bw_condition_set(json_t *conditions, const json_t *old_conditions, const char *type,
		      const char *status, const char *reason, const char *message,
		      long observed_generation);

/* A Service's status fields as the decisions give them (rollout.h):
 * observedGeneration, the images, the replica counts, pods and the repair
 * restarts; without selector, url and conditions, which the caller adds.
 * Pure: the status writer and the decisions' fixture test both use it. */
json_t *bw_rollout_status_json(const struct bw_rollout_decision *r,
			       const struct bw_repair_decision *p);

/* Writes new_status through the status subresource (a merge patch) when it
 * differs from obj's, the cached object it was computed from. The patch
 * carries obj's resourceVersion, so a status computed from a cache that had
 * not yet seen the last write is refused (BW_ECONFLICT: the queue retries
 * with the fresh object) instead of undoing that write. 0 also when the
 * object is gone; else the client's error. */
int bw_status_update(struct bw_operator_context *ctx, const struct bw_resource *res,
		     const json_t *obj, const json_t *new_status, struct bw_error *err);

#endif
