/* The admission webhook's HTTPS server: see server.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../operator/operator.h"
#include "admission.h"
#include "backoff.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "mutate.h"
#include "server.h"
#include "validate.h"

struct bw_webhook {
	struct bw_httpd *httpd;
	struct bw_webhook_caches caches;
	struct bw_metrics_counter *requests;
	struct bw_metrics_histogram *duration;
};

/* Admission latency buckets, 50 us .. 1 s: decisions take microseconds. */
static const double latency_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					 0.01,	  0.025,  0.05,	   0.1,	   0.25,  0.5,	  1};

/* The value of member key of a cached object's spec, its text parsed alone
 * (JSON_DECODE_ANY: it may be a number or an array); NULL when there is
 * none. A mutation reads two members of a Service's spec, and the rest of
 * it, status and metadata are most of its cached text: scanning past them
 * costs a fraction of building them. Text the scan cannot walk is parsed
 * whole. */
static json_t *spec_member(const struct bw_cached_object *item, const char *key)
{
	const char *spec, *v;
	size_t spec_len, n;
	json_t *obj, *out;

	if (!item)
		return NULL;
	if (bw_json_member(item->json, strlen(item->json), "spec", &spec, &spec_len) == 0)
		return bw_json_member(spec, spec_len, key, &v, &n) == 0
			   ? json_loadb(v, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
			   : NULL;
	obj = bw_cached_object_parse(item);
	out = json_incref(json_object_get(json_object_get(obj, "spec"), key));
	json_decref(obj);
	return out;
}

/* The cached Service ns/name as {"spec": {"dependsOn": [...]}}, all a
 * mutation reads of it (mutate.h); NULL when it is not cached. */
static json_t *cached_service(struct bw_store *store, const char *ns, const char *name)
{
	const struct bw_cached_object *item = bw_store_get(store, ns, name);
	json_t *svc =
	    item ? json_pack("{s:{s:o*}}", "spec", "dependsOn", spec_member(item, "dependsOn"))
		 : NULL;

	bw_store_item_put(item);
	return svc;
}

/* The objects of a namespace, parsed, except the one named `except`. */
static json_t *cached_list(struct bw_store *store, const char *ns, const char *except)
{
	struct bw_store_items items = {0};
	json_t *array = json_array();

	if (bw_store_list(store, ns, &items, NULL) != 0)
		return array;
	for (size_t i = 0; i < items.count; i++) {
		json_t *obj;

		if (except && strcmp(bw_store_item_name(items.v[i]), except) == 0)
			continue;
		obj = bw_cached_object_parse(items.v[i]);
		if (obj)
			json_array_append_new(array, obj);
	}
	bw_store_items_release(&items);
	return array;
}

/* The Services a write of obj is checked against: every one of its
 * namespace but itself, and those of other namespaces whose cached JSON
 * holds obj's route pathPrefix (the cross-namespace route check, without
 * parsing every Service of the cluster on each admission). */
static json_t *service_siblings(struct bw_store *store, struct bw_store *namespaces, const char *ns,
				const char *name, const json_t *obj)
{
	const char *prefix = json_string_value(
	    json_object_get(json_object_get(json_object_get(obj, "spec"), "route"), "pathPrefix"));
	struct bw_store_items items = {0};
	json_t *array;

	if (!prefix)
		return cached_list(store, ns, name);
	array = json_array();
	if (!array || bw_store_list(store, NULL, &items, NULL) != 0)
		return array;
	for (size_t i = 0; i < items.count; i++) {
		const char *ins = bw_store_item_namespace(items.v[i]);
		int here = ns && ins && strcmp(ins, ns) == 0;
		json_t *sib;

		if (here && name && strcmp(bw_store_item_name(items.v[i]), name) == 0)
			continue;
		if (!here && !bw_operator_may_hold_route(namespaces, items.v[i], prefix))
			continue;
		sib = bw_cached_object_parse(items.v[i]);
		if (sib)
			json_array_append_new(array, sib);
	}
	bw_store_items_release(&items);
	return array;
}

static json_t *namespace_labels(const struct bw_webhook_caches *caches, const char *ns)
{
	const struct bw_cached_namespace *n = bw_store_get(caches->namespaces, NULL, ns);
	json_t *labels = n ? json_loads(n->labels_json, 0, NULL) : NULL;

	bw_store_item_put(n);
	return labels;
}

/* {NAME: PORT} for the dependencies of svc that exist in ns. */
static json_t *dependency_ports(const struct bw_webhook_caches *caches, const char *ns,
				const json_t *svc)
{
	json_t *deps = json_object(), *name;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(svc, "spec"), "dependsOn"), i, name)
	{
		const char *n = json_string_value(name);
		const struct bw_cached_object *dep =
		    n ? bw_store_get(caches->services, ns, n) : NULL;
		json_t *port = spec_member(dep, "port");

		if (dep)
			json_object_set_new(
			    deps, n,
			    json_integer(json_is_integer(port) ? json_integer_value(port) : 8080));
		json_decref(port);
		bw_store_item_put(dep);
	}
	return deps;
}

