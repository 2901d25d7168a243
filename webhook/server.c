/* The admission webhook's HTTPS server: see server.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cached.h"
#include "admission.h"
#include "backoff.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "mutate.h"
#include "review_memo.h"
#include "server.h"
#include "validate.h"

struct bw_webhook {
	struct bw_httpd *httpd;
	struct bw_webhook_caches caches;
	struct bw_metrics_counter *requests;
	struct bw_metrics_histogram *duration;
	struct bw_review_memo *memo;
	struct bw_metrics_counter *memo_answers;
};

/* Admission latency buckets, 50 us .. 1 s: decisions take microseconds. */
static const double latency_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					 0.01,	  0.025,  0.05,	   0.1,	   0.25,  0.5,	  1};

/* The views of cached items (rules.h), borrowed from the items listed,
 * which this holds until views_release(). */
struct views {
	const void **v; /* struct bw_service_view or struct bw_breaker_view pointers */
	size_t n;
	struct bw_store_items items;
};

static void views_release(struct views *w)
{
	free(w->v);
	bw_store_items_release(&w->items);
	memset(w, 0, sizeof(*w));
}

/* The Services (breakers 0) or Breakers (1) of namespace ns, but the one
 * named `except`, as views. Returns 0 or -1 (out of memory). */
/* Lists the items of ns (NULL: all) into w, with room for their views.
 * Returns 1 when there are items to go through, 0 when none (a failed list
 * counts as none, as it always did), -1 out of memory. */
static int views_list(struct bw_store *store, const char *ns, struct views *w)
{
	memset(w, 0, sizeof(*w));
	if (bw_store_list(store, ns, &w->items, NULL) != 0)
		return 0;
	w->v = calloc(w->items.count + 1, sizeof(*w->v));
	return w->v ? 1 : -1;
}

static int cached_views(struct bw_store *store, const char *ns, const char *except, int breakers,
			struct views *w)
{
	int rc = views_list(store, ns, w);

	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < w->items.count; i++) {
		const void *item = w->items.v[i];

		if (except && strcmp(bw_store_item_name(item), except) == 0)
			continue;
		w->v[w->n++] = breakers
				   ? (const void *)&((const struct bw_cached_breaker *)item)->view
				   : (const void *)&((const struct bw_cached_service *)item)->view;
	}
	return 0;
}

/* bw_validate_lookup_fn over the Services cache of one namespace: each
 * item got is held in the views' items until views_release(). */
struct lookup {
	struct bw_store *store;
	const char *ns;
	struct views *w;
	size_t cap;
	int bad;
};

static const struct bw_service_view *lookup_service(void *arg, const char *name)
{
	struct lookup *l = arg;
	const struct bw_cached_service *item = bw_store_get(l->store, l->ns, name);
	struct bw_store_items *held = &l->w->items;

	if (!item)
		return NULL;
	if (held->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		const void **v = realloc(held->v, cap * sizeof(*v));

		if (!v) {
			bw_store_item_put(item);
			l->bad = 1;
			return NULL;
		}
		held->v = v;
		l->cap = cap;
	}
	held->v[held->count++] = item;
	return &item->view;
}

/* The Services of ns a write of obj without a route is checked against:
 * those its dependsOn reaches, looked up by name
 * (bw_validate_dependency_siblings()), not every one of the namespace. */
static int dependency_views(struct bw_store *store, const char *ns, const json_t *obj,
			    struct views *w)
{
	struct lookup l = {store, ns ? ns : "", w, 0, 0};
	const struct bw_service_view **v = NULL;

	memset(w, 0, sizeof(*w));
	if (bw_validate_dependency_siblings(obj, lookup_service, &l, &v, &w->n, NULL) != 0 ||
	    l.bad) {
		free(v);
		views_release(w);
		return -1;
	}
	w->v = (const void **)v;
	return 0;
}

/* The Services a write of obj is checked against: with a route, every one
 * of its namespace but itself, and those of other namespaces whose route has obj's
 * pathPrefix (the cross-namespace route check). Views: no Service is parsed. */
static int service_siblings(struct bw_store *store, struct bw_store *namespaces, const char *ns,
			    const char *name, const json_t *obj, struct views *w)
{
	const char *prefix = json_string_value(
	    json_object_get(json_object_get(json_object_get(obj, "spec"), "route"), "pathPrefix"));
	int rc;

	if (!prefix)
		return dependency_views(store, ns, obj, w);
	if ((rc = views_list(store, NULL, w)) <= 0)
		return rc;
	for (size_t i = 0; i < w->items.count; i++) {
		const struct bw_cached_service *item = w->items.v[i];
		const char *ins = bw_store_item_namespace(item);
		int here = ns && ins && strcmp(ins, ns) == 0;

		if (here && name && strcmp(bw_store_item_name(item), name) == 0)
			continue;
		if (!here && !bw_service_may_hold_route(namespaces, item, prefix))
			continue;
		w->v[w->n++] = &item->view;
	}
	return 0;
}

