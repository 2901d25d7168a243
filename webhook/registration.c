/* The webhook's registrations: see registration.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "names.h"
#include "registration.h"

static json_t *client_config(const struct bw_registration_options *o, const char *path,
			     const char *ca_b64)
{
	char url[512];
	json_t *cc;

	if (o->url_base) {
		snprintf(url, sizeof(url), "%s%s", o->url_base, path);
		cc = json_pack("{s:s}", "url", url);
	} else {
		cc = json_pack("{s:{s:s, s:s, s:s, s:i}}", "service", "namespace",
			       o->service_namespace, "name", o->service_name, "path", path, "port",
			       o->service_port);
	}
	if (cc && ca_b64) /* none: not even an empty one, which another manager may own */
		json_object_set_new(cc, "caBundle", json_string(ca_b64));
	return cc;
}

/* Never the control plane's namespaces nor the operator's own; only the
 * scope namespace when there is one. */
static json_t *namespace_selector(const struct bw_registration_options *o)
{
	json_t *excluded = json_pack("[s, s, s]", "kube-system", "kube-node-lease", "kube-public");
	json_t *exprs;

	if (o->operator_namespace && *o->operator_namespace)
		json_array_append_new(excluded, json_string(o->operator_namespace));
	exprs = json_pack("[{s:s, s:s, s:o}]", "key", "kubernetes.io/metadata.name", "operator",
			  "NotIn", "values", excluded);
	if (o->scope_namespace)
		json_array_append_new(exprs, json_pack("{s:s, s:s, s:[s]}", "key",
						       "kubernetes.io/metadata.name", "operator",
						       "In", "values", o->scope_namespace));
	return json_pack("{s:o}", "matchExpressions", exprs);
}

static json_t *labels(void)
{
	return json_pack("{s:s}", BW_LABEL_MANAGED, BW_MANAGER);
}

int bw_registration_render(const struct bw_registration_options *o, json_t **mutating,
			   json_t **validating, struct bw_error *err)
{
	char *ca_b64 = NULL;
	int ret;

	*mutating = *validating = NULL;
	if (!o->name || (!o->url_base && !(o->service_namespace && o->service_name)))
		return bw_error_set(err, BW_EINVAL,
				    "webhook registration: a name and a url or service are needed");
	if (o->ca_bundle_pem &&
	    (ret = bw_certs_base64_encode(o->ca_bundle_pem, strlen(o->ca_bundle_pem), &ca_b64,
					  err)) != 0)
		return ret;

	*mutating = json_pack(
	    "{s:s, s:s, s:{s:s, s:o}, s:[{s:s, s:[s], s:s, s:s, s:i, s:s, s:o, s:o, s:o,"
	    " s:[{s:[s], s:[s], s:[s], s:[s], s:s}]}]}",
	    "apiVersion", "admissionregistration.k8s.io/v1", "kind", "MutatingWebhookConfiguration",
	    "metadata", "name", o->name, "labels", labels(), "webhooks", "name",
	    "pods.breakwater.io", "admissionReviewVersions", "v1", "sideEffects", "None",
	    "failurePolicy", "Ignore", "timeoutSeconds", 5, "reinvocationPolicy", "IfNeeded",
	    "clientConfig", client_config(o, "/mutate-pods", ca_b64), "namespaceSelector",
	    namespace_selector(o), "objectSelector",
	    json_pack("{s:[{s:s, s:s, s:[s]}]}", "matchExpressions", "key", BW_LABEL_INJECT,
		      "operator", "NotIn", "values", "disabled"),
	    "rules", "apiGroups", "", "apiVersions", "v1", "operations", "CREATE", "resources",
	    "pods", "scope", "Namespaced");

	*validating = json_pack(
	    "{s:s, s:s, s:{s:s, s:o}, s:[{s:s, s:[s], s:s, s:s, s:i, s:o, s:o,"
	    " s:[{s:[s], s:[s], s:[s, s], s:[s], s:s}]},"
	    " {s:s, s:[s], s:s, s:s, s:i, s:o, s:o,"
	    " s:[{s:[s], s:[s], s:[s, s], s:[s], s:s}]}]}",
	    "apiVersion", "admissionregistration.k8s.io/v1", "kind",
	    "ValidatingWebhookConfiguration", "metadata", "name", o->name, "labels", labels(),
	    "webhooks", "name", "services.breakwater.io", "admissionReviewVersions", "v1",
	    "sideEffects", "None", "failurePolicy", "Ignore", "timeoutSeconds",
	    BW_REGISTRATION_VALIDATE_TIMEOUT_S, "clientConfig",
	    client_config(o, "/validate-services", ca_b64), "namespaceSelector",
	    namespace_selector(o), "rules", "apiGroups", BW_API_GROUP, "apiVersions",
	    BW_API_VERSION_ONLY, "operations", "CREATE", "UPDATE", "resources", BW_PLURAL_SERVICES,
	    "scope", "Namespaced", "name", "breakers.breakwater.io", "admissionReviewVersions",
	    "v1", "sideEffects", "None", "failurePolicy", "Ignore", "timeoutSeconds",
	    BW_REGISTRATION_VALIDATE_TIMEOUT_S, "clientConfig",
	    client_config(o, "/validate-breakers", ca_b64), "namespaceSelector",
	    namespace_selector(o), "rules", "apiGroups", BW_API_GROUP, "apiVersions",
	    BW_API_VERSION_ONLY, "operations", "CREATE", "UPDATE", "resources", BW_PLURAL_BREAKERS,
	    "scope", "Namespaced");
	free(ca_b64);
	if (!*mutating || !*validating) {
		json_decref(*mutating);
		json_decref(*validating);
		*mutating = *validating = NULL;
		return bw_error_set(err, BW_ENOMEM, "webhook registration: out of memory");
	}
	return 0;
}
