/*
 * Unit tests for model/registry.c, data-driven: each folder under
 * tests/unit/data/registry/ is one case, run in sorted order.
 *
 *   services.json   optional: a JSON array of breakwater Services (absent: NULL)
 *   breakers.json   optional: a JSON array of Breakers (absent: NULL)
 *   ready.json      optional: {NAME: readyReplicas} (absent: NULL)
 *   configmap.json  the expected ConfigMap; its metadata.namespace is the
 *                   namespace built for. A data value that is a string must
 *                   match byte for byte; one written as an object is first
 *                   serialised with JSON_SORT_KEYS | JSON_COMPACT.
 *
 * Every case is also built again from reversed arrays and reordered keys,
 * which must give byte-identical data, and its registry.json is read back
 * with bw_registry_parse(). Table-driven cases cover breaker policy errors
 * (each message names the field), malformed registry texts and bad
 * arguments. Runs from the repository root.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "check.h"
#include "fixtures.h"
#include "error.h"
#include "registry.h"

#define DATA	   "tests/unit/data/registry"
#define MAX_CASES  256
#define DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

static const char *const data_keys[] = {BW_REGISTRY_KEY, BW_REGISTRY_BREAKERS_KEY};

/* ---- helpers shared in spirit with test_render.c ---- */

/* json_equal, with two NULLs equal. */
static int same(const json_t *a, const json_t *b)
{
	return (!a && !b) || json_equal(a, b);
}

/* ---- the fixture cases ---- */

/* The expected ConfigMap with every data value as its exact text. */
static json_t *expected_configmap(const json_t *fixture)
{
	json_t *cm = json_deep_copy(fixture), *data = json_object_get(cm, "data"), *v;
	char *text;
	size_t i;

	for (i = 0; i < 2; i++) {
		v = json_object_get(data, data_keys[i]);
		if (!v || json_is_string(v))
			continue;
		text = json_dumps(v, DUMP_FLAGS);
		json_object_set_new(data, data_keys[i], json_string(text));
		free(text);
	}
	return cm;
}

static const char *data_text(const json_t *cm, const char *key)
{
	return json_string_value(json_object_get(json_object_get(cm, "data"), key));
}

/* Compares the built ConfigMap with the expected one, data byte for byte. */
static void check_configmap(const char *name, json_t *want, json_t *got)
{
	json_t *w, *g, *want_rest = json_deep_copy(want), *got_rest = json_deep_copy(got);
	char path[512];
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *wt = data_text(want, data_keys[i]), *gt = data_text(got, data_keys[i]);

		CHECK(wt && gt && strcmp(wt, gt) == 0, "%s: data.%s is byte-identical", name,
		      data_keys[i]);
		if (wt && gt && strcmp(wt, gt) != 0) {
			w = json_loads(wt, 0, NULL);
			g = json_loads(gt, 0, NULL);
			snprintf(path, sizeof(path), "data.%s:", data_keys[i]);
			if (!diff_at(w, g, path, sizeof(path)))
				printf("    same JSON, different bytes:\n      expected: %.400s\n"
				       "      got     : %.400s\n",
				       wt, gt);
			json_decref(w);
			json_decref(g);
		}
		json_object_del(json_object_get(want_rest, "data"), data_keys[i]);
		json_object_del(json_object_get(got_rest, "data"), data_keys[i]);
	}
	path[0] = '\0';
	CHECK(json_equal(want_rest, got_rest), "%s: the ConfigMap around the data as expected",
	      name);
	if (!json_equal(want_rest, got_rest))
		diff_at(want_rest, got_rest, path, sizeof(path));
	json_decref(want_rest);
	json_decref(got_rest);
}

