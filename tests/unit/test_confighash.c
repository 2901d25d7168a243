/*
 * Unit tests for model/confighash.c, data-driven: each folder under
 * tests/unit/data/confighash/ is one case, run in sorted order.
 *
 *   spec.json      a breakwater Service's spec (input)
 *   objects.json   the objects of its namespace: {"ConfigMap/NAME": {the
 *                  object}, "Secret/NAME": {...}}; a reference with no entry
 *                  is a missing object
 *   expected.json  {"hash": "<hex>" or "" (no annotation),
 *                   "refs": ["ConfigMap/a", "Secret/b?"] (optional: "?"),
 *                   "missing": "ConfigMap a", "n_missing": 1,
 *                   "same_as": "CASE", "differs_from": "CASE"}; each key
 *                  optional; same_as / differs_from compare with the hash
 *                  of an earlier case
 *
 * The hash literals pin the hash across versions: a change of how it is
 * computed rolls out every Service that references a ConfigMap or Secret
 * when the operator is upgraded, so it must be deliberate. Runs from the
 * repository root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "confighash.h"
#include "fixtures.h"

#define DATA	  "tests/unit/data/confighash"
#define MAX_CASES 64

struct lookup {
	json_t *objects;
	char digest[BW_CONFIG_DIGEST_LEN + 1];
};

static const char *lookup(enum bw_config_kind kind, const char *name, void *arg)
{
	struct lookup *l = arg;
	char key[300];
	json_t *obj;

	snprintf(key, sizeof(key), "%s/%s", bw_config_kind_name(kind), name);
	obj = json_object_get(l->objects, key);
	if (!obj || bw_config_digest(obj, l->digest) != 0)
		return NULL;
	return l->digest;
}

static char hashes[MAX_CASES][BW_CONFIG_HASH_LEN + 1];
static char *names[MAX_CASES];
static size_t n_names;

static const char *hash_of(const char *name)
{
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(names[i], name) == 0)
			return hashes[i];
	return NULL;
}

static void run_case(size_t index)
{
	const char *name = names[index];
	char dir[512];
	json_t *spec, *objects, *expected, *refs = NULL, *v;
	struct lookup l = {0};
	struct bw_config_refs r;
	struct bw_config_hash h;
	const char *other;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	printf("# %s\n", name);
	spec = load(dir, "spec.json");
	objects = load(dir, "objects.json");
	expected = load(dir, "expected.json");
	CHECK(spec && expected, "%s: spec.json and expected.json", name);
	if (!spec || !expected)
		goto out;
	l.objects = objects;
	CHECK_INT(0, bw_config_hash(spec, lookup, &l, &h), "%s: hashed", name);
	memcpy(hashes[index], h.hash, sizeof(h.hash));
	if ((v = json_object_get(expected, "hash")))
		CHECK_STR(json_string_value(v), h.hash, "%s: the hash", name);
	if ((v = json_object_get(expected, "missing")))
		CHECK_STR(json_string_value(v), h.missing, "%s: the missing objects", name);
	CHECK_INT(json_integer_value(json_object_get(expected, "n_missing")), (long)h.n_missing,
		  "%s: how many are missing", name);
	if ((v = json_object_get(expected, "refs"))) {
		CHECK_INT(0, bw_config_refs_of(spec, &r), "%s: references read", name);
		refs = json_array();
		for (size_t i = 0; i < r.n; i++)
			json_array_append_new(
			    refs, json_sprintf("%s/%s%s", bw_config_kind_name(r.v[i].kind),
					       r.v[i].name, r.v[i].optional ? "?" : ""));
		check_json(v, refs, "the references, sorted, merged");
		bw_config_refs_release(&r);
	}
	if ((other = json_string_value(json_object_get(expected, "same_as"))))
		CHECK(hash_of(other) && strcmp(hash_of(other), h.hash) == 0,
		      "%s: the hash of %s (%s)", name, other, h.hash);
	if ((other = json_string_value(json_object_get(expected, "differs_from"))))
		CHECK(hash_of(other) && strcmp(hash_of(other), h.hash) != 0,
		      "%s: not the hash of %s (%s)", name, other, h.hash);
out:
	json_decref(refs);
	json_decref(spec);
	json_decref(objects);
	json_decref(expected);
}

/* The digest reads data and binaryData only, keyed with the uid. */
static void test_digest(void)
{
	json_t *a = json_loads("{\"metadata\":{\"name\":\"c\",\"uid\":\"u1\",\"labels\":{\"x\":"
			       "\"1\"}},\"data\":{\"k\":\"v\"}}",
			       0, NULL);
	json_t *b = json_loads("{\"metadata\":{\"name\":\"c\",\"uid\":\"u1\",\"resourceVersion\":"
			       "\"9\"},\"data\":{\"k\":\"v\"}}",
			       0, NULL);
	json_t *c = json_loads("{\"metadata\":{\"name\":\"c\",\"uid\":\"u2\"},\"data\":{\"k\":"
			       "\"v\"}}",
			       0, NULL);
	char da[BW_CONFIG_DIGEST_LEN + 1], db[sizeof(da)], dc[sizeof(da)];

	CHECK_INT(0, bw_config_digest(a, da), "digest a");
	CHECK_INT(0, bw_config_digest(b, db), "digest b");
	CHECK_INT(0, bw_config_digest(c, dc), "digest c");
	CHECK_INT(BW_CONFIG_DIGEST_LEN, (int)strlen(da), "the digest has its length");
	CHECK_STR(da, db, "labels and resourceVersion do not count");
	CHECK(strcmp(da, dc) != 0, "another uid (the object recreated), another digest");
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_enabled(void)
{
	json_t *on = json_loads("{\"configRollout\":\"Enabled\"}", 0, NULL);
	json_t *off = json_loads("{\"configRollout\":\"Disabled\"}", 0, NULL);
	json_t *none = json_object();

	CHECK_INT(1, bw_config_rollout_enabled(on), "Enabled");
	CHECK_INT(0, bw_config_rollout_enabled(off), "Disabled");
	CHECK_INT(1, bw_config_rollout_enabled(none), "absent: Enabled");
	json_decref(on);
	json_decref(off);
	json_decref(none);
}

int main(void)
{
	n_names = list_cases(DATA, names, MAX_CASES);
	for (size_t i = 0; i < n_names; i++)
		if (!strstr(names[i], ".md"))
			run_case(i);
	CHECK(n_names >= 11, "at least 10 config hash cases (%zu)", n_names);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	test_digest();
	test_enabled();
	return check_exit();
}
