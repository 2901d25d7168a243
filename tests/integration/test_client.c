/*
 * The client against the real API server: CRUD and every patch type on a
 * ConfigMap, conflicts and preconditions, a CRD-backed object with status and
 * scale subresources, a Deployment's scale, paging through 1,200 objects,
 * and watch streams sharing one connection (lib/mux.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "itest.h"

static char ns[128];

static void sleep_ms_local(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *str_at(json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static void test_configmap_crud(struct bw_client *c)
{
	struct bw_error err;
	json_t *cm = itest_configmap("crud", "crud", "one"), *got = NULL, *stale = NULL, *patch;
	char rv[64];
	int ret;

	ret = bw_client_create(c, &bw_res_configmaps, ns, cm, &got, &err);
	CHECK_INT(0, ret, "create a ConfigMap (%s)", ret ? err.message : "ok");
	CHECK_STR("one", str_at(got, "data", "value"), "create returns the stored object");
	json_decref(got);

	ret = bw_client_create(c, &bw_res_configmaps, ns, cm, NULL, &err);
	CHECK_INT(BW_ECONFLICT, ret, "creating it again is a conflict");
	CHECK_STR("AlreadyExists", err.reason, "with reason AlreadyExists");
	CHECK_INT(409, err.http_status, "and HTTP 409");

	ret = bw_client_get(c, &bw_res_configmaps, ns, "crud", NULL, &got, &err);
	CHECK_INT(0, ret, "get it");
	snprintf(rv, sizeof(rv), "%s", str_at(got, "metadata", "resourceVersion"));
	stale = json_deep_copy(got);

	json_object_set_new(json_object_get(got, "data"), "value", json_string("two"));
	ret = bw_client_update(c, &bw_res_configmaps, ns, "crud", NULL, got, NULL, &err);
	CHECK_INT(0, ret, "update it with its resourceVersion (%s)", ret ? err.message : "ok");
	json_decref(got);

	json_object_set_new(json_object_get(stale, "data"), "value", json_string("stale"));
	ret = bw_client_update(c, &bw_res_configmaps, ns, "crud", NULL, stale, NULL, &err);
	CHECK_INT(BW_ECONFLICT, ret, "an update with a stale resourceVersion is a conflict");
	CHECK(strstr(err.message, "modified") != NULL, "the message says why: %s", err.message);
	json_decref(stale);

	patch = json_pack("{s:{s:s}}", "data", "merged", "yes");
	ret = bw_client_patch(c, &bw_res_configmaps, ns, "crud", NULL, BW_PATCH_MERGE, patch, NULL,
			      &got, &err);
	CHECK_INT(0, ret, "merge patch");
	CHECK_STR("yes", str_at(got, "data", "merged"), "merge patch applied");
	CHECK_STR("two", str_at(got, "data", "value"), "merge patch kept the other keys");
	json_decref(patch);
	json_decref(got);

	patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/data/value", "value",
			  "three");
	ret = bw_client_patch(c, &bw_res_configmaps, ns, "crud", NULL, BW_PATCH_JSON, patch, NULL,
			      &got, &err);
	CHECK_INT(0, ret, "JSON patch");
	CHECK_STR("three", str_at(got, "data", "value"), "JSON patch applied");
	json_decref(patch);
	json_decref(got);

	patch =
	    json_pack("[{s:s, s:s, s:s}]", "op", "test", "path", "/data/value", "value", "nope");
	ret = bw_client_patch(c, &bw_res_configmaps, ns, "crud", NULL, BW_PATCH_JSON, patch, NULL,
			      NULL, &err);
	CHECK(ret != 0 && err.http_status >= 400, "a failing JSON patch test op is refused (%ld)",
	      err.http_status);
	json_decref(patch);

	patch =
	    json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
		      "metadata", "name", "crud", "namespace", ns, "data", "applied", "by-ssa");
	{
		struct bw_patch_options po = {.field_manager = "breakwater-itest", .force = 1};

		ret = bw_client_patch(c, &bw_res_configmaps, ns, "crud", NULL, BW_PATCH_APPLY,
				      patch, &po, &got, &err);
		CHECK_INT(0, ret, "server-side apply (%s)", ret ? err.message : "ok");
		CHECK_STR("by-ssa", str_at(got, "data", "applied"), "server-side apply applied");
		json_decref(got);
		ret = bw_client_patch(c, &bw_res_configmaps, ns, "crud", NULL, BW_PATCH_APPLY,
				      patch, NULL, NULL, &err);
		CHECK_INT(BW_EINVAL, ret, "server-side apply without a field manager is refused");
	}
	json_decref(patch);

	{
		struct bw_delete_options dopt = {.precondition_uid = "not-the-uid"};

		ret = bw_client_delete(c, &bw_res_configmaps, ns, "crud", &dopt, &err);
		CHECK_INT(BW_ECONFLICT, ret, "delete with a wrong uid precondition is a conflict");
		dopt.precondition_uid = NULL;
		dopt.propagation_policy = "Background";
		ret = bw_client_delete(c, &bw_res_configmaps, ns, "crud", &dopt, &err);
		CHECK_INT(0, ret, "delete with propagation policy (%s)", ret ? err.message : "ok");
	}
	ret = bw_client_get(c, &bw_res_configmaps, ns, "crud", NULL, &got, &err);
	CHECK_INT(BW_ENOTFOUND, ret, "get after delete is not found");
	CHECK_STR("NotFound", err.reason, "with reason NotFound");
	CHECK(strstr(err.message, "crud") != NULL, "the message names the object: %s", err.message);
	ret = bw_client_delete(c, &bw_res_configmaps, ns, "crud", NULL, &err);
	CHECK_INT(BW_ENOTFOUND, ret, "deleting it again is not found");
	(void)rv;
	json_decref(cm);
}

static const struct bw_resource gadgets = {"itest.breakwater.io", "v1", "gadgets", "Gadget", 1};

static int crd_established(void *ctx)
{
	struct bw_client *c = ctx;
	json_t *crd = NULL, *cond;
	size_t i;
	int ok = 0;

	if (bw_client_get(c, &bw_res_crds, NULL, "gadgets.itest.breakwater.io", NULL, &crd, NULL))
		return 0;
	json_array_foreach(json_object_get(json_object_get(crd, "status"), "conditions"), i, cond)
	{
		if (strcmp(json_string_value(json_object_get(cond, "type")), "Established") == 0 &&
		    strcmp(json_string_value(json_object_get(cond, "status")), "True") == 0)
			ok = 1;
	}
	json_decref(crd);
	return ok;
}

static int gadget_created(void *ctx)
{
	struct bw_client *c = ctx;
	json_t *g =
	    json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "apiVersion", "itest.breakwater.io/v1",
		      "kind", "Gadget", "metadata", "name", "g1", "spec", "replicas", 2);
	int ret = bw_client_create(c, &gadgets, ns, g, NULL, NULL);

	json_decref(g);
	return ret == 0;
}

static void test_custom_resource(struct bw_client *c)
{
	struct bw_error err;
	json_t *crd, *got = NULL, *scale;
	int ret;

	crd = json_loads(
	    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
	    "\"metadata\":{\"name\":\"gadgets.itest.breakwater.io\"},"
	    "\"spec\":{\"group\":\"itest.breakwater.io\",\"scope\":\"Namespaced\","
	    "\"names\":{\"plural\":\"gadgets\",\"singular\":\"gadget\",\"kind\":\"Gadget\"},"
	    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
	    "\"subresources\":{\"status\":{},\"scale\":{\"specReplicasPath\":\".spec.replicas\","
	    "\"statusReplicasPath\":\".status.replicas\"}},"
	    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
	    "\"spec\":{\"type\":\"object\",\"properties\":{\"replicas\":{\"type\":\"integer\"}}},"
	    "\"status\":{\"type\":\"object\",\"properties\":{\"replicas\":{\"type\":\"integer\"},"
	    "\"phase\":{\"type\":\"string\"}}}}}}}]}}",
	    0, NULL);
	ret = bw_client_create(c, &bw_res_crds, NULL, crd, NULL, &err);
	if (ret == BW_ECONFLICT)
		ret = 0; /* left over from an earlier run */
	CHECK_INT(0, ret, "create a CRD (%s)", ret ? err.message : "ok");
	json_decref(crd);
	CHECK(itest_eventually(30000, crd_established, c), "the CRD becomes Established");
	CHECK(itest_eventually(10000, gadget_created, c), "create a custom object");

	ret = bw_client_get(c, &gadgets, ns, "g1", NULL, &got, &err);
	CHECK_INT(0, ret, "get the custom object");
	json_object_set_new(got, "status", json_pack("{s:i, s:s}", "replicas", 2, "phase", "Up"));
	ret = bw_client_update(c, &gadgets, ns, "g1", "status", got, NULL, &err);
	CHECK_INT(0, ret, "update its status subresource (%s)", ret ? err.message : "ok");
	json_decref(got);

	ret = bw_client_get(c, &gadgets, ns, "g1", "scale", &scale, &err);
	CHECK_INT(0, ret, "get its scale subresource");
	CHECK_INT(2,
		  json_integer_value(json_object_get(json_object_get(scale, "spec"), "replicas")),
		  "scale.spec.replicas reads spec.replicas");
	json_object_set_new(json_object_get(scale, "spec"), "replicas", json_integer(5));
	ret = bw_client_update(c, &gadgets, ns, "g1", "scale", scale, NULL, &err);
	CHECK_INT(0, ret, "update its scale subresource (%s)", ret ? err.message : "ok");
	json_decref(scale);
	ret = bw_client_get(c, &gadgets, ns, "g1", NULL, &got, &err);
	CHECK_INT(5, json_integer_value(json_object_get(json_object_get(got, "spec"), "replicas")),
		  "the scale update reached spec.replicas");
	CHECK_STR("Up", str_at(got, "status", "phase"), "the status update is stored");
	json_decref(got);

	ret = bw_client_delete(c, &bw_res_crds, NULL, "gadgets.itest.breakwater.io", NULL, &err);
	CHECK_INT(0, ret, "delete the CRD (%s)", ret ? err.message : "ok");
}

