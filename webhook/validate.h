/*
 * Validation of breakwater Service and Breaker writes beyond what the CRD
 * schema and CEL can say: the validating webhook's decisions. Pure
 * functions: the caller passes the other objects of the namespace from the
 * operator's cache; no I/O, no API call, no global state.
 *
 * Denied (allowed 0, status code 403, a message that starts with the field
 * at fault, as kubectl shows it after "admission webhook ... denied the
 * request:"):
 *   Service  anything bw_render_validate() refuses (the operator could not
 *            render it); a route (host + pathPrefix; no host is a host of
 *            its own) already used by another Service of the cluster, in
 *            any namespace (bw_rules_same_route(): Ingress controllers merge
 *            every namespace's Ingresses).
 *   Breaker  anything bw_registry_breaker_policy() refuses; a spec.target
 *            that is not a Service name; a target already protected by
 *            another Breaker of the namespace (two policies for one target
 *            would be ambiguous).
 * Warned (allowed, with warnings kubectl prints as "Warning: ..."):
 *   Service  a dependsOn naming no Service of the namespace; a dependency
 *            cycle through this Service (orders -> users -> orders, also
 *            orders -> orders); an image with no tag or the :latest tag (a
 *            digest is fine); replicas > 1 without a healthCheck.
 *   Breaker  a target naming no Service of the namespace; minimumCalls
 *            greater than slidingWindow.size for a Count window; mode
 *            ForcedOpen.
 *
 * Always allowed, with no check: DELETE and CONNECT; an object being
 * deleted (metadata.deletionTimestamp set: its finalizers must be able to
 * go). On UPDATE a conflict that the old object already had (same route,
 * same target) is a warning, not a denial, so objects that predate the
 * webhook can still be edited.
 *
 * siblings / services / breakers are JSON arrays of the namespace's objects
 * as the cache holds them (NULL means none). The object itself may be among
 * them (the cache holds its stored version): entries with the same
 * metadata.name are skipped, and so are entries being deleted. Entries of
 * another namespace count only for the route check: the caller adds the
 * Services of other namespaces that may claim the same route. They are read leniently: a malformed
 * sibling is never a reason to deny.
 *
 * Ownership (as jansson says it): every json_t argument is borrowed and
 * read during the call only. The result's warnings are a NEW reference
 * released by bw_validate_result_release().
 * Thread-safety: may be called from any thread at once.
 */
#ifndef BW_VALIDATE_H
#define BW_VALIDATE_H

#include <jansson.h>

#include "error.h"
#include "admission.h"
#include "rules.h"

struct bw_validate_result {
	int allowed;	   /* 1: admit the write */
	int code;	   /* when denied: status.code (403); 0 when allowed */
	char message[512]; /* when denied: why, naming the field, valid UTF-8 (a
			    * value quoted in it is cut at a character
			    * boundary); "" when allowed */
	json_t *warnings;  /* array of strings, never NULL after success */
};

/*
 * Decides a write of a breakwater Service. object is request.object,
 * old_object request.oldObject (NULL on CREATE). Returns 0 when a decision
 * is in *out (allowed or not), BW_EINVAL when an argument is missing (out;
 * object on CREATE and UPDATE; siblings not an array) or BW_ENOMEM. A
 * denial is a decision, not an error. On failure *out holds nothing to
 * release.
 */
int bw_validate_service(enum bw_admission_op op, const json_t *object, const json_t *old_object,
			const json_t *siblings, struct bw_validate_result *out,
			struct bw_error *err);

/*
 * The same with the siblings as views (rules.h), n of them: what the webhook
 * passes from its cache, whose items hold them projected (cached.h), so a
 * decision parses no other Service. bw_validate_service() reads its JSON
 * siblings into views and calls this.
 */
int bw_validate_service_views(enum bw_admission_op op, const json_t *object,
			      const json_t *old_object,
			      const struct bw_service_view *const *siblings, size_t n,
			      struct bw_validate_result *out, struct bw_error *err);

/* Looks a Service of the written object's namespace up by name: its view,
 * or NULL when there is none. What it returns must stay valid until the
 * decision is made (the caller holds it). */
typedef const struct bw_service_view *bw_validate_lookup_fn(void *arg, const char *name);

/*
 * The siblings a write of a Service without a route needs: the Services its
 * spec.dependsOn reaches, directly or through theirs, since the rules that
 * read other Services of the namespace (missing dependencies, cycles) read
 * no other. Each name is looked up once; the object's own name never. A
 * write then costs what its dependencies reach, not the size of the
 * namespace (the webhook used to pass every Service of it). *out (free())
 * gets *n views, in the order found. Returns 0, or BW_ENOMEM with *out NULL.
 */
int bw_validate_dependency_siblings(const json_t *object, bw_validate_lookup_fn *lookup, void *arg,
				    const struct bw_service_view ***out, size_t *n,
				    struct bw_error *err);

/*
 * Decides a write of a Breaker: services are the namespace's breakwater
 * Services, breakers its other Breakers. Returns as bw_validate_service().
 */
int bw_validate_breaker(enum bw_admission_op op, const json_t *object, const json_t *old_object,
			const json_t *services, const json_t *breakers,
			struct bw_validate_result *out, struct bw_error *err);

/* The same with views (rules.h): n_services Services, n_breakers Breakers. */
int bw_validate_breaker_views(enum bw_admission_op op, const json_t *object,
			      const json_t *old_object,
			      const struct bw_service_view *const *services, size_t n_services,
			      const struct bw_breaker_view *const *breakers, size_t n_breakers,
			      struct bw_validate_result *out, struct bw_error *err);

/* Releases the warnings and zeroes *r; safe on a zeroed result. */
void bw_validate_result_release(struct bw_validate_result *r);

#endif