int bw_webhook_injection_generation(const struct bw_webhook_caches *caches, const char *ns,
				    const char *service, char *out, size_t size)
{
	struct bw_mutate_result result = {0};
	struct bw_mutate_input in = {0};
	json_t *svc, *deps, *pod;
	int ret = BW_ENOTFOUND;

	svc = cached_service(caches->services, ns, service);
	if (!svc)
		return ret;
	deps = dependency_ports(caches, ns, svc);
	/* only the service label and the namespace shape what is injected */
	pod = json_pack("{s:{s:{s:s}}, s:{s:[{s:s}]}}", "metadata", "labels",
			"breakwater.io/service", service, "spec", "containers", "name", "app");
	in.pod = pod;
	in.namespace = ns;
	in.service = svc;
	in.deps = deps;
	if (pod && bw_mutate_pod(&in, &result, NULL) == 0 && result.inject) {
		snprintf(out, size, "%s", result.generation);
		ret = 0;
	}
	bw_mutate_result_release(&result);
	json_decref(pod);
	json_decref(deps);
	json_decref(svc);
	return ret;
}

static int reply(struct bw_http_response *resp, const char *uid,
		 const struct bw_admission_response *answer)
{
	char *text = NULL;
	size_t len = 0;
	struct bw_error err;

	if (bw_admission_response_write(uid, answer, &text, &len, &err) != 0) {
		bw_httpd_response_set_status(resp, 500);
		return bw_httpd_response_set_body(resp, NULL, err.message, strlen(err.message));
	}
	return bw_httpd_response_take_body(resp, "application/json", text, len);
}

static int reply_malformed(struct bw_http_response *resp, const struct bw_admission_request *req,
			   const char *message)
{
	char *text = NULL;
	size_t len = 0;
	int status = 400;

	if (bw_admission_malformed(req, message, &status, &text, &len, NULL) != 0)
		return bw_httpd_response_set_body(resp, NULL, message, strlen(message));
	bw_httpd_response_set_status(resp, status);
	return bw_httpd_response_take_body(resp, status == 200 ? "application/json" : "text/plain",
					   text, len);
}

static void observe(struct bw_webhook *wh, const char *endpoint, const char *result,
		    int64_t start_ns)
{
	bw_metrics_counter_inc(wh->requests, endpoint, result);
	bw_metrics_histogram_observe(wh->duration, (double)(bw_now_ns() - start_ns) / 1e9,
				     endpoint);
}

