/*
 * breakwater's resources as the caches hold them: the resource descriptors
 * of its custom resources, the projected item of each cached kind (what
 * the operator's reconcilers and the webhook's admissions read), and the
 * projections that build them from a watched object, for any store filled
 * the same way (the operator's informers, the webhook's benchmark, the
 * fuzz target). Part of model/: it knows the shape of the objects, not who
 * watches them (operator/operator.c wires the informers).
 *
 * Projections read any JSON object without trusting its shape: a missing
 * or mistyped field reads as 0 or "". They run on the informers' threads;
 * items are immutable once stored and read by any thread.
 */
#ifndef BW_MODEL_CACHED_H
#define BW_MODEL_CACHED_H

#include <stddef.h>

#include <jansson.h>

#include "client.h"
#include "names.h"
#include "rules.h"
#include "store.h"

#define BW_REGISTRY_DIGEST_LEN 32

extern const struct bw_resource bw_res_bw_services; /* services.breakwater.io */
extern const struct bw_resource bw_res_bw_breakers; /* breakers.breakwater.io */

/* A cached custom resource: the object as compact JSON (without
 * managedFields and the last-applied annotation), deflated against a
 * dictionary of a typical Service (lib/deflate.h: a converged Service of
 * 1.9 KB keeps about 120 bytes), and its generation. The first member of
 * the Service and Breaker items, so either is one; bw_cached_object_parse()
 * gives the object back. */
struct bw_cached_object {
	const unsigned char *text; /* text_size bytes */
	unsigned text_size;
	unsigned text_len; /* bytes of the JSON text it unpacks to */
	long generation;
};

/* A cached breakwater Service: its text (the reconciler renders the pod
 * template and writes status from it), and the fields read of every
 * Service of a namespace, or of the cluster, on every reconcile and every
 * admission, projected once per version: the view the rules and the
 * webhook read, its registry entry and the keys of its dependencies. */
struct bw_cached_service {
	struct bw_cached_object object; /* first: bw_cached_object_parse() reads it */
	struct bw_service_view view;	/* ns, name, route, dependsOn, port (rules.h) */
	const char *image;		/* spec.image, or "" */
	long replicas;			/* spec.replicas, 1 when absent */
	/* bw_registry_service_entry() as compact JSON; NULL when not listed
	 * (invalid, being deleted) */
	const char *registry_entry;
	/* "namespace/name" of each spec.dependsOn name, n_dependencies of them;
	 * past BW_STORE_INDEX_MAX of them, one more: "namespace/ *" without the
	 * space, the value the by-dependency index then holds instead */
	const char *const *dependency_keys;
	size_t n_dependencies;
	/* "namespace/Kind/name" of each ConfigMap and Secret its pods reference
	 * (confighash.h), n_config of them, none when spec.configRollout is
	 * Disabled; past BW_STORE_INDEX_MAX one more, "namespace/ *" without the
	 * space, as dependency_keys */
	const char *const *config_keys;
	size_t n_config;
};

/* A cached Breaker: its text (the controller reads its status) and the
 * view the rules and the webhook read, its policy checked once. */
struct bw_cached_breaker {
	struct bw_cached_object object; /* first */
	struct bw_breaker_view view;	/* ns, name, target, valid (rules.h) */
};

/* The index of the Services cache: a Service under the key of each Service
 * it depends on ("namespace/name"), so the dependents of one are found
 * without a pass over the namespace. */
#define BW_INDEX_BY_DEPENDENCY "by-dependency"
/* The index of the pods cache: a pod under "namespace/service". */
#define BW_INDEX_BY_SERVICE "by-service"

/* The index of the Services cache for config rollouts: a Service under
 * "namespace/ConfigMap/name" and "namespace/Secret/name" of each object its
 * pods reference, so a change of one wakes only those Services. */
#define BW_INDEX_BY_CONFIG "by-config"

