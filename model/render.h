/*
 * What the operator owns for a breakwater Service, rendered as
 * server-side-apply bodies: the Deployment, the core/v1 ClusterIP Service,
 * the Ingress or the Gateway API HTTPRoute when spec.route is set, and the
 * strings of the Service's status (selector, URL, route URL). docs/resources.md, "What the operator
 * owns", is the reference.
 *
 * These are pure functions: no I/O, no API calls, no global state. Each takes
 * the whole breakwater Service object (apiVersion, kind, metadata {name,
 * namespace, uid, generation}, spec) as json_t, applies the documented
 * defaults itself (the object may come from an older CRD that did not
 * default them), and refuses an object it cannot render with BW_EINVAL and a
 * message that starts with the field at fault ("spec.replicas: must be an
 * integer, got a string"). Every function validates the whole spec, so the
 * controller gets the same answer from each of them.
 *
 * The Deployment's pod template depends only on what the pods run (image,
 * port, env, resources, probes and the fields of podtemplate.h): nothing
 * that changes with the generation or with replicas/rollout settings, so
 * those edits never restart pods.
 *
 * Ownership (as jansson says it): svc is borrowed and read during the call
 * only. *out receives a NEW reference the caller releases with json_decref();
 * it shares nothing with svc (passed-through values such as env and
 * resources are deep copies). On failure *out is set to NULL.
 * Thread-safety: every function may be called from any thread at once.
 */
#ifndef BW_RENDER_H
#define BW_RENDER_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "names.h"

/* The cluster DNS domain of the URLs (status.url, the registry). */
#define BW_RENDER_CLUSTER_DOMAIN "cluster.local"
/* spec.port when absent. */
#define BW_RENDER_DEFAULT_PORT 8080
/* Buffer sizes that always hold bw_render_selector() and bw_render_url()
 * results (names and namespaces are DNS labels of at most 63 characters). */
#define BW_RENDER_SELECTOR_MAX 128
#define BW_RENDER_URL_MAX      192

/*
 * Checks a breakwater Service the way the renderers do, without rendering:
 * metadata.name (a DNS-1035 label, since it names a core/v1 Service) and
 * the whole spec (types, ranges, required fields). metadata.namespace and
 * metadata.uid are not required here (only the rendered objects need them).
 * Returns 0, or BW_EINVAL with the field named in err.
 */
int bw_render_validate(const json_t *svc, struct bw_error *err);

/*
 * The apps/v1 Deployment NAME. image overrides spec.image (the controller
 * passes the image to deploy: spec.image normally, status.lastGoodImage
 * during a rollback); NULL or "" means spec.image, which is required either
 * way. Defaults: replicas 1, port 8080, maxSurge 25%, maxUnavailable 0,
 * progressDeadlineSeconds 600, paused false; revisionHistoryLimit is 10.
 * Probes: readinessProbe, livenessProbe, startupProbe as given; otherwise
 * from spec.healthCheck a readiness HTTP GET of its path and a liveness TCP
 * check of its port (a failing dependency never restarts a pod); none
 * without either. The pod and container get the restricted securityContext
 * defaults of podtemplate.h unless the spec sets its own. Requires
 * metadata.name, namespace and uid. Returns 0 or BW_EINVAL / BW_ENOMEM.
 */
int bw_render_deployment(const json_t *svc, const char *image, json_t **out, struct bw_error *err);

/*
 * The core/v1 ClusterIP Service NAME: selector breakwater.io/service=NAME,
 * one port named http from spec.port to the container port named http.
 * Requires metadata.name, namespace and uid. Returns 0 or BW_EINVAL /
 * BW_ENOMEM.
 */
int bw_render_service(const json_t *svc, json_t **out, struct bw_error *err);

/*
 * The networking.k8s.io/v1 Ingress NAME when spec.route is set with kind
 * Ingress (the default): one rule (with the host if given), one Prefix path
 * to the Service's port http, and with spec.route.tls a tls entry
 * {hosts: [host], secretName}. The Secret is named, never read. When
 * spec.route is absent or its kind is HTTPRoute, sets *out to NULL and
 * returns 0 (the controller then deletes any Ingress it owns). Requires metadata.name,
 * namespace and uid. Returns 0 or BW_EINVAL / BW_ENOMEM.
 */
int bw_render_ingress(const json_t *svc, json_t **out, struct bw_error *err);

/* The Gateway API version of the HTTPRoute rendered (the standard channel). */
#define BW_RENDER_GATEWAY_API_VERSION "gateway.networking.k8s.io/v1"

/*
 * The gateway.networking.k8s.io/v1 HTTPRoute NAME when spec.route.kind is
 * HTTPRoute: parentRefs the Gateway of spec.route.parentRef (group and kind
 * spelled out), hostnames [host] if given, one rule with a PathPrefix match
 * of pathPrefix and one backendRef to the core/v1 Service NAME on spec.port
 * (weight 1). Otherwise (no route, or kind Ingress) sets *out to NULL and
 * returns 0. Requires metadata.name, namespace and uid. Returns 0 or
 * BW_EINVAL / BW_ENOMEM.
 */
int bw_render_httproute(const json_t *svc, json_t **out, struct bw_error *err);

/*
 * Writes the route's address (status.routeURL) into buf, NUL-terminated:
 * "https://HOST/PREFIX" with spec.route.tls, else "http://HOST/PREFIX".
 * Without a host (or with a wildcard host), an Ingress's address is
 * lb_address (the Ingress's status.loadBalancer.ingress[0] ip or hostname;
 * NULL or "" when it has none); an HTTPRoute's is its Gateway's, which is
 * not read. buf is "" when there is no route or no address. Returns 0,
 * BW_EINVAL or BW_ETOOBIG (BW_RENDER_ROUTE_URL_MAX always fits).
 */
#define BW_RENDER_ROUTE_URL_MAX 1300
int bw_render_route_url(const json_t *svc, const char *lb_address, char *buf, size_t size,
			struct bw_error *err);

/*
 * Writes "breakwater.io/service=NAME" (status.selector, for the scale
 * subresource) into buf, NUL-terminated. Returns 0, BW_EINVAL (an invalid
 * object) or BW_ETOOBIG (size too small; BW_RENDER_SELECTOR_MAX always fits).
 */
int bw_render_selector(const json_t *svc, char *buf, size_t size, struct bw_error *err);

/*
 * Writes "http://NAME.NAMESPACE.svc.cluster.local:PORT" (status.url and the
 * registry's url) into buf, NUL-terminated. Requires metadata.namespace.
 * Returns 0, BW_EINVAL or BW_ETOOBIG (BW_RENDER_URL_MAX always fits).
 */
int bw_render_url(const json_t *svc, char *buf, size_t size, struct bw_error *err);

#endif
