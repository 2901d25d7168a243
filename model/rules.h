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
 *                   the cluster, so one path must lead to one Service. The
 *                   route belongs to the earliest: older
 *                   metadata.creationTimestamp wins, equal times (one-second
 *                   resolution) go to the smaller namespace/name.
 *   Breaker target conflict  two Breakers of a namespace with one
 *                   spec.target: the earliest (same order) is applied.
 *   Missing dependency  a dependsOn name with no Service of that name in the
 *                   Service's namespace (its <NAME>_SERVICE_URL is not
 *                   injected until one exists). A warning, not an error.
 *
 * Objects are read leniently: a malformed entry never counts. Entries being
 * deleted (metadata.deletionTimestamp) never count.
 * Ownership: every json_t argument is borrowed, and a returned json_t
 * pointer borrows from the array it was found in.
 * Thread-safety: pure functions; any thread.
 */
#ifndef BW_OPERATOR_RULES_H
#define BW_OPERATOR_RULES_H

#include <stddef.h>

#include <jansson.h>

/* 1 when the two spec.route objects claim the same host and pathPrefix. */
int bw_rules_same_route(const json_t *route_a, const json_t *route_b);

/* 1 when a and b are the same object (namespace and name). */
int bw_rules_same_object(const json_t *a, const json_t *b);

/* 1 when object a comes before object b in the order above (older
 * creationTimestamp; then namespace/name; an object with no creationTimestamp,
 * not yet stored, last): who keeps a route or a Breaker target. */
int bw_rules_earlier(const json_t *a, const json_t *b);

/*
 * The first Service of services (any namespaces; svc itself may be among
 * them and is skipped) that claims svc's route, or NULL. With earlier_only
 * set, only one that comes before svc counts (the reconciler: svc must give
 * the route up); otherwise any (the webhook: a new claim is refused). The
 * earliest claimant is returned when there are several.
 */
const json_t *bw_rules_route_holder(const json_t *svc, const json_t *services, int earlier_only);

/*
 * The first Breaker of breakers (svc's namespace; brk itself skipped) with
 * a valid policy (bw_registry_breaker_policy()) and the same spec.target
 * that comes before brk, or NULL. Two policies for one target would be
 * ambiguous: the earlier one is applied, the later reports TargetConflict.
 */
const json_t *bw_rules_breaker_holder(const json_t *brk, const json_t *breakers);

/* 1 when services holds a Service ns/name that counts (ns NULL, or an
 * entry with no namespace, matches any namespace). */
int bw_rules_service_exists(const json_t *services, const char *ns, const char *name);

/*
 * Appends to missing (a JSON array) the dependsOn names of svc (as strings,
 * in order, each once, svc's own name skipped) that name no Service of
 * svc's namespace in services. Returns 0, or -1 when an append failed.
 */
int bw_rules_missing_dependencies(const json_t *svc, const json_t *services, json_t *missing);

#endif