/* A cached ConfigMap or Secret (any of them, for config rollouts): the
 * digest of its data and binaryData (confighash.h), nothing else: never the
 * data, never its labels. Name, namespace and resourceVersion are the
 * store's. */
struct bw_cached_config {
	char digest[32 + 1]; /* BW_CONFIG_DIGEST_LEN */
};

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
	const char *revision;	      /* its breakwater.io/revision annotation, or "" */
};

/* A cached pod of a breakwater Service: from its metadata alone (the
 * operator watches pods as PartialObjectMetadata, half a pod's bytes). */
struct bw_cached_pod {
	const char *service;	 /* its breakwater.io/service label */
	const char *service_key; /* "namespace/service", its by-service index value */
	const char *injected;	 /* its breakwater.io/injected annotation, or "" */
};

/* A cached registry ConfigMap: the digest of its data, not the data (up to
 * 1 MiB a namespace, the operator's own writes coming back), which is only
 * ever compared with what would be written (bw_registry_digest()). */
struct bw_cached_registry {
	unsigned char digest[BW_REGISTRY_DIGEST_LEN];
	size_t bytes; /* of registry.json and breakers.json: paces the builds
		       * (bw_registry_gather_ms()) */
};

/* SHA-256 of a registry's two texts (registry.json, breakers.json; NULL is
 * ""), as bw_project_registry() keeps it. */
void bw_registry_digest(const char *registry_json, const char *breakers_json,
			unsigned char digest[BW_REGISTRY_DIGEST_LEN]);

/* A cached Namespace: its labels, as compact JSON ("{}" when none), and
 * whether it is being deleted. */
struct bw_cached_namespace {
	const char *labels_json;
	int terminating;
};

/* A cached Ingress (only those breakwater labels): its address, the first
 * status.loadBalancer.ingress entry's ip, else its hostname, "" when it has
 * none yet. status.routeURL of a route without a host shows it. */
struct bw_cached_ingress {
	const char *address;
};

/* True when namespace ns is cached as being deleted: its Services are on
 * their way out and hold no route any more (a test, or a team, deleting a
 * namespace and applying the same routes elsewhere would otherwise be
 * refused until the namespace controller got to them). Thread-safe. */
int bw_namespace_terminating(struct bw_store *namespaces, const char *ns);

/* True when the cached Service o may hold route pathPrefix prefix: its
 * route has that pathPrefix (the host is the rules' to compare) and its
 * namespace is not being deleted. Thread-safe. */
int bw_service_may_hold_route(struct bw_store *namespaces, const struct bw_cached_service *o,
			      const char *prefix);

/* The projections behind the caches, for anyone filling a store the same
 * way (the webhook's benchmark, the fuzz target): Services
 * (bw_cached_service), Breakers (bw_cached_breaker), Namespaces, Deployments, Pods (NULL for a pod
 * of no breakwater Service, or one being deleted) and registry ConfigMaps. They read any JSON
 * object without trusting its shape: a missing or mistyped field reads as 0 or "". */
void *bw_project_breaker(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_project_service(struct bw_store_pack *pack, const json_t *obj, void *arg);
size_t bw_index_dependency(const void *item, const char **values, size_t max, void *arg);
size_t bw_index_service(const void *item, const char **values, size_t max, void *arg);
void *bw_project_namespace(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_project_ingress(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_project_deployment(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_project_pod(struct bw_store_pack *pack, const json_t *obj, void *arg);
void *bw_project_registry(struct bw_store_pack *pack, const json_t *obj, void *arg);
/* ConfigMaps and Secrets: bw_cached_config (NULL out of memory). */
void *bw_project_config(struct bw_store_pack *pack, const json_t *obj, void *arg);
size_t bw_index_config(const void *item, const char **values, size_t max, void *arg);

/* Parses a cached custom resource back into JSON (a new reference), or NULL. */
json_t *bw_cached_object_parse(const struct bw_cached_object *item);

#endif