/* A copy with object keys in reverse order, recursively (arrays keep their order). */
static json_t *keys_reversed(const json_t *v)
{
	json_t *out, *child;
	const char **keys;
	const char *key;
	size_t n, i;

	if (!json_is_object(v))
		return json_deep_copy(v);
	n = json_object_size(v);
	keys = calloc(n ? n : 1, sizeof(*keys));
	out = json_object();
	i = 0;
	json_object_foreach((json_t *)v, key, child)
	{
		keys[i++] = key;
	}
	while (i-- > 0) {
		child = json_object_get(v, keys[i]);
		if (json_is_array(child)) {
			json_t *arr = json_array(), *item;
			size_t j;

			json_array_foreach(child, j, item)
			{
				json_array_append_new(arr, keys_reversed(item));
			}
			json_object_set_new(out, keys[i], arr);
		} else {
			json_object_set_new(out, keys[i], keys_reversed(child));
		}
	}
	free(keys);
	return out;
}

/* The array reversed, each element with its keys reversed. */
static json_t *reordered(const json_t *arr)
{
	json_t *out;
	size_t i;

	if (!arr)
		return NULL;
	out = json_array();
	for (i = json_array_size(arr); i-- > 0;)
		json_array_append_new(out, keys_reversed(json_array_get(arr, i)));
	return out;
}

/* ---- builds from the entries' texts (bw_registry_build_texts) ---- */

/* The text entries of services as the cache projection keeps them (entry
 * texts to free() in texts[]), ready replicas from ready; returns how many. */
static size_t text_entries(const char *ns, const json_t *services, const json_t *ready,
			   struct bw_registry_text_entry *out, char **texts, size_t max)
{
	const json_t *svc;
	json_t *entry;
	size_t i, n = 0;

	json_array_foreach(services, i, svc)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"));

		if (n == max || bw_registry_service_entry(svc, ns, &entry, NULL) || !entry)
			continue;
		texts[n] = json_dumps(entry, JSON_SORT_KEYS | JSON_COMPACT);
		out[n] = (struct bw_registry_text_entry){
		    name, texts[n], (long)json_integer_value(json_object_get(ready, name))};
		n++;
		json_decref(entry);
	}
	return n;
}

/* bw_registry_build_texts() from services gives the bytes of got (the
 * jansson build), in the services' order and reversed. */
static void check_texts(const char *name, const char *ns, const json_t *services,
			const json_t *breakers, const json_t *ready, const json_t *got)
{
	struct bw_registry_text_entry e[64], r[64];
	char *texts[64];
	json_t *cm = NULL;
	struct bw_error err;
	size_t n = text_entries(ns, services, ready, e, texts, 64), i;
	int rc;

	for (i = 0; i < n; i++)
		r[i] = e[n - 1 - i];
	for (int pass = 0; pass < 2; pass++) {
		rc = bw_registry_build_texts(ns, pass ? r : e, n, breakers, &cm, &err);
		CHECK_INT(0, rc, "%s: bw_registry_build_texts succeeds%s", name,
			  pass ? " (reversed)" : "");
		for (i = 0; i < 2 && cm && got; i++)
			CHECK_STR(data_text(got, data_keys[i]), data_text(cm, data_keys[i]),
				  "%s: the build from texts gives byte-identical %s%s", name,
				  data_keys[i], pass ? " (reversed)" : "");
		json_decref(cm);
		cm = NULL;
	}
	for (i = 0; i < n; i++)
		free(texts[i]);
}