static void test_deployment_scale(struct bw_client *c)
{
	struct bw_error err;
	json_t *d, *scale = NULL, *patch;
	int ret;

	d = json_loads("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
		       "\"web\"},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":"
		       "\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		       "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\"}]}}}}",
		       0, NULL);
	ret = bw_client_create(c, &bw_res_deployments, ns, d, NULL, &err);
	CHECK_INT(0, ret, "create a Deployment (%s)", ret ? err.message : "ok");
	json_decref(d);
	patch = json_pack("{s:{s:i}}", "spec", "replicas", 3);
	ret = bw_client_patch(c, &bw_res_deployments, ns, "web", "scale", BW_PATCH_MERGE, patch,
			      NULL, NULL, &err);
	CHECK_INT(0, ret, "merge-patch the Deployment's scale (%s)", ret ? err.message : "ok");
	json_decref(patch);
	ret = bw_client_get(c, &bw_res_deployments, ns, "web", "scale", &scale, &err);
	CHECK_INT(3,
		  json_integer_value(json_object_get(json_object_get(scale, "spec"), "replicas")),
		  "the Deployment's scale reads 3");
	CHECK_STR("app=web", str_at(scale, "status", "selector"), "scale carries the selector");
	json_decref(scale);
}

/* Creates configmaps [from, to) named page-NNNN. */
struct creator {
	struct bw_client *c;
	int from, to, failed;
};

