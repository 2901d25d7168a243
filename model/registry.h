/*
 * The registry ConfigMap `breakwater-registry`, one per namespace: what the
 * webhook mounts into pods at /etc/breakwater/. docs/resources.md, "The
 * registry ConfigMap", is the reference for its two keys:
 *
 *   registry.json  {"namespace": NS, "services": {NAME: {url, port,
 *                   healthPath (only with a healthCheck), readyReplicas, image
 *                   (spec.image), dependsOn}}}
 *   breakers.json  {"namespace": NS, "breakers": {NAME: {target, generation,
 *                   failureThreshold, failureRateThreshold, minimumCalls,
 *                   slidingWindow {type, size}, slowCall {durationMs,
 *                   rateThreshold}, openSeconds, maxOpenSeconds,
 *                   backoffMultiplier, halfOpenCalls, mode}}}
 *
 * A namespace too large for the full registry.json gets its compact form
 * (bw_registry_build_entries()).
 *
 * Both texts are serialised with sorted keys and no whitespace
 * (JSON_SORT_KEYS | JSON_COMPACT): the same objects always give byte-identical
 * text whatever their order in the input, so the controller can compare the
 * result with the stored ConfigMap and skip useless writes.
 *
 * These are pure functions: no I/O, no API calls, no global state.
 * Ownership (as jansson says it): JSON and string arguments are borrowed and
 * read during the call only. Results come back as NEW references through
 * json_t ** out-parameters (NULL on failure); they share nothing with the
 * arguments. Thread-safety: every function may be called from any thread.
 */
#ifndef BW_REGISTRY_H
#define BW_REGISTRY_H

#include <jansson.h>

#include "error.h"
#include "names.h"

/* The most data one ConfigMap may hold, keys and values together (the API
 * server's limit); also the cap on the text bw_registry_parse() accepts. */
#define BW_REGISTRY_MAX_BYTES (1024 * 1024)

/*
 * How long the changes of a namespace's registry are gathered into one
 * build, given the size of the registry it has now (registry.json and
 * breakers.json, in bytes): BW_REGISTRY_GATHER_MIN_MS for a small one,
 * growing in proportion to BW_REGISTRY_GATHER_MAX_MS at
 * BW_REGISTRY_MAX_BYTES and beyond. A build, its write and the parse of
 * the write's echo cost in proportion to the registry (42 ms of CPU at
 * 10,000 Services, 1 MB), and a namespace converging changes it all the
 * time: builds paced at one a second made a 10,000-Service convergence
 * spend most of the operator's CPU on them (bench/README.md). Pods see the
 * ConfigMap at the kubelet's sync, up to a minute later, anyway.
 */
#define BW_REGISTRY_GATHER_MIN_MS 1000
#define BW_REGISTRY_GATHER_MAX_MS 10000
long bw_registry_gather_ms(size_t registry_bytes);

/*
 * The registry entry of one Breaker (metadata.name, metadata.generation,
 * spec): its policy with every default applied, as breakers.json holds it
 * under the Breaker's name. Defaults: failureThreshold 5,
 * failureRateThreshold 50, minimumCalls 20, slidingWindow {Count, 100},
 * slowCall {2000, 100}, openSeconds 60, backoffMultiplier 2, maxOpenSeconds
 * 600 (or openSeconds when that is larger), halfOpenCalls 1, mode Enforce;
 * generation 0 when absent. Returns 0, or BW_EINVAL with the field named
 * (spec.target missing, a wrong type, a value out of range, an unknown mode)
 * and *out NULL; BW_ENOMEM.
 */
int bw_registry_breaker_policy(const json_t *breaker, json_t **out, struct bw_error *err);

/*
 * The registry.json entry of one Service of namespace (the caller's
 * namespace: an object without metadata.namespace is taken as this one's):
 * {url, port, healthPath (only with a healthCheck), image, dependsOn}, the
 * entry without readyReplicas, which follows the Deployment and is added at
 * build time. The operator computes it once per version of a Service (its
 * cache projection), so a registry build parses no Service. *out is NULL,
 * with 0 returned, for a Service that is not listed: of another namespace,
 * being deleted (metadata.deletionTimestamp set), or one its own reconciler
 * refuses as invalid (bw_render_validate(): it reports that in its status),
 * so one bad object never blocks the namespace's registry. Returns 0,
 * BW_EINVAL (NULL arguments) or BW_ENOMEM.
 */