/*
 * What a pod's mutation reads of the caches (mutate.h's inputs), held from
 * one look-up so that the JSON it is given and the inputs key of the review
 * memo (review_memo.h) describe the same items.
 */
struct pod_inputs {
	const struct bw_cached_namespace *ns; /* NULL: not cached */
	const struct bw_cached_service *svc;  /* the pod's Service; NULL: none */
	/* per entry of svc's dependsOn, the Service it names, NULL when it is
	 * no string or names none */
	const struct bw_cached_service **deps;
	struct bw_store_items breakers; /* the namespace's, when with_breakers */
	int with_breakers;
};

static void pod_inputs_release(struct pod_inputs *pi)
{
	for (size_t i = 0; pi->deps && pi->svc && i < pi->svc->view.n_depends_on; i++)
		bw_store_item_put(pi->deps[i]);
	free(pi->deps);
	bw_store_item_put(pi->svc);
	bw_store_item_put(pi->ns);
	bw_store_items_release(&pi->breakers);
	memset(pi, 0, sizeof(*pi));
}

/* Looks up what a pod of Service `service` (NULL or "": none) in ns reads;
 * the namespace's Breakers when with_breakers (the sidecar may be injected)
 * and the Service is cached.
 * Returns 0, or -1 out of memory (then *pi holds nothing). */
static int pod_inputs_get(const struct bw_webhook_caches *caches, const char *ns,
			  const char *service, int with_breakers, struct pod_inputs *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->ns = bw_store_get(caches->namespaces, NULL, ns);
	pi->svc = service && *service ? bw_store_get(caches->services, ns, service) : NULL;
	if (pi->svc && pi->svc->view.n_depends_on) {
		pi->deps = calloc(pi->svc->view.n_depends_on, sizeof(*pi->deps));
		if (!pi->deps) {
			pod_inputs_release(pi);
			return -1;
		}
		for (size_t i = 0; i < pi->svc->view.n_depends_on; i++) {
			const char *d = pi->svc->view.depends_on[i];

			pi->deps[i] = d ? bw_store_get(caches->services, ns, d) : NULL;
		}
	}
	/* a failed list counts as no Breaker, as it always did */
	pi->with_breakers = with_breakers && pi->svc;
	if (pi->with_breakers && bw_store_list(caches->breakers, ns, &pi->breakers, NULL) != 0)
		memset(&pi->breakers, 0, sizeof(pi->breakers));
	return 0;
}

/* The Breakers of pi whose targets the sidecar protects: a valid policy,
 * not being deleted (those breakers.json holds). */
static const char *breaker_target(const struct pod_inputs *pi, size_t i)
{
	const struct bw_cached_breaker *b = pi->breakers.v[i];

	return b->view.valid && !b->view.deleting ? b->view.target : NULL;
}

/* mutate.h's inputs as JSON, from pi: the namespace's labels, the Service as
 * {"spec": {"dependsOn": [...], "breakerSidecar": ...}} (all a mutation
 * reads of it; an entry that is no string as null, which the mutation skips
 * as it would the original), {NAME: PORT} of the dependencies that exist,
 * and the Breakers' targets when with_breakers. Each NULL when absent; the
 * caller json_decref()s them. Returns 0, or -1 out of memory. */
static int pod_inputs_json(const struct pod_inputs *pi, json_t **labels, json_t **svc,
			   json_t **deps, json_t **targets)
{
	int bad = 0;

	*labels = pi->ns ? json_loads(pi->ns->labels_json, 0, NULL) : NULL;
	*svc = *deps = *targets = NULL;
	if (pi->svc) {
		const struct bw_service_view *v = &pi->svc->view;
		json_t *names = json_array();

		*deps = json_object();
		for (size_t i = 0; names && i < v->n_depends_on; i++) {
			const char *d = v->depends_on[i];

			bad |= json_array_append_new(names, d ? json_string(d) : json_null());
			if (pi->deps[i])
				bad |= json_object_set_new(*deps, d,
							   json_integer(pi->deps[i]->view.port));
		}
		*svc = json_pack("{s:{s:o*, s:s*}}", "spec", "dependsOn", names, "breakerSidecar",
				 v->breaker_sidecar > 0	  ? "Enabled"
				 : v->breaker_sidecar < 0 ? "Disabled"
							  : NULL);
		bad |= !names || !*svc || !*deps;
	}
	if (pi->with_breakers) {
		*targets = json_array();
		for (size_t i = 0; *targets && i < pi->breakers.count; i++) {
			const char *t = breaker_target(pi, i);

			if (t)
				bad |= json_array_append_new(*targets, json_string(t));
		}
		bad |= !*targets;
	}
	if (bad) {
		json_decref(*labels);
		json_decref(*svc);
		json_decref(*deps);
		json_decref(*targets);
		*labels = *svc = *deps = *targets = NULL;
		return -1;
	}
	return 0;
}