static void run_case(const char *name)
{
	char dir[512];
	json_t *services, *breakers, *ready, *fixture, *want = NULL, *got = NULL, *again = NULL;
	json_t *svc2 = NULL, *brk2 = NULL, *ready2 = NULL, *parsed = NULL, *want_reg = NULL;
	json_t *copies[3];
	const char *ns;
	struct bw_error err;
	size_t i;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	services = load(dir, "services.json");
	breakers = load(dir, "breakers.json");
	ready = load(dir, "ready.json");
	fixture = load(dir, "configmap.json");
	CHECK(fixture != NULL, "%s: has configmap.json", name);
	if (!fixture)
		goto out;
	copies[0] = json_deep_copy(services);
	copies[1] = json_deep_copy(breakers);
	copies[2] = json_deep_copy(ready);
	want = expected_configmap(fixture);
	ns = json_string_value(json_object_get(json_object_get(fixture, "metadata"), "namespace"));

	bw_error_clear(&err);
	rc = bw_registry_build(ns, services, breakers, ready, &got, &err);
	CHECK_INT(0, rc, "%s: bw_registry_build succeeds", name);
	if (rc)
		printf("    error: %s\n", err.message);
	else
		check_configmap(name, want, got);
	check_texts(name, ns, services, breakers, ready, got);

	/* the same objects in another order give the same bytes */
	svc2 = reordered(services);
	brk2 = reordered(breakers);
	ready2 = ready ? keys_reversed(ready) : NULL;
	rc = bw_registry_build(ns, svc2, brk2, ready2, &again, &err);
	CHECK_INT(0, rc, "%s: builds from reordered input", name);
	for (i = 0; i < 2 && got && again; i++)
		CHECK_STR(data_text(got, data_keys[i]), data_text(again, data_keys[i]),
			  "%s: reordered input gives byte-identical %s", name, data_keys[i]);

	/* registry.json reads back */
	rc = bw_registry_parse(data_text(got, BW_REGISTRY_KEY), &parsed, &err);
	CHECK_INT(0, rc, "%s: bw_registry_parse reads registry.json back", name);
	want_reg = json_loads(data_text(want, BW_REGISTRY_KEY), 0, NULL);
	CHECK(json_equal(want_reg, parsed), "%s: the parsed registry is what was written", name);

	CHECK(same(copies[0], services) && same(copies[1], breakers) && same(copies[2], ready),
	      "%s: the inputs are unchanged", name);
	for (i = 0; i < 3; i++)
		json_decref(copies[i]);
out:
	json_decref(services);
	json_decref(breakers);
	json_decref(ready);
	json_decref(fixture);
	json_decref(want);
	json_decref(got);
	json_decref(again);
	json_decref(svc2);
	json_decref(brk2);
	json_decref(ready2);
	json_decref(parsed);
	json_decref(want_reg);
}

/* ---- table-driven cases ---- */

/* Breakers bw_registry_breaker_policy() refuses, and the field each message names. */
static const struct {
	const char *breaker;
	const char *field;
} bad_breakers[] = {
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{}}", "spec.target"},
    {"{\"metadata\":{\"name\":\"b\"}}", "spec.target"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":7}}", "spec.target"},
    {"{\"spec\":{\"target\":\"p\"}}", "metadata.name"},
    {"{\"metadata\":{\"name\":\"b\",\"generation\":\"1\"},\"spec\":{\"target\":\"p\"}}",
     "metadata.generation"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"failureThreshold\":0}}",
     "spec.failureThreshold"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"failureRateThreshold\":101}}",
     "spec.failureRateThreshold"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"minimumCalls\":100001}}",
     "spec.minimumCalls"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"slidingWindow\":[]}}",
     "spec.slidingWindow"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"slidingWindow\":{\"type\":"
     "\"Sliding\"}}}",
     "spec.slidingWindow.type"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"slidingWindow\":{\"size\":0}}}",
     "spec.slidingWindow.size"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"slowCall\":{\"durationMs\":"
     "\"2s\"}}}",
     "spec.slowCall.durationMs"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"slowCall\":{\"rateThreshold\":"
     "0}}}",
     "spec.slowCall.rateThreshold"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"openSeconds\":86401}}",
     "spec.openSeconds"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"backoffMultiplier\":1.5}}",
     "spec.backoffMultiplier"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"openSeconds\":120,"
     "\"maxOpenSeconds\":60}}",
     "spec.maxOpenSeconds"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"halfOpenCalls\":1001}}",
     "spec.halfOpenCalls"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"mode\":\"enforce\"}}",
     "spec.mode"},
    {"{\"metadata\":{\"name\":\"b\"},\"spec\":{\"target\":\"p\",\"mode\":1}}", "spec.mode"},
};