static void *create_range(void *arg)
{
	struct creator *cr = arg;
	char name[32];

	for (int i = cr->from; i < cr->to; i++) {
		json_t *cm;

		snprintf(name, sizeof(name), "page-%04d", i);
		cm = itest_configmap(name, "paging", "x");
		if (bw_client_create(cr->c, &bw_res_configmaps, ns, cm, NULL, NULL) != 0)
			cr->failed++;
		json_decref(cm);
	}
	return NULL;
}

static void test_paging(struct bw_client *c)
{
	struct bw_list_options opts = {.label_selector = "itest=paging", .limit = 500};
	struct creator cr[4];
	pthread_t th[4];
	struct bw_error err;
	json_t *page = NULL, *items = NULL;
	char *rv = NULL, *token = NULL;
	int failed = 0, pages = 0, ret;
	size_t total = 0;

	for (int i = 0; i < 4; i++) {
		cr[i] = (struct creator){c, i * 300, (i + 1) * 300, 0};
		pthread_create(&th[i], NULL, create_range, &cr[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		failed += cr[i].failed;
	}
	CHECK_INT(0, failed, "1,200 ConfigMaps created from 4 threads sharing one client");

	do {
		const char *next;

		opts.continue_token = token;
		ret = bw_client_list_page(c, &bw_res_configmaps, ns, &opts, &page, &err);
		if (ret != 0)
			break;
		pages++;
		total += json_array_size(json_object_get(page, "items"));
		next = str_at(page, "metadata", "continue");
		free(token);
		token = next && *next ? strdup(next) : NULL;
		json_decref(page);
	} while (token);
	CHECK_INT(0, ret, "page through with limit 500");
	CHECK_INT(3, pages, "1,200 objects come in 3 pages of at most 500");
	CHECK_INT(1200, total, "the pages hold all 1,200");

	ret = bw_client_list(c, &bw_res_configmaps, ns, &opts, &items, &rv, &err);
	CHECK_INT(0, ret, "bw_client_list follows continue tokens");
	CHECK_INT(1200, json_array_size(items), "and returns all 1,200 in one array");
	CHECK(rv && *rv, "with the list's resourceVersion (%s)", rv ? rv : "none");
	json_decref(items);
	free(rv);

	opts.label_selector = "itest=nothing-has-this";
	ret = bw_client_list(c, &bw_res_configmaps, ns, &opts, &items, NULL, &err);
	CHECK(ret == 0 && json_array_size(items) == 0, "a selector matching nothing lists nothing");
	json_decref(items);

	opts.label_selector = NULL;
	opts.field_selector = "metadata.name=page-0042";
	ret = bw_client_list(c, &bw_res_configmaps, ns, &opts, &items, NULL, &err);
	CHECK(ret == 0 && json_array_size(items) == 1, "a field selector picks one object");
	json_decref(items);
}

static void test_errors(struct bw_client *c)
{
	struct bw_error err;
	json_t *bad = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
				"metadata", "name", "Not_A_Valid_Name");
	int ret = bw_client_create(c, &bw_res_configmaps, ns, bad, NULL, &err);

	CHECK_INT(BW_EHTTP, ret, "an invalid object is refused");
	CHECK_INT(422, err.http_status, "with HTTP 422");
	CHECK_STR("Invalid", err.reason, "and reason Invalid");
	CHECK(strstr(err.message, "metadata.name") != NULL, "naming the field: %s", err.message);
	json_decref(bad);

	ret = bw_client_get(c, &gadgets, ns, "x", NULL, NULL, &err);
	CHECK_INT(BW_ENOTFOUND, ret, "a resource the server does not serve is not found");
}

#define KA_THREADS  4
#define KA_REQUESTS 50

struct getter {
	struct bw_client *c;
	int failed;
};

static void *get_many(void *arg)
{
	struct getter *g = arg;

	for (int i = 0; i < KA_REQUESTS; i++)
		if (bw_client_get(g->c, &bw_res_namespaces, NULL, ns, NULL, NULL, NULL) != 0)
			g->failed++;
	return NULL;
}

/* Connections are per curl handle, not shared between threads: keep-alive
 * must still carry many requests per connection, from one thread and from
 * several. */
static void test_keepalive(void)
{
	struct bw_client *c = itest_client();
	struct getter g[KA_THREADS];
	pthread_t th[KA_THREADS];
	int64_t t0;
	unsigned long opened;
	int failed = 0;

	g[0] = (struct getter){c, 0};
	get_many(&g[0]);
	opened = bw_client_connections_opened(c);
	CHECK(g[0].failed == 0 && opened == 1,
	      "%d GETs in a row from one thread open one connection (%lu)", KA_REQUESTS, opened);

	t0 = bw_now_ms();
	for (int i = 0; i < KA_THREADS; i++) {
		g[i] = (struct getter){c, 0};
		pthread_create(&th[i], NULL, get_many, &g[i]);
	}
	for (int i = 0; i < KA_THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += g[i].failed;
	}
	opened = bw_client_connections_opened(c) - opened;
	printf("# %d threads x %d GETs: %ld ms, %lu new connections\n", KA_THREADS, KA_REQUESTS,
	       (long)(bw_now_ms() - t0), opened);
	CHECK(failed == 0 && opened <= KA_THREADS,
	      "%d threads x %d GETs open at most a connection per thread (%lu)", KA_THREADS,
	      KA_REQUESTS, opened);
	bw_client_free(c);
}

/* Three applies of a 200 KB value, each read back between: a body past
 * BW_CLIENT_HTTP2_BODY_MAX goes over HTTP/1.1 (without "Expect:
 * 100-continue"), on a connection of its own kept alive for the next, beside
 * the HTTP/2 one of the reads; with http2_body_max SIZE_MAX all go over the
 * one HTTP/2 connection. Returns the connections opened, or 0 on a failure. */
static unsigned long large_bodies(size_t http2_body_max)
{
	struct bw_client_options o = {.http2_body_max = http2_body_max};
	struct bw_client *c = itest_client_with(&o);
	struct bw_patch_options po = {.field_manager = "itest", .force = 1};
	size_t size = 200 * 1024;
	char *value = malloc(size + 1);
	unsigned long opened = 0;
	json_t *first = NULL;
	int ok = value != NULL &&
		 bw_client_get(c, &bw_res_namespaces, NULL, ns, NULL, &first, NULL) == 0;

	json_decref(first); /* an HTTP/2 connection is open before the first body */
	for (int round = 0; ok && round < 3; round++) {
		json_t *cm, *back = NULL;
		struct bw_error err;
		const char *got;

		memset(value, 'a' + round, size);
		value[size] = '\0';
		cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", "large-body", "data", "v", value);
		ok = bw_client_patch(c, &bw_res_configmaps, ns, "large-body", NULL, BW_PATCH_APPLY,
				     cm, &po, NULL, &err) == 0 &&
		     bw_client_get(c, &bw_res_configmaps, ns, "large-body", NULL, &back, &err) == 0;
		got = json_string_value(json_object_get(json_object_get(back, "data"), "v"));
		if (ok && (!got || strcmp(got, value) != 0)) {
			ok = 0;
			bw_error_set(&err, BW_EINVAL, "the value read back is not the one applied");
		}
		if (!ok)
			printf("# large body, round %d: %s\n", round, err.message);
		json_decref(cm);
		json_decref(back);
	}
	if (ok)
		opened = bw_client_connections_opened(c);
	bw_client_delete(c, &bw_res_configmaps, ns, "large-body", NULL, NULL);
	free(value);
	bw_client_free(c);
	return opened;
}

static void test_large_bodies(void)
{
	unsigned long split = large_bodies(0), h2 = large_bodies(SIZE_MAX);

	CHECK(split == 2,
	      "200 KB applies go over a kept-alive HTTP/1.1 connection beside the HTTP/2 one of "
	      "the reads (%lu connections)",
	      split);
	CHECK(h2 == 1, "with http2_body_max SIZE_MAX all share one HTTP/2 connection (%lu)", h2);
}

/* One watch stream of test_streams(), on its own thread. */
#define STREAMS 8
struct watcher {
	struct bw_client *c;
	int index;
	atomic_int *stop;
	const char *since;    /* the resourceVersion the watch starts after */
	atomic_llong seen_ms; /* when the ConfigMap's ADDED came, 0: not yet */
	/* shared: how many of the others have seen it, and how many had when
	 * the slow one let go of it */
	atomic_int *others_seen, *others_while_held;
	int ret, slow;
};

static int holds(const char *data, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(data + i, word, n) == 0)
			return 1;
	return 0;
}

