/*
 * Pod injection: what the mutating webhook adds to a Pod so its application
 * finds the service registry and its breaker policies, as a JSON Patch.
 * A pure function: the caller looks up the namespace's labels, the pod's
 * breakwater Service and its dependencies in the operator's cache and passes
 * them in; no I/O, no API call, no global state.
 *
 * Who is injected, in this order of precedence (the first rule that applies
 * decides):
 *   1. the pod labelled breakwater.io/inject=disabled: skipped, "pod opted
 *      out" (a pod's own opt-out always wins);
 *   2. the pod labelled breakwater.io/inject=enabled: injected (a pod's own
 *      opt-in wins over its namespace's opt-out);
 *   3. the namespace labelled breakwater.io/inject=disabled: skipped,
 *      "namespace opted out" (also for pods labelled breakwater.io/service);
 *   4. the namespace labelled breakwater.io/inject=enabled, or the pod
 *      labelled breakwater.io/service: injected;
 *   5. otherwise skipped, "namespace not opted in".
 * Only the exact values "enabled" and "disabled" count; another value of the
 * pod's breakwater.io/inject label is ignored with a warning.
 *
 * What is injected into every container and initContainer (ephemeral
 * containers cannot be set at creation and are left alone):
 *   env  BREAKWATER_SERVICE     the pod's breakwater.io/service label (left
 *                               out when the pod has none)
 *        BREAKWATER_NAMESPACE   the namespace
 *        <NAME>_SERVICE_URL     per dependency (spec.dependsOn of the Service)
 *                               found in deps: NAME upper-cased, '-' -> '_';
 *                               http://NAME.NAMESPACE.svc.cluster.local:PORT
 *        BREAKWATER_REGISTRY_FILE /etc/breakwater/registry.json
 *        BREAKWATER_BREAKERS_FILE /etc/breakwater/breakers.json
 *      never overriding a variable the container already sets in env (same
 *      name; variables from envFrom cannot be seen and are overridden by
 *      env, as Kubernetes does);
 *   volume breakwater-registry: configMap breakwater-registry, optional (pods
 *      start before the operator writes it), unless the pod has a volume of
 *      that name (kept as it is; a warning when it is not that ConfigMap);
 *   mount  breakwater-registry read-only at /etc/breakwater/, unless the
 *      container already mounts something at that path (with or without the
 *      trailing '/');
 *   annotation breakwater.io/injected: the config generation, the first 16
 *      hex digits of the SHA-256 of everything injected (service, namespace,
 *      the sorted dependency NAME=URL pairs, the file paths, the volume and
 *      mount): the same inputs always give the same value, whatever the
 *      order of spec.dependsOn.
 *
 * The breaker sidecar (docs/breaker.md, "Injection"): for a pod of a
 * Service, whether `breakwater proxy` runs beside the application, in this
 * order of precedence (the first rule that applies decides):
 *   1. the Service's spec.breakerSidecar: Disabled: no sidecar;
 *   2. the Service's spec.breakerSidecar: Enabled: the sidecar;
 *   3. the namespace labelled breakwater.io/proxy=disabled: no sidecar;
 *   4. the namespace labelled breakwater.io/proxy=enabled: the sidecar;
 *   5. otherwise none (the config-file-only mode: the application reads
 *      breakers.json itself).
 * Another value of the label is ignored with a warning. Opted in, the pod
 * gets the sidecar only when at least one dependency that exists has a
 * Breaker (in->breaker_targets) and the operator names an image
 * (in->proxy_image; a warning when it does not). Each such dependency, in
 * name order, gets the local port BW_MUTATE_PROXY_PORT_BASE + its index
 * (15201, 15202, ...; at most BW_MUTATE_PROXY_MAX_DEPENDENCIES, the others
 * are called directly, with a warning), and its <NAME>_SERVICE_URL becomes
 * http://127.0.0.1:PORT; a dependency without a Breaker keeps its cluster
 * URL. The sidecar is the init container breakwater-proxy with
 * restartPolicy Always (a native sidecar: started, and ready by its
 * startup probe, before the other init containers and the application;
 * stopped after them), inserted first among the init containers, running
 * the image's entrypoint with args `proxy --dependency NAME=PORT=URL ...
 * --breakers-file /etc/breakwater/breakers.json --admin-bind-address
 * 0.0.0.0:15200` (the admin port, BW_MUTATE_PROXY_ADMIN_PORT, reached by
 * the kubelet's probes at the pod IP), the registry mounted read-only, its
 * resources, probes and a securityContext that passes Pod Security
 * "restricted". It is counted in the generation (the whole container as
 * sorted compact JSON), so a Breaker added for a dependency, a new image or
 * an opt-in changes the generation of a proxied pod; a pod without the
 * sidecar hashes exactly as before the sidecar existed. The sidecar gets no
 * injected env; a container named breakwater-proxy already in the pod is
 * left as it is.
 *
 * Reinvocation: a pod whose annotation already holds the current generation
 * gets no patch at all. A pod with another value gets what is missing (names
 * are checked: nothing is ever added twice) and the new value. A variable it
 * already has keeps its value, also one injected under an older generation.
 *
 * Warnings: a dependency missing from deps ("dependency payments: no Service
 * named payments in namespace shop; PAYMENTS_SERVICE_URL not set"); a
 * breakwater.io/service label naming no Service (service NULL); a
 * dependsOn entry that is not a Service name; an existing
 * breakwater-registry volume that is not the ConfigMap.
 *
 * Ownership (as jansson says it): everything in struct bw_mutate_input is
 * borrowed and read during the call only; nothing in it is modified. The
 * result's patch and warnings are NEW references, shared with nothing in the
 * input, released by bw_mutate_result_release().
 * Thread-safety: may be called from any thread at once.
 */