/* s as "LEN:s", NULL as "-": no two different inputs write the same key. */
static void key_str(struct bw_buf *key, const char *s)
{
	if (s)
		bw_buf_printf(key, "%zu:%s", strlen(s), s);
	else
		bw_buf_puts(key, "-");
}

/* The review memo's inputs key of pi: every value pod_inputs_json() and the
 * proxy image give the mutation, written without building them. */
static void pod_inputs_key(const struct pod_inputs *pi, const char *proxy_image, struct bw_buf *key)
{
	key_str(key, proxy_image);
	key_str(key, pi->ns ? pi->ns->labels_json : NULL);
	if (pi->svc) {
		const struct bw_service_view *v = &pi->svc->view;

		bw_buf_printf(key, "s%d,%zu", v->breaker_sidecar, v->n_depends_on);
		for (size_t i = 0; i < v->n_depends_on; i++) {
			key_str(key, v->depends_on[i]);
			bw_buf_printf(key, "p%ld", pi->deps[i] ? pi->deps[i]->view.port : -1L);
		}
	} else {
		bw_buf_puts(key, "n");
	}
	if (pi->with_breakers) {
		bw_buf_printf(key, "b%zu", pi->breakers.count);
		for (size_t i = 0; i < pi->breakers.count; i++)
			key_str(key, breaker_target(pi, i));
	}
}

/* The memo's inputs callback (review_memo.h), arg the caches: what a pod
 * of service in ns would be decided with now. */
static int memo_inputs(void *arg, const char *ns, const char *service, struct bw_buf *key)
{
	const struct bw_webhook_caches *caches = arg;
	struct pod_inputs pi;

	if (pod_inputs_get(caches, ns, service, caches->proxy_image != NULL, &pi) != 0)
		return -1;
	pod_inputs_key(&pi, caches->proxy_image, key);
	pod_inputs_release(&pi);
	return key->error;
}

