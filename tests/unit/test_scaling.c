/*
 * Unit tests for model/scaling.c, data-driven: each folder under
 * tests/unit/data/scaling/ is one case, run in sorted order.
 *
 *   service.json  the breakwater Service (input)
 *   hpa.json      the expected HorizontalPodAutoscaler; absent: none expected
 *   pdb.json      the expected PodDisruptionBudget; absent: none expected
 *   error.json    instead of the outputs: {"field": FIELD}: bw_scaling_hpa,
 *                 bw_scaling_pdb and bw_render_validate must each refuse with
 *                 BW_EINVAL and a message starting "FIELD:"
 *
 * Every success case also checks that the input is unchanged and shares
 * nothing with the outputs. Runs from the repository root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "fixtures.h"
#include "error.h"
#include "render.h"
#include "scaling.h"

#define DATA	  "tests/unit/data/scaling"
#define MAX_CASES 128

/* Clears every array and object inside out: an output that aliased the
 * input would then change it. */
static void scrub(json_t *v)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child)
		{
			scrub(child);
		}
		json_object_clear(v);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
		{
			scrub(child);
		}
		json_array_clear(v);
	}
}

static void run_success(const char *name, const char *dir, json_t *svc)
{
	json_t *want_h = load(dir, "hpa.json"), *want_p = load(dir, "pdb.json");
	json_t *copy = json_deep_copy(svc), *h = (json_t *)1, *p = (json_t *)1;
	struct bw_error err;
	char what[300];
	int rc;

	bw_error_clear(&err);
	rc = bw_scaling_hpa(svc, &h, &err);
	CHECK_INT(0, rc, "%s: bw_scaling_hpa succeeds", name);
	if (rc)
		printf("    error: %s\n", err.message);
	snprintf(what, sizeof(what), "%s: HPA as expected%s", name, want_h ? "" : " (none)");
	check_json(want_h, h, what);

	rc = bw_scaling_pdb(svc, &p, &err);
	CHECK_INT(0, rc, "%s: bw_scaling_pdb succeeds", name);
	snprintf(what, sizeof(what), "%s: PDB as expected%s", name, want_p ? "" : " (none)");
	check_json(want_p, p, what);

	CHECK_INT(0, bw_render_validate(svc, &err), "%s: bw_render_validate accepts it", name);
	if (h) {
		const json_t *ref = json_object_get(json_object_get(h, "spec"), "scaleTargetRef");

		CHECK_STR("Service", json_string_value(json_object_get(ref, "kind")),
			  "%s: the HPA scales the breakwater Service, not its Deployment", name);
	}
	scrub(h);
	scrub(p);
	CHECK(json_equal(svc, copy), "%s: the input is unchanged and shares nothing", name);
	json_decref(h);
	json_decref(p);
	json_decref(copy);
	json_decref(want_h);
	json_decref(want_p);
}

static void expect_refusal(const char *name, const char *which, const char *field, int rc,
			   const struct bw_error *err)
{
	size_t n = strlen(field);

	CHECK_INT(BW_EINVAL, rc, "%s: %s refuses it", name, which);
	CHECK(strncmp(err->message, field, n) == 0 && err->message[n] == ':', "%s: %s names %s",
	      name, which, field);
	printf("    # %s\n", err->message);
}

static void run_error(const char *name, json_t *svc, const char *field)
{
	json_t *out = (json_t *)1;
	struct bw_error err;
	int rc;

	bw_error_clear(&err);
	rc = bw_scaling_hpa(svc, &out, &err);
	expect_refusal(name, "bw_scaling_hpa", field, rc, &err);
	CHECK(out == NULL, "%s: bw_scaling_hpa leaves *out NULL", name);
	out = (json_t *)1;
	bw_error_clear(&err);
	rc = bw_scaling_pdb(svc, &out, &err);
	expect_refusal(name, "bw_scaling_pdb", field, rc, &err);
	CHECK(out == NULL, "%s: bw_scaling_pdb leaves *out NULL", name);
	bw_error_clear(&err);
	rc = bw_render_validate(svc, &err);
	expect_refusal(name, "bw_render_validate", field, rc, &err);
}

static void test_arguments(void)
{
	json_t *svc =
	    json_pack("{s:{s:s, s:s}, s:{s:s, s:{s:i}}}", "metadata", "name", "orders", "namespace",
		      "shop", "spec", "image", "img:1", "disruptionBudget", "minAvailable", 1);
	json_t *out = NULL;
	struct bw_error err;

	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_scaling_hpa(NULL, &out, &err), "NULL svc is refused");
	CHECK_INT(BW_EINVAL, bw_scaling_pdb(svc, NULL, &err), "NULL out is refused");
	CHECK_INT(BW_EINVAL, bw_scaling_pdb(svc, &out, &err), "no uid: refused");
	CHECK_STR("metadata.uid: required", err.message, "the message names metadata.uid");
	CHECK_INT(0, bw_scaling_check(json_object_get(svc, "spec"), &err),
		  "bw_scaling_check takes the spec alone");
	json_decref(svc);
}

int main(void)
{
	char *names[MAX_CASES], dir[512];
	size_t n, i, errors = 0;

	n = list_cases(DATA, names, MAX_CASES);
	for (i = 0; i < n; i++) {
		json_t *svc, *expect;

		snprintf(dir, sizeof(dir), "%s/%s", DATA, names[i]);
		svc = load(dir, "service.json");
		expect = load(dir, "error.json");
		CHECK(svc != NULL, "%s: has service.json", names[i]);
		if (svc && expect) {
			errors++;
			run_error(names[i], svc,
				  json_string_value(json_object_get(expect, "field")));
		} else if (svc) {
			run_success(names[i], dir, svc);
		}
		json_decref(expect);
		json_decref(svc);
		free(names[i]);
	}
	CHECK(n - errors >= 8, "at least 8 scaling cases (%zu)", n - errors);
	CHECK(errors >= 12, "at least 12 error cases (%zu)", errors);
	test_arguments();
	return check_exit();
}
