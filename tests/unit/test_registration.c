/*
 * Unit tests for webhook/registration.c: the safe defaults of both
 * configurations, url and service clientConfigs, the caBundle (and its
 * absence in cert-manager mode), the namespace selectors, and the errors for
 * missing options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "certs.h"
#include "error.h"
#include "../../webhook/registration.h"

static const char CA[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/* The value at a path of object keys and array indexes ("webhooks", "0", ...). */
static json_t *at(json_t *v, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); v && tok; tok = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10))
				     : json_object_get(v, tok);
	return v;
}

static const char *at_str(json_t *v, const char *path)
{
	return json_string_value(at(v, path));
}

/* 1 when the selector's expressions exclude ns through NotIn. */
static int excludes(json_t *selector, const char *ns)
{
	json_t *e, *value;
	size_t i, j;

	json_array_foreach(json_object_get(selector, "matchExpressions"), i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "operator")), "NotIn") != 0)
			continue;
		json_array_foreach(json_object_get(e, "values"), j, value)
		{
			if (strcmp(json_string_value(value), ns) == 0)
				return 1;
		}
	}
	return 0;
}

static void test_url_defaults(void)
{
	struct bw_registration_options o = {.name = "breakwater",
					    .url_base = "https://127.0.0.1:9443",
					    .ca_bundle_pem = CA,
					    .operator_namespace = "breakwater-system"};
	json_t *m = NULL, *v = NULL;
	struct bw_error err = {0};
	const char *bundle;
	char *b64 = NULL;
	size_t len;

	CHECK_INT(0, bw_registration_render(&o, &m, &v, &err), "url: renders (%s)", err.message);
	CHECK_STR("MutatingWebhookConfiguration", at_str(m, "kind"), "url: mutating kind");
	CHECK_STR("ValidatingWebhookConfiguration", at_str(v, "kind"), "url: validating kind");
	CHECK_STR("breakwater", at_str(m, "metadata.name"), "url: the name");
	CHECK_STR("https://127.0.0.1:9443/mutate-pods", at_str(m, "webhooks.0.clientConfig.url"),
		  "url: pods go to /mutate-pods");
	CHECK_STR("https://127.0.0.1:9443/validate-services",
		  at_str(v, "webhooks.0.clientConfig.url"), "url: services to /validate-services");
	CHECK_STR("https://127.0.0.1:9443/validate-breakers",
		  at_str(v, "webhooks.1.clientConfig.url"), "url: breakers to /validate-breakers");
	CHECK_STR("Ignore", at_str(m, "webhooks.0.failurePolicy"), "mutation fails open");
	CHECK_STR("Ignore", at_str(v, "webhooks.0.failurePolicy"),
		  "service validation fails open (the CRD holds the single-object rules)");
	CHECK_STR("Ignore", at_str(v, "webhooks.1.failurePolicy"), "breaker validation fails open");
	CHECK_INT(5, json_integer_value(at(m, "webhooks.0.timeoutSeconds")), "pods: timeout 5 s");
	CHECK_INT(2, json_integer_value(at(v, "webhooks.0.timeoutSeconds")),
		  "services: timeout 2 s");
	CHECK_INT(2, json_integer_value(at(v, "webhooks.1.timeoutSeconds")),
		  "breakers: timeout 2 s");
	CHECK_STR("None", at_str(m, "webhooks.0.sideEffects"), "no side effects");
	CHECK_STR("IfNeeded", at_str(m, "webhooks.0.reinvocationPolicy"), "reinvoked if needed");
	CHECK_STR("disabled", at_str(m, "webhooks.0.objectSelector.matchExpressions.0.values.0"),
		  "pods labelled inject=disabled are not sent");
	for (const char *ns = "kube-system\0kube-node-lease\0kube-public\0breakwater-system\0"; *ns;
	     ns += strlen(ns) + 1) {
		CHECK(excludes(at(m, "webhooks.0.namespaceSelector"), ns),
		      "mutation never sees namespace %s", ns);
		CHECK(excludes(at(v, "webhooks.1.namespaceSelector"), ns),
		      "validation never sees namespace %s", ns);
	}
	bundle = at_str(m, "webhooks.0.clientConfig.caBundle");
	CHECK(bundle && bw_certs_base64_decode(bundle, strlen(bundle), &b64, &len, NULL) == 0 &&
		  strcmp(b64, CA) == 0,
	      "the caBundle is the CA, base64");
	free(b64);
	json_decref(m);
	json_decref(v);
}

static void test_service_scoped_no_ca(void)
{
	struct bw_registration_options o = {.name = "breakwater-shop",
					    .service_namespace = "breakwater-system",
					    .service_name = "breakwater-webhook",
					    .service_port = 443,
					    .scope_namespace = "shop"};
	json_t *m = NULL, *v = NULL, *e;
	struct bw_error err = {0};
	size_t i;
	int scoped = 0;

	CHECK_INT(0, bw_registration_render(&o, &m, &v, &err), "service: renders (%s)",
		  err.message);
	CHECK_STR("breakwater-webhook", at_str(m, "webhooks.0.clientConfig.service.name"),
		  "service: the Service's name");
	CHECK_STR("breakwater-system", at_str(m, "webhooks.0.clientConfig.service.namespace"),
		  "service: its namespace");
	CHECK_INT(443, json_integer_value(at(v, "webhooks.0.clientConfig.service.port")),
		  "service: port 443");
	CHECK_STR("/validate-breakers", at_str(v, "webhooks.1.clientConfig.service.path"),
		  "service: the path");
	CHECK(at(m, "webhooks.0.clientConfig.url") == NULL, "service: no url");
	CHECK(at(m, "webhooks.0.clientConfig.caBundle") == NULL &&
		  at(v, "webhooks.0.clientConfig.caBundle") == NULL,
	      "no CA: no caBundle at all (cert-manager's CA injector owns it)");
	json_array_foreach(at(m, "webhooks.0.namespaceSelector.matchExpressions"), i, e)
	{
		scoped |= strcmp(json_string_value(json_object_get(e, "operator")), "In") == 0 &&
			  strcmp(at_str(e, "values.0"), "shop") == 0;
	}
	CHECK(scoped, "scoped: only namespace shop is sent");
	CHECK(excludes(at(m, "webhooks.0.namespaceSelector"), "kube-system"),
	      "scoped: kube-system is still excluded");
	json_decref(m);
	json_decref(v);
}

static void test_errors(void)
{
	struct bw_registration_options no_name = {.url_base = "https://127.0.0.1:1"};
	struct bw_registration_options nowhere = {.name = "breakwater", .service_name = "x"};
	json_t *m = (json_t *)1, *v = (json_t *)1;
	struct bw_error err = {0};

	CHECK_INT(BW_EINVAL, bw_registration_render(&no_name, &m, &v, &err), "no name: refused");
	CHECK(strstr(err.message, "a name") != NULL, "no name: the message says so (%s)",
	      err.message);
	CHECK(m == NULL && v == NULL, "no name: nothing returned");
	CHECK_INT(BW_EINVAL, bw_registration_render(&nowhere, &m, &v, &err),
		  "a service without its namespace: refused");
	CHECK(strstr(err.message, "url or service") != NULL,
	      "and the message names what is missing (%s)", err.message);
}

int main(void)
{
	test_url_defaults();
	test_service_scoped_no_ca();
	test_errors();
	return check_exit();
}