int bw_webhook_injection_generation(const struct bw_webhook_caches *caches, const char *ns,
				    const char *service, char *out, size_t size)
{
	char generation[BW_MUTATE_GENERATION_CHARS + 1];
	struct bw_mutate_input in = {.namespace = ns, .proxy_image = caches->proxy_image};
	struct pod_inputs pi;
	json_t *svc, *deps, *labels, *targets;
	int ret = BW_ENOTFOUND;

	if (pod_inputs_get(caches, ns, service, 1, &pi) != 0)
		return BW_ENOMEM;
	if (!pi.svc || pod_inputs_json(&pi, &labels, &svc, &deps, &targets) != 0) {
		ret = pi.svc ? BW_ENOMEM : BW_ENOTFOUND;
		pod_inputs_release(&pi);
		return ret;
	}
	in.service = svc;
	in.deps = deps;
	in.namespace_labels = labels;
	in.breaker_targets = targets;
	if (bw_mutate_generation(&in, service, generation, NULL) == 0) {
		snprintf(out, size, "%s", generation);
		ret = 0;
	}
	json_decref(targets);
	json_decref(labels);
	json_decref(deps);
	json_decref(svc);
	pod_inputs_release(&pi);
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
	struct pod_inputs pi = {0};
	struct bw_review_memo_look look; /* the memo's scan and hash of the body, kept for a miss */
	struct bw_buf key;
	json_t *labels = NULL, *svc = NULL, *deps = NULL, *targets = NULL;
	const char *service, *outcome;
	char *text = NULL;
	size_t len = 0;
	struct bw_error err;
	int64_t start = bw_now_ns();
	int ret;

	/* pods of one ReplicaSet: the same review but for its uid */
	if (bw_review_memo_look_up(wh->memo, hreq->body, hreq->body_len, memo_inputs,
				   (void *)&wh->caches, &text, &len, &outcome, &look)) {
		observe(wh, "mutate-pods", outcome, start);
		bw_metrics_counter_inc(wh->memo_answers, "hit");
		return bw_httpd_response_take_body(resp, "application/json", text, len);
	}
	bw_buf_init(&key, 64 * 1024);
	if (bw_admission_parse_reading(hreq->body, hreq->body_len, bw_mutate_pod_reads, &req,
				       &err) != 0 ||
	    bw_admission_check_kind(&req, "", "Pod", &err) != 0) {
		ret = reply_malformed(resp, &req, err.message);
		observe(wh, "mutate-pods", "malformed", start);
		goto out;
	}
	service = json_string_value(json_object_get(
	    json_object_get(json_object_get(req.object, "metadata"), "labels"), BW_LABEL_SERVICE));
	if (pod_inputs_get(&wh->caches, req.namespace, service, wh->caches.proxy_image != NULL,
			   &pi) != 0 ||
	    pod_inputs_json(&pi, &labels, &svc, &deps, &targets) != 0) {
		bw_error_set(&err, BW_ENOMEM, "out of memory");
		goto fail_open;
	}
	in.pod = req.object;
	in.breaker_targets = targets;
	in.proxy_image = wh->caches.proxy_image;
	in.namespace = req.namespace;
	in.namespace_labels = labels;
	in.service = svc;
	in.deps = deps;
	if (bw_mutate_pod(&in, &result, &err) != 0)
		goto fail_open;
	answer.patch = result.patched ? result.patch : NULL;
	answer.warnings = result.warnings;
	outcome = result.patched ? "patched" : "allowed";
	if (bw_admission_response_write(req.uid, &answer, &text, &len, &err) != 0) {
		bw_httpd_response_set_status(resp, 500);
		ret = bw_httpd_response_set_body(resp, NULL, err.message, strlen(err.message));
		observe(wh, "mutate-pods", "error", start);
		goto out;
	}
	bw_metrics_counter_inc(wh->memo_answers, "miss");
	pod_inputs_key(&pi, wh->caches.proxy_image, &key);
	if (!key.error) /* not kept: the next such review is decided again */
		bw_review_memo_remember_seen(wh->memo, &look, hreq->body, hreq->body_len, req.uid,
					     req.namespace, service ? service : "",
					     key.data ? key.data : "", key.len, text, len, outcome);
	ret = bw_httpd_response_take_body(resp, "application/json", text, len);
	observe(wh, "mutate-pods", outcome, start);
	goto out;
fail_open:
	/* a pod we cannot read is admitted as it is: mutation fails open */
	bw_log_warn("webhook", "mutate-pods %s/%s: %s", req.namespace,
		    req.name[0] ? req.name : "(generated)", err.message);
	answer.warnings = NULL;
	ret = reply(resp, req.uid, &answer);
	observe(wh, "mutate-pods", "error", start);
out:
	bw_buf_release(&key);
	bw_mutate_result_release(&result);
	json_decref(labels);
	json_decref(svc);
	json_decref(deps);
	json_decref(targets);
	pod_inputs_release(&pi);
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
	struct views services = {0}, others = {0};
	struct bw_error err;
	int64_t start = bw_now_ns();
	int ret;

	if (bw_admission_parse(hreq->body, hreq->body_len, &req, &err) != 0 ||
	    bw_admission_check_kind(&req, BW_API_GROUP,
				    breakers ? BW_KIND_BREAKER : BW_KIND_SERVICE, &err) != 0) {
		ret = reply_malformed(resp, &req, err.message);
		observe(wh, endpoint, "malformed", start);
		goto out;
	}
	if (breakers) {
		ret = cached_views(wh->caches.services, req.namespace, NULL, 0, &services) ||
			      cached_views(wh->caches.breakers, req.namespace, req.name, 1, &others)
			  ? bw_error_set(&err, BW_ENOMEM, "out of memory")
			  : bw_validate_breaker_views(
				req.operation, req.object, req.old_object,
				(const struct bw_service_view *const *)services.v, services.n,
				(const struct bw_breaker_view *const *)others.v, others.n, &result,
				&err);
	} else {
		ret =
		    service_siblings(wh->caches.services, wh->caches.namespaces, req.namespace,
				     req.name, req.object, &others)
			? bw_error_set(&err, BW_ENOMEM, "out of memory")
			: bw_validate_service_views(req.operation, req.object, req.old_object,
						    (const struct bw_service_view *const *)others.v,
						    others.n, &result, &err);
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
	views_release(&services);
	views_release(&others);
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
	if (!opts->no_review_memo && !(wh->memo = bw_review_memo_new())) {
		bw_webhook_free(wh);
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	}
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
	    (ret = bw_metrics_register_counter(
		 metrics, "breakwater_webhook_review_memo_total",
		 "Pod mutations answered from the review memo (hit: a review equal to one "
		 "already decided but for its uid, with the same inputs) or decided (miss)",
		 BW_METRICS_LABELS("outcome"), &wh->memo_answers, err)) != 0 ||
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
	bw_review_memo_free(wh->memo);
	free(wh);
}