static int watcher_data(const char *data, size_t len, void *ctx)
{
	struct watcher *w = ctx;

	if (!atomic_load(&w->seen_ms) && holds(data, len, "mux-probe")) {
		atomic_store(&w->seen_ms, bw_now_ms());
		if (!w->slow) {
			atomic_fetch_add(w->others_seen, 1);
			return 0;
		}
		/* a slow consumer holds the event until the others have it (at
		 * most 10 s): they must not wait on it */
		for (int i = 0; i < 500 && atomic_load(w->others_seen) < STREAMS - 1; i++)
			sleep_ms_local(20);
		atomic_store(w->others_while_held, atomic_load(w->others_seen));
	}
	return 0;
}

static int watcher_tick(void *ctx)
{
	struct watcher *w = ctx;

	return atomic_load(w->stop);
}

static void *watcher_run(void *arg)
{
	struct watcher *w = arg;
	char path[256];
	struct bw_error err;

	char query[256];

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
	snprintf(query, sizeof(query), "watch=1&timeoutSeconds=60&resourceVersion=%s", w->since);
	w->ret = bw_client_stream(w->c, path, query, NULL, watcher_data, watcher_tick, w, &err);
	return NULL;
}

/* STREAMS watches from as many threads share one connection (HTTP/2,
 * lib/mux.h; requests keep theirs, per pooled handle); each gets the event,
 * a consumer that holds it holds back none of the others, and each stops
 * when its tick says so. The watches start at a resourceVersion read
 * before, so each sees the ConfigMap however late it opens. */