int bw_registry_service_entry(const json_t *svc, const char *namespace, json_t **out,
			      struct bw_error *err);

/*
 * The whole ConfigMap for server-side apply: apiVersion v1, kind ConfigMap,
 * metadata {name breakwater-registry, namespace, labels
 * {app.kubernetes.io/managed-by: breakwater}}, data {registry.json,
 * breakers.json}.
 *
 * entries maps a Service name to its entry from bw_registry_service_entry()
 * (NULL means none); breakers is a JSON array of Breaker objects (NULL means
 * none); ready_replicas maps a Service name to the ready replicas of its
 * Deployment (NULL, a missing name or a non-integer means 0). Breakers of
 * another namespace, being deleted, or refused by their own reconciler
 * (bw_registry_breaker_policy()) are left out.
 *
 * Size: a ConfigMap holds at most BW_REGISTRY_MAX_BYTES. When the full
 * registry.json would not fit (about 5,000 Services with short names), it
 * is written in the compact form: {"compact": true, "namespace": NS,
 * "services": {NAME: {url, readyReplicas}}} (about 12,000 fit); a consumer
 * that needs the rest reads the Service itself. When even that does not
 * fit, BW_ETOOBIG (docs/resources.md says what the controller does then).
 *
 * An empty namespace gives a ConfigMap with empty maps; deleting the
 * ConfigMap when a namespace has neither Services nor Breakers is the
 * controller's decision. Returns 0, BW_EINVAL (namespace not a DNS label,
 * entries not an object or holding a non-object, breakers not an array,
 * ready_replicas not an object), BW_ETOOBIG or BW_ENOMEM.
 */
int bw_registry_build_entries(const char *namespace, const json_t *entries, const json_t *breakers,
			      const json_t *ready_replicas, json_t **configmap,
			      struct bw_error *err);

/*
 * The same from Service objects: services is a JSON array of breakwater
 * Services (NULL means none), each turned into its entry by
 * bw_registry_service_entry() (names are unique in a namespace, as the API
 * server keeps them). Returns as bw_registry_build_entries(), and BW_EINVAL
 * for services not an array.
 */
int bw_registry_build(const char *namespace, const json_t *services, const json_t *breakers,
		      const json_t *ready_replicas, json_t **configmap, struct bw_error *err);

/* One Service of a build from texts (bw_registry_build_texts()). */
struct bw_registry_text_entry {
	const char *name;  /* metadata.name */
	const char *entry; /* bw_registry_service_entry() serialised with
			    * JSON_SORT_KEYS | JSON_COMPACT, as the cache
			    * projection keeps it */
	long ready;	   /* its Deployment's ready replicas (below 0 reads as 0) */
};

/*
 * The same ConfigMap as bw_registry_build_entries() gives for these
 * entries and ready replicas, byte for byte, but registry.json is put
 * together from the entries' texts: readyReplicas spliced in before "url"
 * (the last of the sorted keys), the names sorted. No entry is parsed and
 * no json_t is made per Service, so a build of a namespace costs a copy of
 * its text, not a parse and a dump of every entry (bench/README.md, "Scale:
 * where the operator's time and memory went"). An entry the splice cannot
 * read (a name that is not a DNS name, a text that does not end in a
 * plain "url" string, two entries of one name) sends the whole build down
 * the jansson path of bw_registry_build_entries(), which gives the same
 * bytes. entries is sorted by name in place. Returns as
 * bw_registry_build_entries().
 */
int bw_registry_build_texts(const char *namespace, struct bw_registry_text_entry *entries, size_t n,
			    const json_t *breakers, json_t **configmap, struct bw_error *err);

/*
 * Reads back a registry.json text (from the ConfigMap's data): checks it is
 * {"namespace": string, "services": {NAME: {"url": string, ...}}} with the
 * documented types for the optional keys (port and readyReplicas integers,
 * healthPath and image strings, dependsOn an array of strings); unknown keys
 * are allowed. *out gets the parsed object. Returns 0, BW_EINVAL (NULL
 * arguments), BW_ETOOBIG (more than BW_REGISTRY_MAX_BYTES) or BW_EPARSE
 * with a message naming the line and column, or the key at fault.
 */
int bw_registry_parse(const char *registry_json, json_t **out, struct bw_error *err);

#endif