static int mutate_pods(const struct bw_http_request *hreq, struct bw_http_response *resp, void *ctx)
{
	struct bw_webhook *wh = ctx;
	struct bw_admission_request req = {0};
	struct bw_mutate_result result = {0};
	struct bw_admission_response answer = {.allowed = 1};
	struct bw_mutate_input in = {0};
	json_t *labels = NULL, *svc = NULL, *deps = NULL;
	const char *service;
	struct bw_error err;
	int64_t start = bw_now_ns();
	int ret;

	if (bw_admission_parse(hreq->body, hreq->body_len, &req, &err) != 0 ||
	    bw_admission_check_kind(&req, "", "Pod", &err) != 0) {
		ret = reply_malformed(resp, &req, err.message);
		observe(wh, "mutate-pods", "malformed", start);
		goto out;
	}
	labels = namespace_labels(&wh->caches, req.namespace);
	service = json_string_value(
	    json_object_get(json_object_get(json_object_get(req.object, "metadata"), "labels"),
			    "breakwater.io/service"));
	svc = service ? cached_service(wh->caches.services, req.namespace, service) : NULL;
	deps = svc ? dependency_ports(&wh->caches, req.namespace, svc) : NULL;
	in.pod = req.object;
	in.namespace = req.namespace;
	in.namespace_labels = labels;
	in.service = svc;
	in.deps = deps;
	if (bw_mutate_pod(&in, &result, &err) != 0) {
		/* a pod we cannot read is admitted as it is: mutation fails open */
		bw_log_warn("webhook", "mutate-pods %s/%s: %s", req.namespace,
			    req.name[0] ? req.name : "(generated)", err.message);
		answer.warnings = NULL;
		ret = reply(resp, req.uid, &answer);
		observe(wh, "mutate-pods", "error", start);
		goto out;
	}
	answer.patch = result.patched ? result.patch : NULL;
	answer.warnings = result.warnings;
	ret = reply(resp, req.uid, &answer);
	observe(wh, "mutate-pods", result.patched ? "patched" : "allowed", start);
out:
	bw_mutate_result_release(&result);
	json_decref(labels);
	json_decref(svc);
	json_decref(deps);
	bw_admission_request_release(&req);
	return ret;
}

/* Validation of Services and Breakers share all but the decision. */
static int validate(struct bw_webhook *wh, const struct bw_http_request *hreq,
		    struct bw_http_response *resp, int breakers)
{
	const char *endpoint = breakers ? "validate-breakers" : "validate-services";
	struct bw_admission_request req = {0};
	struct bw_validate_result result = {0};
	struct bw_admission_response answer = {0};
	json_t *services = NULL, *others = NULL;
	struct bw_error err;
	int64_t start = bw_now_ns();
	int ret;

	if (bw_admission_parse(hreq->body, hreq->body_len, &req, &err) != 0 ||
	    bw_admission_check_kind(&req, "breakwater.io", breakers ? "Breaker" : "Service",
				    &err) != 0) {
		ret = reply_malformed(resp, &req, err.message);
		observe(wh, endpoint, "malformed", start);
		goto out;
	}
	if (breakers) {
		services = cached_list(wh->caches.services, req.namespace, NULL);
		others = cached_list(wh->caches.breakers, req.namespace, req.name);
		ret = bw_validate_breaker(req.operation, req.object, req.old_object, services,
					  others, &result, &err);
	} else {
		others = service_siblings(wh->caches.services, wh->caches.namespaces, req.namespace,
					  req.name, req.object);
		ret = bw_validate_service(req.operation, req.object, req.old_object, others,
					  &result, &err);
	}
	if (ret != 0) {
		ret = reply_malformed(resp, &req, err.message);
		observe(wh, endpoint, "malformed", start);
		goto out;
	}
	answer.allowed = result.allowed;
	answer.code = result.code;
	answer.message = result.message[0] ? result.message : NULL;
	answer.warnings = result.warnings;
	ret = reply(resp, req.uid, &answer);
	observe(wh, endpoint, result.allowed ? "allowed" : "denied", start);
out:
	bw_validate_result_release(&result);
	json_decref(services);
	json_decref(others);
	bw_admission_request_release(&req);
	return ret;
}