static void test_breaker_errors(void)
{
	struct bw_error err;
	json_t *brk, *out;
	size_t i, n;
	int rc;

	for (i = 0; i < sizeof(bad_breakers) / sizeof(bad_breakers[0]); i++) {
		brk = json_loads(bad_breakers[i].breaker, 0, NULL);
		out = (json_t *)1;
		bw_error_clear(&err);
		rc = bw_registry_breaker_policy(brk, &out, &err);
		n = strlen(bad_breakers[i].field);
		CHECK_INT(BW_EINVAL, rc, "breaker %zu is refused", i);
		CHECK(out == NULL, "breaker %zu: *out is NULL", i);
		CHECK(strncmp(err.message, bad_breakers[i].field, n) == 0 && err.message[n] == ':',
		      "breaker %zu: the message names %s", i, bad_breakers[i].field);
		printf("    # %s\n", err.message);
		json_decref(brk);
	}
	CHECK_INT(BW_EINVAL, bw_registry_breaker_policy(NULL, &out, NULL), "a NULL breaker");
}

/* registry.json texts bw_registry_parse() refuses, and what the message must contain. */
static const struct {
	const char *text;
	const char *mentions;
} bad_registries[] = {
    {"", "line 1"},
    {"{\"namespace\":\"shop\",", "line 1, column"},
    {"{\"namespace\":\"shop\",\n \"services\":{}}}", "line 2"},
    {"[]", "must be an object"},
    {"{\"services\":{}}", "namespace"},
    {"{\"namespace\":\"shop\"}", "services"},
    {"{\"namespace\":\"shop\",\"services\":[]}", "services"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":[]}}", "services.a"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"port\":80}}}", "services.a.url"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"http://a\",\"port\":\"80\"}}}",
     "services.a.port"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"http://a\",\"image\":1}}}",
     "services.a.image"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"u\",\"readyReplicas\":1.5}}}",
     "services.a.readyReplicas"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"u\",\"healthPath\":false}}}",
     "services.a.healthPath"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"u\",\"dependsOn\":\"b\"}}}",
     "services.a.dependsOn"},
    {"{\"namespace\":\"shop\",\"services\":{\"a\":{\"url\":\"u\",\"dependsOn\":[\"b\",2]}}}",
     "services.a.dependsOn[1]"},
    {"{\"namespace\":\"shop\",\"namespace\":\"x\",\"services\":{}}", "duplicate"},
};

static void test_parse(void)
{
	struct bw_error err;
	json_t *out;
	char *big;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad_registries) / sizeof(bad_registries[0]); i++) {
		out = (json_t *)1;
		bw_error_clear(&err);
		rc = bw_registry_parse(bad_registries[i].text, &out, &err);
		CHECK_INT(BW_EPARSE, rc, "malformed registry %zu is refused", i);
		CHECK(out == NULL, "malformed registry %zu: *out is NULL", i);
		CHECK(strstr(err.message, bad_registries[i].mentions) != NULL,
		      "malformed registry %zu: the message mentions \"%s\"", i,
		      bad_registries[i].mentions);
		printf("    # %s\n", err.message);
	}

	/* unknown keys are allowed: a newer operator may add some */
	rc = bw_registry_parse("{\"namespace\":\"shop\",\"version\":2,\"services\":{\"a\":{\"url\":"
			       "\"http://a.shop.svc.cluster.local:80\",\"zone\":\"x\"}}}",
			       &out, &err);
	CHECK_INT(0, rc, "a registry with unknown keys parses");
	json_decref(out);

	big = malloc(BW_REGISTRY_MAX_BYTES + 2);
	memset(big, ' ', BW_REGISTRY_MAX_BYTES + 1);
	big[BW_REGISTRY_MAX_BYTES + 1] = '\0';
	CHECK_INT(BW_ETOOBIG, bw_registry_parse(big, &out, &err), "a text over the cap is refused");
	free(big);
	CHECK_INT(BW_EINVAL, bw_registry_parse(NULL, &out, &err), "a NULL text is refused");
}