static void test_streams(void)
{
	struct bw_client *c = itest_client();
	struct watcher w[STREAMS];
	pthread_t th[STREAMS];
	atomic_int stop = 0, others_seen = 0, others_while_held = -1;
	json_t *cm, *first = NULL;
	unsigned long opened;
	int64_t created, late = 0;
	int seen = 0, stopped = 0;
	char *since = NULL;

	bw_client_list(c, &bw_res_configmaps, ns, NULL, &first, &since, NULL);
	json_decref(first);
	CHECK(since != NULL, "the ConfigMaps' list gives a resourceVersion to watch from");
	opened = bw_client_connections_opened(c);
	for (int i = 0; i < STREAMS; i++) {
		w[i] = (struct watcher){.c = c,
					.index = i,
					.stop = &stop,
					.since = since ? since : "",
					.others_seen = &others_seen,
					.others_while_held = &others_while_held,
					.slow = i == 0};
		atomic_init(&w[i].seen_ms, 0);
		pthread_create(&th[i], NULL, watcher_run, &w[i]);
	}
	cm = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "mux-probe", "data", "k", "v");
	created = bw_now_ms();
	CHECK_INT(0, bw_client_create(c, &bw_res_configmaps, ns, cm, NULL, NULL),
		  "a ConfigMap is created under %d watches", STREAMS);
	json_decref(cm);
	for (int tries = 0; tries < 300; tries++) {
		seen = 0;
		for (int i = 0; i < STREAMS; i++)
			seen += atomic_load(&w[i].seen_ms) != 0;
		if (seen == STREAMS)
			break;
		sleep_ms_local(50);
	}
	for (int i = 1; i < STREAMS; i++) {
		int64_t at = atomic_load(&w[i].seen_ms);

		if (at && at - created > late)
			late = at - created;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < STREAMS; i++) {
		pthread_join(th[i], NULL);
		stopped += w[i].ret == BW_ESTOPPED;
	}
	opened = bw_client_connections_opened(c) - opened;
	CHECK(seen == STREAMS, "each of %d watches sees the ConfigMap (%d)", STREAMS, seen);
	CHECK(atomic_load(&others_while_held) == STREAMS - 1,
	      "while one consumer holds it, the %d others see it (%d; the last after %lld ms)",
	      STREAMS - 1, atomic_load(&others_while_held), (long long)late);
	CHECK(stopped == STREAMS, "each watch stops when its tick says so (%d)", stopped);
	CHECK(opened == 1, "%d watches share one new connection (%lu)", STREAMS, opened);
	bw_client_delete(c, &bw_res_configmaps, ns, "mux-probe", NULL, NULL);
	bw_client_free(c);
	free(since);
}

