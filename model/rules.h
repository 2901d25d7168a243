/*
 * The rules about a breakwater Service that need other Services, in one
 * place for the validating webhook (which refuses or warns at admission)
 * and the service controller (which re-checks them on every reconcile and
 * reports in status, because the webhook may be unreachable and is then
 * skipped: an object can get past it).
 *
 *   Route conflict  two Services whose spec.route has the same pathPrefix on
 *                   the same host (no host is a host of its own), in any
 *                   namespaces: Ingress controllers merge every Ingress of
 *                   the cluster, so one path must lead to one Service.
 *                   The kinds (spec.route.kind Ingress or HTTPRoute) are
 *                   not compared: an Ingress and an HTTPRoute of one host
 *                   and path usually end on the same gateway (controllers
 *                   such as Traefik and Envoy Gateway serve both), and the
 *                   address in status.routeURL must name one Service. The
 *                   route belongs to the earliest: older
 *                   metadata.creationTimestamp wins, equal times (one-second
 *                   resolution) go to the smaller namespace/name.
 *   Breaker target conflict  two Breakers of a namespace with one
 *                   spec.target: the earliest (same order) is applied.
 *   Missing dependency  a dependsOn name with no Service of that name in the
 *                   Service's namespace (its <NAME>_SERVICE_URL is not
 *                   injected until one exists). A warning, not an error.
 *
 * The rules read views (struct bw_service_view, struct bw_breaker_view):
 * the fields they need, projected once when an object is cached
 * (cached.h), so a reconcile or an admission compares fields instead of
 * parsing every other Service. bw_service_view_read() and
 * bw_breaker_view_read() make the same views from JSON (an object under
 * admission, a test's fixture).
 *
 * Objects are read leniently: a malformed entry never counts. Entries being
 * deleted (metadata.deletionTimestamp) never count.
 * Ownership: views borrow their strings (from the store item or the JSON
 * they were read from); a returned view pointer is one of the arguments.
 * Thread-safety: pure functions; any thread.
 */
#ifndef BW_MODEL_RULES_H
#define BW_MODEL_RULES_H

#include <stddef.h>

#include <jansson.h>

/* What rules, validation and injection read of a Service. Strings are NULL
 * when absent, not strings, or "" (an empty name counts as none). */
struct bw_service_view {
	const char *ns, *name;
	const char *created;		     /* metadata.creationTimestamp */
	int deleting;			     /* metadata.deletionTimestamp is present */
	int has_route;			     /* spec.route is an object */
	const char *route_host, *route_path; /* spec.route.host and .pathPrefix */
	/* spec.dependsOn's entries in order, each the string or NULL for an
	 * entry that is no string (so an index is the field's index); 0 of them
	 * when it is no array */
	const char *const *depends_on;
	size_t n_depends_on;
	long port; /* spec.port when an integer, else BW_RENDER_DEFAULT_PORT */
	/* spec.breakerSidecar: 1 "Enabled", -1 "Disabled", 0 absent (or
	 * another value): the namespace decides (webhook/mutate.h) */
	int breaker_sidecar;
};

/* What rules and validation read of a Breaker. */
struct bw_breaker_view {
	const char *ns, *name, *created;
	int deleting;
	const char *target; /* spec.target */
	int valid;	    /* bw_registry_breaker_policy() accepts it */
};

/*
 * The view of a Service object: strings borrowed from svc, depends_on
 * allocated (bw_service_view_release()). Returns 0, or -1 out of memory
 * (then *v holds nothing to release). Any JSON value reads as a view.
 */
int bw_service_view_read(const json_t *svc, struct bw_service_view *v);
void bw_service_view_release(struct bw_service_view *v);
/* The view of a Breaker object, strings borrowed from brk. */
void bw_breaker_view_read(const json_t *brk, struct bw_breaker_view *v);

/*
 * Views of every element of a JSON array (NULL, or no array: none), for the
 * callers that hold JSON: *views gets n pointers into one allocation
 * released by bw_views_free() (which also releases each Service view).
 * Return 0, or -1 out of memory.
 */
int bw_service_views_read(const json_t *array, const struct bw_service_view ***views, size_t *n);
int bw_breaker_views_read(const json_t *array, const struct bw_breaker_view ***views, size_t *n);
void bw_service_views_free(const struct bw_service_view **views, size_t n);
void bw_breaker_views_free(const struct bw_breaker_view **views);

/* 1 when the two Services claim the same host and pathPrefix. */
int bw_rules_same_route(const struct bw_service_view *a, const struct bw_service_view *b);

/* 1 when a and b name the same object (namespace and name). */
int bw_rules_same_object(const char *ns_a, const char *name_a, const char *ns_b,
			 const char *name_b);

/* 1 when object a comes before object b in the order above (older
 * creationTimestamp; then namespace/name; an object with no creationTimestamp,
 * not yet stored, last): who keeps a route or a Breaker target. */
int bw_rules_earlier(const char *created_a, const char *ns_a, const char *name_a,
		     const char *created_b, const char *ns_b, const char *name_b);

/*
 * The first Service of services (n of them, any namespaces; svc itself may
 * be among them and is skipped) that claims svc's route, or NULL. With
 * earlier_only set, only one that comes before svc counts (the reconciler:
 * svc must give the route up); otherwise any (the webhook: a new claim is
 * refused). The earliest claimant is returned when there are several.
 */
const struct bw_service_view *bw_rules_route_holder(const struct bw_service_view *svc,
						    const struct bw_service_view *const *services,
						    size_t n, int earlier_only);

/*
 * The first Breaker of breakers (n of them, brk's namespace; brk itself
 * skipped) with a valid policy and the same spec.target that comes before
 * brk, or NULL. Two policies for one target would be ambiguous: the earlier
 * one is applied, the later reports TargetConflict.
 */
const struct bw_breaker_view *bw_rules_breaker_holder(const struct bw_breaker_view *brk,
						      const struct bw_breaker_view *const *breakers,
						      size_t n);

/* 1 when services holds a Service ns/name that counts (ns NULL, or an
 * entry with no namespace, matches any namespace). */
int bw_rules_service_exists(const struct bw_service_view *const *services, size_t n, const char *ns,
			    const char *name);

/*
 * Appends to missing (a JSON array) the dependsOn names of svc (as strings,
 * in order, each once, svc's own name skipped) that name no Service of
 * svc's namespace in services. Returns 0, or -1 when an append failed.
 */
int bw_rules_missing_dependencies(const struct bw_service_view *svc,
				  const struct bw_service_view *const *services, size_t n,
				  json_t *missing);

#endif
