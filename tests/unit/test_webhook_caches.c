/*
 * webhook/server.c reading the operator's caches: a Service and the ports of
 * its dependencies are read from the spec of each cached object, scanned out
 * of its text (the rest, status and metadata, is not parsed). Checked through
 * bw_webhook_injection_generation(), which makes the same reads as a pod
 * mutation: the generation hashes every dependency URL, port included, so a
 * port read from the wrong place, or a dependency missed, changes it. The
 * expected value comes from bw_mutate_pod() given the ports by hand.
 */
#include <stdio.h>
#include <string.h>

#include "cached.h"
#include "../../webhook/mutate.h"
#include "../../webhook/server.h"
#include "check.h"

static void add(struct bw_store *store, const char *json)
{
	json_error_t jerr;
	json_t *obj = json_loads(json, 0, &jerr);

	if (!obj)
		printf("# bad fixture: %s\n", jerr.text);
	bw_store_upsert(store, obj, NULL, NULL);
	json_decref(obj);
}

/* What bw_mutate_pod() gives a pod of service in ns with deps {NAME: PORT}. */
static void expected(const char *ns, const char *service, const char *depends, const char *deps,
		     char *out)
{
	json_t *svc = json_loads(depends, 0, NULL), *d = json_loads(deps, 0, NULL);
	json_t *pod =
	    json_pack("{s:{s:{s:s}}, s:{s:[{s:s}]}}", "metadata", "labels", "breakwater.io/service",
		      service, "spec", "containers", "name", "app");
	struct bw_mutate_input in = {.pod = pod, .namespace = ns, .service = svc, .deps = d};
	struct bw_mutate_result r;

	out[0] = '\0';
	if (bw_mutate_pod(&in, &r, NULL) == 0)
		strcpy(out, r.generation);
	bw_mutate_result_release(&r);
	json_decref(pod);
	json_decref(svc);
	json_decref(d);
}