static void test_arguments(void)
{
	json_t *obj = json_object(), *arr = json_array(), *out = (json_t *)1;
	struct bw_error err;

	CHECK_INT(BW_EINVAL, bw_registry_build(NULL, NULL, NULL, NULL, &out, &err),
		  "a NULL namespace is refused");
	CHECK(out == NULL, "a refused build leaves *out NULL");
	CHECK_INT(BW_EINVAL, bw_registry_build("", arr, arr, obj, &out, &err),
		  "an empty namespace is refused");
	CHECK_INT(BW_EINVAL, bw_registry_build("Shop", arr, arr, obj, &out, &err),
		  "a namespace that is not a DNS label is refused");
	CHECK_INT(BW_EINVAL, bw_registry_build("shop", obj, arr, obj, &out, &err),
		  "services must be an array");
	CHECK_INT(BW_EINVAL, bw_registry_build("shop", arr, obj, obj, &out, &err),
		  "breakers must be an array");
	CHECK_INT(BW_EINVAL, bw_registry_build("shop", arr, arr, arr, &out, &err),
		  "ready_replicas must be an object");
	CHECK_INT(BW_EINVAL, bw_registry_build("shop", arr, arr, obj, NULL, NULL),
		  "a NULL configmap is refused");
	json_decref(obj);
	json_decref(arr);
}

/* n Services of namespace ns named svc-0..svc-(n-1) with image `image`. */
static json_t *many_services(const char *ns, int n, const char *image)
{
	json_t *services = json_array();
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		json_array_append_new(services, json_pack("{s:{s:s, s:s}, s:{s:s, s:{s:s}, s:[s]}}",
							  "metadata", "name", name, "namespace", ns,
							  "spec", "image", image, "healthCheck",
							  "path", "/health", "dependsOn", "svc-0"));
	}
	return services;
}

/* A namespace whose registry would not fit in one ConfigMap: the compact
 * form, then BW_ETOOBIG. */
static void test_size_cap(void)
{
	json_t *services, *out = NULL, *reg = NULL, *e;
	const char *name;
	struct bw_error err;
	char image[300];
	int rc, entries = 0, only_url = 1;

	memset(image, 'x', sizeof(image) - 1);
	image[sizeof(image) - 1] = '\0';
	memcpy(image, "registry.local/", 15);

	/* 3,000 entries of over 300 bytes: too much for the full form */
	services = many_services("big", 3000, image);
	bw_error_clear(&err);
	rc = bw_registry_build("big", services, NULL, NULL, &out, &err);
	CHECK_INT(0, rc, "a registry over %d bytes in full is built in the compact form",
		  BW_REGISTRY_MAX_BYTES);
	if (rc)
		printf("    error: %s\n", err.message);
	CHECK_INT(0, bw_registry_parse(out ? data_text(out, BW_REGISTRY_KEY) : "", &reg, &err),
		  "the compact registry.json reads back");
	CHECK(json_is_true(json_object_get(reg, "compact")), "it says \"compact\": true");
	json_object_foreach(json_object_get(reg, "services"), name, e)
	{
		entries++;
		only_url &= json_object_size(e) == 2 && json_is_string(json_object_get(e, "url")) &&
			    json_is_integer(json_object_get(e, "readyReplicas"));
	}
	CHECK_INT(3000, entries, "every Service is listed in the compact form");
	CHECK(only_url, "compact entries hold url and readyReplicas only");
	CHECK(out && strlen(data_text(out, BW_REGISTRY_KEY)) <= BW_REGISTRY_MAX_BYTES,
	      "the compact registry.json fits");
	json_decref(reg);
	json_decref(out);
	json_decref(services);

	/* a namespace small enough stays in the full form */
	services = many_services("big", 10, image);
	rc = bw_registry_build("big", services, NULL, NULL, &out, &err);
	CHECK(rc == 0 && !strstr(data_text(out, BW_REGISTRY_KEY), "\"compact\""),
	      "a small registry is not compact");
	json_decref(out);
	json_decref(services);

	/* 20,000 with a long namespace: not even the compact form fits */
	services = many_services("a-namespace-name-of-sixty-three-characters-xxxxxxxxxxxxxxxxxxxx",
				 20000, "img");
	out = (json_t *)1;
	rc = bw_registry_build("a-namespace-name-of-sixty-three-characters-xxxxxxxxxxxxxxxxxxxx",
			       services, NULL, NULL, &out, &err);
	CHECK_INT(BW_ETOOBIG, rc, "a registry over %d bytes even compact is BW_ETOOBIG",
		  BW_REGISTRY_MAX_BYTES);
	CHECK(out == NULL, "an oversized registry leaves *out NULL");
	printf("    # %s\n", err.message);
	json_decref(services);
}

