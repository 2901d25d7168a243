/*
 * The webhook's registrations: the MutatingWebhookConfiguration (pods) and
 * ValidatingWebhookConfiguration (breakwater Services and Breakers) the
 * operator writes with server-side apply, with safe defaults:
 *  - pod mutation fails open (failurePolicy Ignore): a pod created while the
 *    webhook is unreachable is still created, and the operator reports and
 *    repairs it;
 *  - validation fails open too (Ignore), with a short timeout: the rules
 *    about one object are the CRD's schema and CEL, which the API server
 *    enforces with no webhook; the webhook adds only what needs the other
 *    objects of the namespace (a route or a Breaker target already taken,
 *    warnings), which the controllers report in status as well. So an
 *    operator that is down or unreachable never blocks an edit;
 *  - timeoutSeconds 5 for pods, BW_REGISTRATION_VALIDATE_TIMEOUT_S for
 *    validation; sideEffects None, reinvocationPolicy IfNeeded,
 *    admissionReviewVersions [v1];
 *  - a namespaceSelector that never matches kube-system, kube-node-lease,
 *    kube-public or the operator's own namespace, so the webhook can never
 *    block its own pods; pods labelled breakwater.io/inject=disabled are not
 *    sent at all (objectSelector).
 *
 * Ownership: the strings in the options are borrowed for the call; the
 * objects returned are new references for the caller.
 * Thread-safety: pure functions; any thread.
 */
#ifndef BW_WEBHOOK_REGISTRATION_H
#define BW_WEBHOOK_REGISTRATION_H

#include <jansson.h>

#include "error.h"

/* The validating webhooks' timeoutSeconds: what an edit waits for an
 * unreachable operator before the API server ignores it. */
#define BW_REGISTRATION_VALIDATE_TIMEOUT_S 2

struct bw_registration_options {
	const char *name;	       /* of both configurations */
	const char *url_base;	       /* "https://127.0.0.1:9443": a url clientConfig, or NULL */
	const char *service_namespace; /* else a service clientConfig: */
	const char *service_name;
	int service_port;
	const char *ca_bundle_pem; /* the CA(s) the API server trusts for it; NULL: no caBundle */
	const char
	    *scope_namespace; /* only this namespace (an operator with --namespace), or NULL */
	const char *operator_namespace; /* never handled; may be NULL */
};

/* The two configurations, ready for server-side apply. */
int bw_registration_render(const struct bw_registration_options *opts, json_t **mutating,
			   json_t **validating, struct bw_error *err);

#endif
