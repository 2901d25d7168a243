/*
 * Unit tests for the operator's cache projections and indexes
 * (model/cached.c): a Service keeps its registry entry and the keys of
 * its dependencies, and the by-dependency index finds its dependents without
 * a pass over the namespace, also past BW_STORE_INDEX_MAX dependencies (one
 * "namespace/ *" value then stands for them); a pod is found by its Service;
 * the typed fields of a Service and a Breaker (model/cached.h) are what the
 * rules, the webhook and the reconciler read, so no one parses the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "store.h"
#include "cached.h"
#include "registry.h"

/* A Service of shop named name with n dependencies dep-0..dep-(n-1). */
static json_t *service(const char *name, int n)
{
	json_t *deps = json_array();
	char dep[32];

	for (int i = 0; i < n; i++) {
		snprintf(dep, sizeof(dep), "dep-%d", i);
		json_array_append_new(deps, json_string(dep));
	}
	return json_pack("{s:{s:s, s:s, s:s, s:i}, s:{s:s, s:o}}", "metadata", "name", name,
			 "namespace", "shop", "resourceVersion", "1", "generation", 1, "spec",
			 "image", "img:1", "dependsOn", deps);
}

/* The names of the items of a by-index lookup, sorted, space-separated. */
static void names_of(struct bw_store *s, const char *index, const char *value, char *out,
		     size_t size)
{
	struct bw_store_items items = {0};
	const char *v[64];
	size_t n = 0, len = 0;

	out[0] = '\0';
	if (bw_store_by_index(s, index, value, &items, NULL) != 0)
		return;
	for (size_t i = 0; i < items.count && n < 64; i++)
		v[n++] = bw_store_item_name(items.v[i]);
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful */
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			const char *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", v[i]);
	bw_store_items_release(&items);
}

static void test_services(void)
{
	struct bw_store_index ix = {BW_INDEX_BY_DEPENDENCY, bw_index_dependency, NULL};
	json_t *few = service("few", 3), *many = service("many", BW_STORE_INDEX_MAX + 4),
	       *none = service("none", 0), *entry = NULL, *cached_entry;
	const struct bw_cached_service *o;
	struct bw_store *s;
	char names[256];

	CHECK_INT(0, bw_store_new(&s, bw_project_service, NULL, &ix, 1, NULL),
		  "a store of Services indexed by dependency");
	char *want;

	CHECK(s != NULL, "a store with the by-dependency index");
	CHECK(bw_store_upsert(s, few, NULL, NULL) == 0 &&
		  bw_store_upsert(s, many, NULL, NULL) == 0 &&
		  bw_store_upsert(s, none, NULL, NULL) == 0,
	      "three Services are cached");

	o = bw_store_get(s, "shop", "few");
	CHECK_INT(3, o ? o->n_dependencies : 0, "a Service keeps the keys of its dependencies");
	CHECK_STR("shop/dep-2", o && o->n_dependencies == 3 ? o->dependency_keys[2] : NULL,
		  "as namespace/name");
	bw_registry_service_entry(few, "shop", &entry, NULL);
	want = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(want, o ? o->registry_entry : NULL,
		  "and its registry entry, as bw_registry_service_entry() makes it");
	cached_entry = o ? json_loads(o->registry_entry, JSON_ALLOW_NUL, NULL) : NULL;
	CHECK(json_equal(entry, cached_entry), "which reads back as that entry");
	free(want);
	json_decref(entry);
	json_decref(cached_entry);
	bw_store_item_put(o);

	names_of(s, BW_INDEX_BY_DEPENDENCY, "shop/dep-1", names, sizeof(names));
	CHECK_STR("few", names, "the index finds the dependents of dep-1 (within the limit)");
	names_of(s, BW_INDEX_BY_DEPENDENCY, "shop/*", names, sizeof(names));
	CHECK_STR("many", names, "a Service with more than %d dependencies is under shop/*",
		  BW_STORE_INDEX_MAX);
	o = bw_store_get(s, "shop", "many");
	CHECK_INT(BW_STORE_INDEX_MAX + 4, o ? o->n_dependencies : 0, "and keeps every key");
	CHECK_STR("shop/*", o ? o->dependency_keys[o->n_dependencies] : NULL,
		  "and the shop/* value after them");
	bw_store_item_put(o);
	names_of(s, BW_INDEX_BY_DEPENDENCY, "other/dep-1", names, sizeof(names));
	CHECK_STR("", names, "another namespace's dep-1 has no dependents here");

	/* an invalid Service (no image) and one being deleted have no entry */
	json_object_del(json_object_get(none, "spec"), "image");
	json_object_set_new(json_object_get(none, "metadata"), "resourceVersion", json_string("2"));
	bw_store_upsert(s, none, NULL, NULL);
	o = bw_store_get(s, "shop", "none");
	CHECK(o && !o->registry_entry, "an invalid Service has no registry entry");
	bw_store_item_put(o);

	json_decref(few);
	json_decref(many);
	json_decref(none);
	bw_store_free(s);
}