/* bw_registry_service_entry(), and builds from entries giving the same
 * bytes as builds from the Services. */
static void test_entries(void)
{
	json_t *svc = json_pack("{s:{s:s, s:s}, s:{s:s, s:i, s:{s:s}, s:[s]}}", "metadata", "name",
				"orders", "namespace", "shop", "spec", "image", "img:1", "port",
				8000, "healthCheck", "path", "/h", "dependsOn", "users");
	json_t *entry = NULL, *entries = json_object(), *services = json_array(), *a = NULL,
	       *b = NULL, *ready = json_pack("{s:i}", "orders", 2);
	struct bw_error err;

	CHECK_INT(0, bw_registry_service_entry(svc, "shop", &entry, &err), "an entry is made");
	CHECK(entry && !json_object_get(entry, "readyReplicas"),
	      "the entry leaves readyReplicas to the build");
	CHECK_STR("http://orders.shop.svc.cluster.local:8000",
		  json_string_value(json_object_get(entry, "url")), "the entry's url");
	json_object_set(entries, "orders", entry);
	json_array_append(services, svc);
	CHECK_INT(0, bw_registry_build_entries("shop", entries, NULL, ready, &a, &err),
		  "a build from entries");
	CHECK_INT(0, bw_registry_build("shop", services, NULL, ready, &b, &err),
		  "a build from Services");
	CHECK(a && b, "both built");
	if (a && b)
		CHECK_STR(data_text(b, BW_REGISTRY_KEY), data_text(a, BW_REGISTRY_KEY),
			  "entries and Services give the same registry.json");
	json_decref(entry);
	entry = (json_t *)1;
	CHECK_INT(0, bw_registry_service_entry(svc, "other", &entry, &err),
		  "a Service of another namespace is no error");
	CHECK(entry == NULL, "and has no entry");
	json_object_set_new(json_object_get(svc, "metadata"), "deletionTimestamp",
			    json_string("2026-11-30T00:00:00Z"));
	CHECK(bw_registry_service_entry(svc, "shop", &entry, &err) == 0 && entry == NULL,
	      "a Service being deleted has no entry");
	json_object_del(json_object_get(svc, "metadata"), "deletionTimestamp");
	json_object_del(json_object_get(svc, "spec"), "image");
	CHECK(bw_registry_service_entry(svc, "shop", &entry, &err) == 0 && entry == NULL,
	      "an invalid Service (no image) has no entry");
	json_object_set_new(entries, "bad", json_string("x"));
	json_decref(a);
	CHECK_INT(BW_EINVAL, bw_registry_build_entries("shop", entries, NULL, NULL, &a, &err),
		  "an entry that is not an object is refused");
	json_decref(a);
	json_decref(b);
	json_decref(svc);
	json_decref(entries);
	json_decref(services);
	json_decref(ready);
}