/* A watch whose events are larger than the mux's chunks and its cap
 * (lib/mux.c: 16 KiB chunks, 128 KiB undelivered at most), read by a
 * consumer slow enough to fill them: every byte arrives, in order. */
#define BIG_VALUE (300 * 1024)
#define BIG_MAPS  3
struct collector {
	struct bw_buf seen;
	int deliveries;
};

static int collect_data(const char *data, size_t len, void *ctx)
{
	struct collector *k = ctx;

	k->deliveries++;
	sleep_ms_local(2); /* slower than the network: the mux waits at its cap */
	return bw_buf_append(&k->seen, data, len) == 0 ? 0 : -1;
}

static int collect_tick(void *ctx)
{
	struct collector *k = ctx;
	char name[32];
	size_t n, i;

	/* done once the last one's event has come whole: its line ended */
	snprintf(name, sizeof(name), "mux-big-%d", BIG_MAPS - 1);
	n = strlen(name);
	for (i = 0; i + n <= k->seen.len && memcmp(k->seen.data + i, name, n) != 0; i++)
		;
	return i + n <= k->seen.len && memchr(k->seen.data + i, '\n', k->seen.len - i) != NULL;
}

static void test_stream_bytes(void)
{
	struct bw_client *c = itest_client();
	struct collector k = {0};
	char path[256], name[32], *value = malloc(BIG_VALUE + 1);
	int whole = 0, events = 0;
	json_t *cm;

	for (size_t i = 0; i < BIG_VALUE; i++) /* no period of a chunk's size */
		value[i] = (char)('a' + (i * 7 + i / 1021) % 26);
	value[BIG_VALUE] = '\0';
	for (int i = 0; i < BIG_MAPS; i++) {
		snprintf(name, sizeof(name), "mux-big-%d", i);
		cm = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", name, "data", "v", value);
		CHECK_INT(0, bw_client_create(c, &bw_res_configmaps, ns, cm, NULL, NULL),
			  "ConfigMap %s of %d KiB created", name, BIG_VALUE / 1024);
		json_decref(cm);
	}
	bw_buf_init(&k.seen, 16 * 1024 * 1024);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
	/* from the start: the three come as ADDED events, back to back */
	bw_client_stream(c, path, "watch=1&resourceVersion=0&timeoutSeconds=60", NULL, collect_data,
			 collect_tick, &k, NULL);
	for (char *line = k.seen.data, *end; line && line < k.seen.data + k.seen.len;
	     line = end + 1) {
		json_t *ev, *data;

		if ((end = memchr(line, '\n', (size_t)(k.seen.data + k.seen.len - line))) == NULL)
			break;
		ev = json_loadb(line, (size_t)(end - line), 0, NULL);
		events += ev != NULL;
		data = json_object_get(json_object_get(ev, "object"), "data");
		whole += json_is_string(json_object_get(data, "v")) &&
			 strcmp(json_string_value(json_object_get(data, "v")), value) == 0;
		json_decref(ev);
	}
	CHECK(whole == BIG_MAPS,
	      "a watch delivers %d events of %d KiB byte for byte through the mux (%d whole of %d "
	      "events, %zu bytes in %d deliveries)",
	      BIG_MAPS, BIG_VALUE / 1024, whole, events, k.seen.len, k.deliveries);
	for (int i = 0; i < BIG_MAPS; i++) {
		snprintf(name, sizeof(name), "mux-big-%d", i);
		bw_client_delete(c, &bw_res_configmaps, ns, name, NULL, NULL);
	}
	bw_buf_release(&k.seen);
	free(value);
	bw_client_free(c);
}