int main(void)
{
	struct bw_error err;
	struct bw_webhook_caches c = {0};
	char got[32], want[32];

	bw_store_new(&c.services, bw_project_service, NULL, NULL, 0, &err);
	bw_store_new(&c.breakers, bw_project_breaker, NULL, NULL, 0, &err);
	bw_store_new(&c.namespaces, bw_project_namespace, NULL, NULL, 0, &err);

	/* status and metadata before spec, holding "spec", "port" and
	 * "dependsOn" of their own; a key with a quote in it */
	add(c.services,
	    "{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\",\"status\":{"
	    "\"spec\":{\"port\":1},\"port\":2,\"conditions\":[{\"message\":\"}{\\\"spec\\\":\"}]},"
	    "\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\",\"resourceVersion\":\"1\","
	    "\"annotations\":{\"a\\\"spec\":\"{\\\"dependsOn\\\":[\\\"x\\\"]}\"}},"
	    "\"spec\":{\"image\":\"o:1\",\"dependsOn\":[\"users\",\"payments\",\"ghost\",\"flat\"],"
	    "\"port\":8000}}");
	/* port 9000, after a status that says 1 */
	add(c.services, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"users\",\"namespace\":"
			"\"shop\",\"resourceVersion\":\"2\"},\"status\":{\"port\":1},\"spec\":{"
			"\"healthCheck\":{\"port\":2},\"port\":9000}}");
	/* no port in its spec (one in healthCheck): the default, 8080 */
	add(c.services, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"payments\",\"namespace\":"
			"\"shop\",\"resourceVersion\":\"3\"},\"spec\":{\"healthCheck\":{\"port\":"
			"7000},\"image\":\"p:1\"}}");
	/* no spec at all: exists, default port */
	add(c.services, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"flat\",\"namespace\":"
			"\"shop\",\"resourceVersion\":\"4\"}}");

	CHECK_INT(0, bw_webhook_injection_generation(&c, "shop", "orders", got, sizeof(got)),
		  "orders is cached");
	expected("shop", "orders",
		 "{\"spec\":{\"dependsOn\":[\"users\",\"payments\",\"ghost\",\"flat\"]}}",
		 "{\"users\":9000,\"payments\":8080,\"flat\":8080}", want);
	CHECK(want[0] != '\0', "the expected generation is computed (%s)", want);
	CHECK_STR(want, got,
		  "dependsOn and the ports come from each spec (9000; 8080 when a spec has none "
		  "or there is no spec), not from status, metadata or nested objects; ghost is "
		  "missing");
	expected("shop", "orders",
		 "{\"spec\":{\"dependsOn\":[\"users\",\"payments\",\"ghost\",\"flat\"]}}",
		 "{\"users\":1,\"payments\":8080,\"flat\":8080}", want);
	CHECK(strcmp(want, got) != 0, "... and a port of 1 would give another generation");

	CHECK_INT(0, bw_webhook_injection_generation(&c, "shop", "flat", got, sizeof(got)),
		  "a cached Service without a spec is still a Service");
	expected("shop", "flat", "{}", "{}", want);
	CHECK_STR(want, got, "... with no dependencies");
	CHECK_INT(BW_ENOTFOUND,
		  bw_webhook_injection_generation(&c, "shop", "ghost", got, sizeof(got)),
		  "a Service not cached is not found");

	/* The breaker sidecar's inputs from the caches: the namespace's label,
	 * the Breakers' targets, the Service's breakerSidecar, the image. */
	{
		char plain[32], proxied[32], pod_gen[32];
		json_t *svc =
		    json_loads("{\"spec\":{\"dependsOn\":[\"users\",\"payments\",\"ghost\","
			       "\"flat\"]}}",
			       0, NULL);
		json_t *deps =
		    json_loads("{\"users\":9000,\"payments\":8080,\"flat\":8080}", 0, NULL);
		json_t *labels = json_pack("{s:s}", BW_LABEL_PROXY, "enabled");
		json_t *targets = json_pack("[s]", "payments");
		struct bw_mutate_input in = {.namespace = "shop",
					     .service = svc,
					     .deps = deps,
					     .namespace_labels = labels,
					     .breaker_targets = targets,
					     .proxy_image = "img:1"};

		c.proxy_image = "img:1";
		bw_webhook_injection_generation(&c, "shop", "orders", plain, sizeof(plain));
		add(c.namespaces, "{\"metadata\":{\"name\":\"shop\",\"resourceVersion\":\"5\","
				  "\"labels\":{\"breakwater.io/proxy\":\"enabled\"}}}");
		bw_webhook_injection_generation(&c, "shop", "orders", got, sizeof(got));
		CHECK_STR(plain, got, "sidecar: opted in, but no Breaker: the plain generation");
		add(c.breakers, "{\"metadata\":{\"name\":\"pay\",\"namespace\":\"shop\","
				"\"resourceVersion\":\"6\"},\"spec\":{\"target\":\"payments\"}}");
		bw_webhook_injection_generation(&c, "shop", "orders", proxied, sizeof(proxied));
		CHECK(strcmp(plain, proxied) != 0,
		      "sidecar: a Breaker added changes the generation");
		bw_mutate_generation(&in, "orders", pod_gen, NULL);
		CHECK_STR(pod_gen, proxied,
			  "sidecar: the caches give what the mutation gives with the same inputs");
		c.proxy_image = NULL;
		bw_webhook_injection_generation(&c, "shop", "orders", got, sizeof(got));
		CHECK_STR(plain, got, "sidecar: without --proxy-image, none");
		c.proxy_image = "img:1";
		add(c.services, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"orders\","
				"\"namespace\":\"shop\",\"resourceVersion\":\"7\"},\"spec\":{"
				"\"dependsOn\":[\"users\",\"payments\",\"ghost\",\"flat\"],"
				"\"breakerSidecar\":\"Disabled\"}}");
		bw_webhook_injection_generation(&c, "shop", "orders", got, sizeof(got));
		CHECK_STR(plain, got, "sidecar: the Service's breakerSidecar: Disabled wins");
		json_decref(svc);
		json_decref(deps);
		json_decref(labels);
		json_decref(targets);
	}

	bw_store_free(c.services);
	bw_store_free(c.breakers);
	bw_store_free(c.namespaces);
	return check_exit();
}