/* Counts jansson's allocations (json_set_alloc_funcs). */
static size_t json_allocs;

static void *counting_malloc(size_t n)
{
	json_allocs++;
	return malloc(n);
}

/* n text entries of namespace "big": svc-0..svc-(n-1), image of its own
 * length, ready = i % 3; entry texts to free() in texts[]. */
static struct bw_registry_text_entry *big_entries(size_t n, const char *image, char ***texts)
{
	json_t *services = many_services("big", (int)n, image);
	struct bw_registry_text_entry *e = calloc(n, sizeof(*e));
	json_t *ready = json_object();
	char name[32];

	*texts = calloc(n, sizeof(**texts));
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "svc-%zu", i);
		json_object_set_new(ready, name, json_integer((json_int_t)(i % 3)));
	}
	text_entries("big", services, ready, e, *texts, n);
	for (size_t i = 0; i < n; i++) /* the names borrowed from services: own copies */
		e[i].name = strdup(e[i].name);
	json_decref(services);
	json_decref(ready);
	return e;
}

static void free_entries(struct bw_registry_text_entry *e, char **texts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)e[i].name);
		free(texts[i]);
	}
	free(e);
	free(texts);
}

/* A build from texts makes no json_t per Service: as many of jansson's
 * allocations for 2,000 Services as for 10 (the jansson build made
 * thousands); the compact form and BW_ETOOBIG as the jansson build; and an
 * entry the splice cannot read falls back to the jansson build's bytes. */
static void test_texts(void)
{
	struct bw_registry_text_entry *e;
	json_t *cm = NULL, *services, *want = NULL, *entries, *ready;
	size_t allocs[2], sizes[2] = {10, 2000};
	char **texts, image[300];
	struct bw_error err;
	int rc;

	for (int k = 0; k < 2; k++) {
		e = big_entries(sizes[k], "img:1", &texts);
		json_set_alloc_funcs(counting_malloc, free);
		json_allocs = 0;
		rc = bw_registry_build_texts("big", e, sizes[k], NULL, &cm, &err);
		allocs[k] = json_allocs;
		json_set_alloc_funcs(malloc, free);
		CHECK_INT(0, rc, "a build of %zu Services from texts", sizes[k]);
		json_decref(cm);
		cm = NULL;
		free_entries(e, texts, sizes[k]);
	}
	CHECK(allocs[0] == allocs[1],
	      "jansson allocates as much for 2,000 Services as for 10 (%zu, %zu)", allocs[0],
	      allocs[1]);

	/* 3,000 entries of over 300 bytes: the compact form, the same bytes */
	memset(image, 'x', sizeof(image) - 1);
	image[sizeof(image) - 1] = '\0';
	memcpy(image, "registry.local/", 15);
	services = many_services("big", 3000, image);
	e = big_entries(3000, image, &texts);
	ready = json_object();
	for (size_t i = 0; i < 3000; i++)
		json_object_set_new(ready, e[i].name, json_integer(e[i].ready));
	rc = bw_registry_build("big", services, NULL, ready, &want, &err);
	CHECK_INT(0, rc, "the compact build from Services");
	rc = bw_registry_build_texts("big", e, 3000, NULL, &cm, &err);
	CHECK_INT(0, rc, "the compact build from texts");
	CHECK(want && cm && strstr(data_text(cm, BW_REGISTRY_KEY), "\"compact\":true"),
	      "the build from texts is compact");
	if (want && cm)
		CHECK_STR(data_text(want, BW_REGISTRY_KEY), data_text(cm, BW_REGISTRY_KEY),
			  "compact from texts and from Services: byte-identical");
	json_decref(cm);
	cm = NULL;

	/* a name the splice does not write as it is: the jansson build's bytes */
	free((char *)e[7].name);
	e[7].name = strdup("Svc_\"7");
	entries = json_object();
	for (size_t i = 0; i < 3000; i++) {
		json_object_set_new(entries, e[i].name, json_loads(e[i].entry, 0, NULL));
		json_object_set_new(ready, e[i].name, json_integer(e[i].ready));
	}
	json_decref(want);
	want = NULL;
	rc = bw_registry_build_entries("big", entries, NULL, ready, &want, &err);
	CHECK_INT(0, rc, "the jansson build with an odd name");
	rc = bw_registry_build_texts("big", e, 3000, NULL, &cm, &err);
	CHECK_INT(0, rc, "the build from texts with an odd name");
	if (want && cm)
		CHECK_STR(data_text(want, BW_REGISTRY_KEY), data_text(cm, BW_REGISTRY_KEY),
			  "an odd name: the jansson build's bytes");
	json_decref(cm);
	cm = NULL;
	free_entries(e, texts, 3000);
	json_decref(services);
	json_decref(want);
	json_decref(entries);
	json_decref(ready);

	/* 20,000 with a long namespace: not even the compact form fits */
	e = big_entries(20000, "img", &texts);
	cm = (json_t *)1;
	rc = bw_registry_build_texts(
	    "a-namespace-name-of-sixty-three-characters-xxxxxxxxxxxxxxxxxxxx", e, 20000, NULL, &cm,
	    &err);
	CHECK_INT(BW_ETOOBIG, rc, "a build from texts over %d bytes even compact is BW_ETOOBIG",
		  BW_REGISTRY_MAX_BYTES);
	CHECK(cm == NULL, "and leaves *out NULL");
	free_entries(e, texts, 20000);
	CHECK_INT(BW_EINVAL, bw_registry_build_texts("shop", NULL, 3, NULL, &cm, &err),
		  "entries are required when n > 0");
}