static void test_pods(void)
{
	struct bw_store_index ix = {BW_INDEX_BY_SERVICE, bw_index_service, NULL};
	char name[32], names[256];
	struct bw_store *s;
	int all = 1;

	CHECK_INT(0, bw_store_new(&s, bw_project_pod, NULL, &ix, 1, NULL),
		  "a store of pods indexed by Service");

	for (int i = 0; i < 6; i++) {
		json_t *pod;

		snprintf(name, sizeof(name), "pod-%d", i);
		pod = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}}", "metadata", "name", name,
				"namespace", i < 5 ? "shop" : "other", "resourceVersion", "1",
				"labels", "breakwater.io/service", i % 2 ? "orders" : "users");
		all &= bw_store_upsert(s, pod, NULL, NULL) == 0;
		json_decref(pod);
	}
	CHECK(all, "six pods are cached");
	names_of(s, BW_INDEX_BY_SERVICE, "shop/orders", names, sizeof(names));
	CHECK_STR("pod-1 pod-3", names, "the pods of shop/orders, by the by-service index");
	names_of(s, BW_INDEX_BY_SERVICE, "other/orders", names, sizeof(names));
	CHECK_STR("pod-5", names, "and of other/orders, apart");
	bw_store_free(s);
}

/* A Deployment's projection: counts, image, owner, annotations; its
 * condition words, known or not, read back as they were. */
static void test_deployments(void)
{
	static const char *const reasons[] = {"NewReplicaSetAvailable", "ProgressDeadlineExceeded",
					      "SomeFutureReason", ""};
	struct bw_store *s;

	CHECK_INT(0, bw_store_new(&s, bw_project_deployment, NULL, NULL, 0, NULL),
		  "a store of Deployments");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		char name[32];
		const struct bw_cached_deployment *d;
		json_t *obj;

		snprintf(name, sizeof(name), "d-%zu", i);
		obj = json_pack(
		    "{s:{s:s, s:s, s:s, s:s, s:i, s:{s:s}, s:[{s:s, s:s, s:b}]},"
		    " s:{s:i, s:{s:{s:[{s:s, s:s}]}}},"
		    " s:{s:i, s:i, s:i, s:[{s:s, s:s}, {s:s, s:s}]}}",
		    "metadata", "name", name, "namespace", "shop", "resourceVersion", "3", "uid",
		    "uid-d", "generation", 4, "annotations", "breakwater.io/revision", "7",
		    "ownerReferences", "uid", "uid-svc", "kind", "Service", "controller", 1, "spec",
		    "replicas", 3, "template", "spec", "containers", "name", "app", "image",
		    "img:2", "status", "observedGeneration", 4, "replicas", 3, "availableReplicas",
		    2, "conditions", "type", "Available", "status", i == 3 ? "Maybe" : "True",
		    "type", "Progressing", "reason", reasons[i]);
		bw_store_upsert(s, obj, NULL, NULL);
		json_decref(obj);
		d = bw_store_get(s, "shop", name);
		CHECK(d && strcmp(d->progressing, reasons[i]) == 0 &&
			  strcmp(d->available_status, i == 3 ? "Maybe" : "True") == 0,
		      "%s: Progressing reason \"%s\" and Available status read back", name,
		      reasons[i]);
		CHECK(d && d->generation == 4 && d->spec_replicas == 3 && d->available == 2 &&
			  strcmp(d->image, "img:2") == 0 && strcmp(d->owner_uid, "uid-svc") == 0 &&
			  strcmp(d->uid, "uid-d") == 0 && strcmp(d->revision, "7") == 0,
		      "%s: counts, image, owner and revision", name);
		bw_store_item_put(d);
	}
	bw_store_free(s);
}