static int validate_services(const struct bw_http_request *hreq, struct bw_http_response *resp,
			     void *ctx)
{
	return validate(ctx, hreq, resp, 0);
}

static int validate_breakers(const struct bw_http_request *hreq, struct bw_http_response *resp,
			     void *ctx)
{
	return validate(ctx, hreq, resp, 1);
}

static int healthz(const struct bw_http_request *hreq, struct bw_http_response *resp, void *ctx)
{
	(void)hreq;
	(void)ctx;
	return bw_httpd_response_set_body(resp, NULL, "ok\n", 3);
}

int bw_webhook_new(struct bw_webhook **out, const struct bw_webhook_options *opts,
		   const struct bw_webhook_caches *caches, struct bw_metrics *metrics,
		   struct bw_error *err)
{
	struct bw_httpd_options ho = {
	    .bind_address = opts->bind_address ? opts->bind_address : "127.0.0.1",
	    .port = opts->port,
	    .tls_cert_pem = opts->cert_pem,
	    .tls_key_pem = opts->key_pem,
	    .max_body = BW_ADMISSION_MAX_BYTES,
	    .max_buffered = BW_WEBHOOK_MAX_BUFFERED,
	    .request_timeout_ms = opts->request_timeout_ms,
	    .max_connections_per_peer = opts->max_connections_per_peer,
	    .keepalive_timeout_s = opts->idle_timeout_s,
	    .workers = BW_WEBHOOK_WORKERS,
	};
	struct bw_webhook *wh;
	int ret;

	*out = NULL;
	wh = calloc(1, sizeof(*wh));
	if (!wh)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	wh->caches = *caches;
	if ((ret = bw_metrics_register_counter(
		 metrics, "breakwater_webhook_requests_total",
		 "Admission requests by endpoint and result (allowed, patched, denied, "
		 "malformed, error)",
		 BW_METRICS_LABELS("endpoint", "result"), &wh->requests, err)) != 0 ||
	    (ret = bw_metrics_register_histogram(
		 metrics, "breakwater_webhook_request_duration_seconds",
		 "Time to decide an admission request, by endpoint", BW_METRICS_LABELS("endpoint"),
		 latency_buckets, sizeof(latency_buckets) / sizeof(latency_buckets[0]),
		 &wh->duration, err)) != 0 ||
	    (ret = bw_httpd_new(&wh->httpd, &ho, err)) != 0 ||
	    (ret = bw_httpd_add_route_inline(wh->httpd, "POST", "/mutate-pods", mutate_pods, wh,
					     BW_WEBHOOK_INLINE_MAX, err)) != 0 ||
	    (ret = bw_httpd_add_route(wh->httpd, "POST", "/validate-services", validate_services,
				      wh, err)) != 0 ||
	    (ret = bw_httpd_add_route(wh->httpd, "POST", "/validate-breakers", validate_breakers,
				      wh, err)) != 0 ||
	    (ret = bw_httpd_add_route_inline(wh->httpd, "GET", "/healthz", healthz, wh, 0, err)) !=
		0) {
		bw_webhook_free(wh);
		return ret;
	}
	*out = wh;
	return 0;
}

int bw_webhook_start(struct bw_webhook *wh, struct bw_error *err)
{
	return bw_httpd_start(wh->httpd, err);
}

int bw_webhook_port(struct bw_webhook *wh)
{
	return bw_httpd_port(wh->httpd);
}

int bw_webhook_set_cert(struct bw_webhook *wh, const char *cert_pem, const char *key_pem,
			struct bw_error *err)
{
	return bw_httpd_set_tls(wh->httpd, cert_pem, key_pem, err);
}

void bw_webhook_free(struct bw_webhook *wh)
{
	if (!wh)
		return;
	bw_httpd_free(wh->httpd);
	free(wh);
}