/* The gathering window grows with the registry, from 1 s to 10 s at the
 * ConfigMap's limit, and never past it. */
static void test_gather(void)
{
	long prev = 0;

	CHECK_INT(BW_REGISTRY_GATHER_MIN_MS, bw_registry_gather_ms(0), "an empty registry");
	CHECK_INT(1017, bw_registry_gather_ms(2000), "a small namespace's 2 KB: about 1 s");
	CHECK_INT(2544, bw_registry_gather_ms(180000), "1,000 Services' 180 KB: 2.5 s");
	CHECK_INT(5500, bw_registry_gather_ms(BW_REGISTRY_MAX_BYTES / 2), "half the limit");
	CHECK_INT(BW_REGISTRY_GATHER_MAX_MS, bw_registry_gather_ms(BW_REGISTRY_MAX_BYTES),
		  "the limit");
	CHECK_INT(BW_REGISTRY_GATHER_MAX_MS, bw_registry_gather_ms((size_t)-1), "past it");
	for (size_t b = 0; b <= BW_REGISTRY_MAX_BYTES + 4096; b += 4096) {
		long ms = bw_registry_gather_ms(b);

		if (ms < prev || ms < BW_REGISTRY_GATHER_MIN_MS || ms > BW_REGISTRY_GATHER_MAX_MS)
			break;
		prev = ms;
	}
	CHECK_INT(BW_REGISTRY_GATHER_MAX_MS, prev, "growing, within bounds, up to the limit");
}

int main(void)
{
	char *names[MAX_CASES];
	size_t n, i;

	n = list_cases(DATA, names, MAX_CASES);
	for (i = 0; i < n; i++) {
		run_case(names[i]);
		free(names[i]);
	}
	CHECK(n >= 6, "at least 6 registry cases (%zu)", n);
	test_breaker_errors();
	test_parse();
	test_arguments();
	test_size_cap();
	test_entries();
	test_texts();
	test_gather();
	return check_exit();
}