static void test_typed(void)
{
	struct bw_store *s = NULL, *b = NULL;
	json_t *svc = json_loads(
	    "{\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\",\"resourceVersion\":"
	    "\"7\",\"generation\":4,\"creationTimestamp\":\"2026-11-30T01:00:00Z\","
	    "\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{\"image\":"
	    "\"r/orders:1\",\"replicas\":3,\"port\":8000,\"route\":{\"host\":\"shop.example\","
	    "\"pathPrefix\":\"/orders\"},\"dependsOn\":[\"users\",7,\"payments\"]},"
	    "\"status\":{\"image\":\"r/orders:0\"}}",
	    0, NULL);
	json_t *bare = json_pack("{s:{s:s, s:s, s:s, s:{}}, s:{s:s}}", "metadata", "name", "bare",
				 "namespace", "shop", "resourceVersion", "1", "deletionTimestamp",
				 "spec", "image", "r/bare:1");
	json_t *brk = json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:s}}", "metadata", "name", "pay",
				"namespace", "shop", "resourceVersion", "1", "creationTimestamp",
				"2026-11-30T01:00:00Z", "spec", "target", "payments");
	json_t *bad = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "metadata", "name", "bad",
				"namespace", "shop", "resourceVersion", "1", "spec", "target",
				"payments", "mode", "Sometimes");
	const struct bw_cached_service *o;
	const struct bw_cached_breaker *k;
	json_t *back;

	bw_store_new(&s, bw_project_service, NULL, NULL, 0, NULL);
	bw_store_new(&b, bw_project_breaker, NULL, NULL, 0, NULL);

	CHECK(bw_store_upsert(s, svc, NULL, NULL) == 0 && bw_store_upsert(s, bare, NULL, NULL) == 0,
	      "typed: two Services cached");
	o = bw_store_get(s, "shop", "orders");
	CHECK(o != NULL, "typed: orders is cached");
	if (o) {
		CHECK_STR("shop", o->view.ns, "typed: namespace");
		CHECK_STR("orders", o->view.name, "typed: name");
		CHECK_STR("2026-11-30T01:00:00Z", o->view.created, "typed: creationTimestamp");
		CHECK_INT(0, o->view.deleting, "typed: not being deleted");
		CHECK_INT(4, o->object.generation, "typed: generation");
		CHECK_STR("r/orders:1", o->image, "typed: spec.image");
		CHECK_INT(3, o->replicas, "typed: spec.replicas");
		CHECK_INT(8000, o->view.port, "typed: spec.port");
		CHECK(o->view.has_route, "typed: a route");
		CHECK_STR("shop.example", o->view.route_host, "typed: its host");
		CHECK_STR("/orders", o->view.route_path, "typed: its pathPrefix");
		CHECK_INT(3, o->view.n_depends_on, "typed: every dependsOn entry, in order");
		CHECK_STR("users", o->view.n_depends_on == 3 ? o->view.depends_on[0] : NULL,
			  "typed: dependsOn[0]");
		CHECK(o->view.n_depends_on == 3 && o->view.depends_on[1] == NULL,
		      "typed: an entry that is no string is NULL, so indexes match the field");
		CHECK_STR("payments", o->view.n_depends_on == 3 ? o->view.depends_on[2] : NULL,
			  "typed: dependsOn[2]");
		CHECK_INT(2, o->n_dependencies, "typed: the index keys skip the non-string");
		back = bw_cached_object_parse(&o->object);
		CHECK(
		    back && !json_object_get(json_object_get(back, "metadata"), "managedFields") &&
			json_equal(json_object_get(back, "status"), json_object_get(svc, "status")),
		    "typed: the text kept for render and status, without managedFields");
		json_decref(back);
	}
	bw_store_item_put(o);
	o = bw_store_get(s, "shop", "bare");
	CHECK(o && o->view.deleting && !o->view.has_route && !o->view.route_path &&
		  o->view.port == 8080 && o->replicas == 1 && o->view.n_depends_on == 0 &&
		  !o->view.created,
	      "typed: the defaults of a bare Service being deleted (port 8080, replicas 1)");
	bw_store_item_put(o);

	CHECK(bw_store_upsert(b, brk, NULL, NULL) == 0 && bw_store_upsert(b, bad, NULL, NULL) == 0,
	      "typed: two Breakers cached");
	k = bw_store_get(b, "shop", "pay");
	CHECK(k && k->view.valid && strcmp(k->view.target, "payments") == 0 &&
		  strcmp(k->view.created, "2026-11-30T01:00:00Z") == 0 &&
		  strcmp(k->view.name, "pay") == 0,
	      "typed: a Breaker's target, creationTimestamp and its policy checked valid");
	bw_store_item_put(k);
	k = bw_store_get(b, "shop", "bad");
	CHECK(k && !k->view.valid && strcmp(k->view.target, "payments") == 0,
	      "typed: a Breaker whose policy is refused (mode Sometimes) is not valid");
	bw_store_item_put(k);

	json_decref(svc);
	json_decref(bare);
	json_decref(brk);
	json_decref(bad);
	bw_store_free(s);
	bw_store_free(b);
}