#ifndef BW_MUTATE_H
#define BW_MUTATE_H

#include <jansson.h>

#include "names.h"
#include "error.h"
#include "json.h"

#define BW_MUTATE_GENERATION_CHARS 16

struct bw_mutate_input {
	const json_t *pod;		/* request.object: the Pod (required) */
	const char *namespace;		/* the pod's namespace, request.namespace (required) */
	const json_t *namespace_labels; /* the namespace's labels (object), NULL: none */
	/* The breakwater Service named by the pod's breakwater.io/service label,
	 * NULL when the pod has no such label or the Service does not exist. Only
	 * spec.dependsOn is read. */
	const json_t *service;
	/* {NAME: PORT} for each dependency of the Service that exists, PORT an
	 * integer 1..65535; a name that is absent is a missing dependency. NULL
	 * means none exists. Names not in spec.dependsOn are ignored. */
	const json_t *deps;
	/* The spec.target of each Breaker of the namespace with a valid policy
	 * (an array of strings; NULL: none): the dependencies the sidecar
	 * protects. */
	const json_t *breaker_targets;
	/* The sidecar's image (the operator's --proxy-image); NULL or "": the
	 * sidecar is never injected. The Service's spec.breakerSidecar is read
	 * from in->service. */
	const char *proxy_image;
};

#define BW_MUTATE_PROXY_ADMIN_PORT	 15200
#define BW_MUTATE_PROXY_PORT_BASE	 15200 /* + 1 for the first dependency */
#define BW_MUTATE_PROXY_MAX_DEPENDENCIES 64    /* proxy.h's BW_PROXY_MAX_DEPENDENCIES */

struct bw_mutate_result {
	int inject;	     /* 1: the pod is in scope; 0: skipped (see skipped) */
	int sidecar;	     /* 1: the generation includes the breaker sidecar */
	int patched;	     /* 1: patch holds at least one operation */
	json_t *patch;	     /* the RFC 6902 operations (an array), NULL when none */
	json_t *warnings;    /* an array of strings, never NULL after success */
	const char *skipped; /* why nothing is injected: "pod opted out", "namespace
				opted out", "namespace not opted in", "already injected";
				NULL when patched (static text, not to free) */
	/* the config generation (NUL-terminated), "" when the pod is out of scope */
	char generation[BW_MUTATE_GENERATION_CHARS + 1];
};

/*
 * Decides the injection for in->pod and fills *out (which needs no
 * initialisation). Returns 0 (also when the pod is skipped), BW_EINVAL with
 * the field named when an argument is missing or the pod is not shaped like
 * a Pod (spec not an object, containers not an array of objects, env or
 * volumeMounts not arrays, a deps port that is not 1..65535,
 * breaker_targets not an array), or
 * BW_ENOMEM. On failure *out holds nothing to release (releasing it is
 * still safe).
 */
int bw_mutate_pod(const struct bw_mutate_input *in, struct bw_mutate_result *out,
		  struct bw_error *err);

/*
 * The config generation a pod of Service `service` (its breakwater.io/service
 * label; NULL or "" for none) gets from bw_mutate_pod() when it is injected:
 * a pure function of in's fields but the pod (in->pod is not read), with no
 * pod. The operator asks it (through bw_webhook_injection_generation()) to
 * tell pods injected before a dependency, a Breaker or an opt-in changed.
 * Writes 16 hex digits and a NUL into out; returns 0, BW_EINVAL (namespace
 * not a DNS label, an input of the wrong type, a deps port out of range) or
 * BW_ENOMEM, with out "" then.
 */
int bw_mutate_generation(const struct bw_mutate_input *in, const char *service,
			 char out[BW_MUTATE_GENERATION_CHARS + 1], struct bw_error *err);

/* Releases the patch and warnings and zeroes *r; safe on a zeroed result. */
void bw_mutate_result_release(struct bw_mutate_result *r);

/* Every member of a Pod bw_mutate_pod() reads, down to the label and
 * annotation keys (and the names bw_admission_parse_reading() checks): a
 * pod parsed with only these gets the same answer as the whole pod. For the
 * webhook's parse of a review (admission.h); change it with the reads. */
extern const struct bw_json_keep bw_mutate_pod_reads[];

#endif