/* A per-request timeout bounds even a request that would never end. */
static void test_request_timeout(struct bw_client *c)
{
	char path[256];
	struct bw_request req = {
	    .method = "GET", .path = path, .query = "watch=1", .timeout_ms = 300, .no_retry = 1};
	struct bw_error err;
	int64_t t0;
	long took;
	int ret;

	bw_client_path(path, sizeof(path), &bw_res_configmaps, ns, NULL, NULL, NULL);
	t0 = bw_now_ms();
	ret = bw_client_do(c, &req, NULL, &err);
	took = (long)(bw_now_ms() - t0);
	CHECK_INT(BW_ETIMEDOUT, ret, "a watch with a 300 ms request timeout times out");
	CHECK(took >= 250 && took < 2000, "after about 300 ms (%ld ms)", took);
}

int main(void)
{
	struct bw_client *c;

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	c = itest_client();
	if (itest_namespace(c, "client", ns, sizeof(ns)) != 0) {
		printf("not ok - create a test namespace\n");
		return 1;
	}
	test_configmap_crud(c);
	test_custom_resource(c);
	test_deployment_scale(c);
	test_paging(c);
	test_errors(c);
	test_keepalive();
	test_large_bodies();
	test_streams();
	test_stream_bytes();
	test_request_timeout(c);
	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