/* A registry ConfigMap is kept as the digest of its data: the operator's own
 * 200 KB writes come back as watch events, and only ever get compared. */
static void test_registry(void)
{
	struct bw_store *s = NULL;
	const struct bw_cached_registry *r;
	unsigned char want[BW_REGISTRY_DIGEST_LEN], other[BW_REGISTRY_DIGEST_LEN];
	char big[4096];
	json_t *cm;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cm = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "metadata", "name",
		       "breakwater-registry", "namespace", "shop", "resourceVersion", "9", "data",
		       "registry.json", big, "breakers.json", "{}");
	CHECK_INT(0, bw_store_new(&s, bw_project_registry, NULL, NULL, 0, NULL),
		  "a store of registry ConfigMaps");
	CHECK_INT(0, bw_store_upsert(s, cm, NULL, NULL), "one is cached");
	r = bw_store_get(s, "shop", "breakwater-registry");
	bw_registry_digest(big, "{}", want);
	CHECK(r && memcmp(r->digest, want, sizeof(want)) == 0,
	      "as the digest of its two texts, which the controller compares");
	CHECK(r && r->bytes == sizeof(big) - 1 + 2, "with their size, which paces the builds");
	bw_registry_digest(big, "{ }", other);
	CHECK(memcmp(want, other, sizeof(want)) != 0, "another breakers.json is another digest");
	bw_registry_digest("ab", "", want);
	bw_registry_digest("a", "b", other);
	CHECK(memcmp(want, other, sizeof(want)) != 0, "the two texts are kept apart");
	bw_registry_digest(NULL, NULL, want);
	bw_registry_digest("", "", other);
	CHECK(memcmp(want, other, sizeof(want)) == 0, "a missing text is an empty one");
	CHECK_INT(BW_REGISTRY_DIGEST_LEN + sizeof(size_t), sizeof(*r),
		  "and nothing of the 4 KB text is kept");
	bw_store_item_put(r);
	json_decref(cm);
	bw_store_free(s);
}

int main(void)
{
	test_services();
	test_typed();
	test_deployments();
	test_pods();
	test_registry();
	return check_exit();
}
