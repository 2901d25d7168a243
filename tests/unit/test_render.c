/*
 * Unit tests for model/render.c, data-driven: each folder under
 * tests/unit/data/render/ is one case, run in sorted order.
 *
 *   service.json      the breakwater Service (input)
 *   args.json         optional: {"image": "..."} the image override
 *   deployment.json   the expected Deployment
 *   service-out.json  the expected core/v1 Service
 *   ingress.json      the expected Ingress; absent: no Ingress expected
 *   httproute.json    the expected HTTPRoute; absent: no HTTPRoute expected
 *   status.json       optional: {"selector": "...", "url": "...", "routeURL": "...",
 *                     "lbAddress": "..."}: routeURL is bw_render_route_url() given
 *                     lbAddress (absent: none; routeURL "" means no address)
 *   error.json        instead of the outputs: {"deployment": FIELD, "service": FIELD,
 *                     "ingress": FIELD, "httproute": FIELD, "validate": FIELD}: each
 *                     renderer named must
 *                     refuse with BW_EINVAL and a message starting "FIELD:"
 *
 * On a mismatch the first differing path is printed with both values.
 * Every success case is also checked for properties: the pod template does
 * not change with the generation, replicas or rollout settings; the input is
 * not modified and the output shares nothing with it. Runs from the
 * repository root.
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
#include "render.h"

#define DATA	  "tests/unit/data/render"
#define MAX_CASES 256

/* ---- helpers shared in spirit with test_registry.c ---- */

/* ---- the cases ---- */

static const json_t *template_of(const json_t *deployment)
{
	return json_object_get(json_object_get(deployment, "spec"), "template");
}

/* Edits everything but what the pods run; the pod template must not move. */
static void check_template_stable(const char *name, const json_t *svc, const char *image,
				  const json_t *deployment)
{
	json_t *edited = json_deep_copy(svc), *md, *spec, *rollout, *again = NULL;
	struct bw_error err;
	json_int_t gen, replicas;
	int rc;

	md = json_object_get(edited, "metadata");
	spec = json_object_get(edited, "spec");
	gen = json_integer_value(json_object_get(md, "generation"));
	json_object_set_new(md, "generation", json_integer(gen + 7));
	replicas = json_integer_value(json_object_get(spec, "replicas"));
	json_object_set_new(spec, "replicas", json_integer(replicas >= 500 ? 3 : replicas + 2));
	json_object_set_new(spec, "paused",
			    json_boolean(!json_is_true(json_object_get(spec, "paused"))));
	rollout = json_object_get(spec, "rollout");
	if (!json_is_object(rollout)) {
		rollout = json_object();
		json_object_set_new(spec, "rollout", rollout);
	}
	json_object_set_new(rollout, "progressDeadlineSeconds", json_integer(1234));
	json_object_set_new(rollout, "maxSurge", json_string("100%"));
	json_object_set_new(json_object_get(edited, "metadata"), "resourceVersion",
			    json_string("999"));

	bw_error_clear(&err);
	rc = bw_render_deployment(edited, image, &again, &err);
	CHECK_INT(0, rc, "%s: deployment renders after a generation/replicas/rollout edit", name);
	CHECK(json_equal(template_of(deployment), template_of(again)),
	      "%s: the pod template does not change with generation, replicas or rollout", name);
	CHECK(again &&
		  !json_equal(json_object_get(deployment, "spec"), json_object_get(again, "spec")),
	      "%s: the edit did reach the Deployment spec", name);
	json_decref(again);
	json_decref(edited);
}

/* The rendered objects must not alias the input: clear every array and
 * object inside out, then check svc against its copy. */
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
	json_t *args = load(dir, "args.json"), *status = load(dir, "status.json");
	json_t *want_d = load(dir, "deployment.json"), *want_s = load(dir, "service-out.json");
	json_t *want_i = load(dir, "ingress.json"), *copy = json_deep_copy(svc);
	json_t *want_h = load(dir, "httproute.json"), *h = NULL;
	json_t *d = NULL, *s = NULL, *in = NULL;
	const char *image = json_string_value(json_object_get(args, "image"));
	char buf[BW_RENDER_ROUTE_URL_MAX], what[300];
	struct bw_error err;
	int rc;

	CHECK(want_d && want_s, "%s: has deployment.json and service-out.json", name);

	bw_error_clear(&err);
	rc = bw_render_deployment(svc, image, &d, &err);
	CHECK_INT(0, rc, "%s: bw_render_deployment succeeds", name);
	if (rc)
		printf("    error: %s\n", err.message);
	snprintf(what, sizeof(what), "%s: Deployment as expected", name);
	check_json(want_d, d, what);

	rc = bw_render_service(svc, &s, &err);
	CHECK_INT(0, rc, "%s: bw_render_service succeeds", name);
	snprintf(what, sizeof(what), "%s: Service as expected", name);
	check_json(want_s, s, what);

	rc = bw_render_ingress(svc, &in, &err);
	CHECK_INT(0, rc, "%s: bw_render_ingress succeeds", name);
	snprintf(what, sizeof(what), "%s: Ingress as expected%s", name,
		 want_i ? "" : " (none: no route)");
	check_json(want_i, in, what);

	rc = bw_render_httproute(svc, &h, &err);
	CHECK_INT(0, rc, "%s: bw_render_httproute succeeds", name);
	snprintf(what, sizeof(what), "%s: HTTPRoute as expected%s", name,
		 want_h ? "" : " (none: no route of kind HTTPRoute)");
	check_json(want_h, h, what);
	CHECK(!(in && h), "%s: never both an Ingress and an HTTPRoute", name);

	CHECK_INT(0, bw_render_validate(svc, &err), "%s: bw_render_validate accepts it", name);
	if (status) {
		rc = bw_render_selector(svc, buf, sizeof(buf), &err);
		CHECK_INT(0, rc, "%s: bw_render_selector succeeds", name);
		CHECK_STR(json_string_value(json_object_get(status, "selector")), buf,
			  "%s: status.selector", name);
		rc = bw_render_url(svc, buf, sizeof(buf), &err);
		CHECK_INT(0, rc, "%s: bw_render_url succeeds", name);
		CHECK_STR(json_string_value(json_object_get(status, "url")), buf, "%s: status.url",
			  name);
		if (json_object_get(status, "routeURL")) {
			rc = bw_render_route_url(
			    svc, json_string_value(json_object_get(status, "lbAddress")), buf,
			    sizeof(buf), &err);
			CHECK_INT(0, rc, "%s: bw_render_route_url succeeds", name);
			CHECK_STR(json_string_value(json_object_get(status, "routeURL")), buf,
				  "%s: status.routeURL", name);
		}
	}

	if (d)
		check_template_stable(name, svc, image, d);
	scrub(d);
	scrub(s);
	scrub(in);
	scrub(h);
	CHECK(json_equal(svc, copy),
	      "%s: the input is unchanged and shares nothing with the output", name);

	json_decref(d);
	json_decref(s);
	json_decref(in);
	json_decref(h);
	json_decref(want_h);
	json_decref(copy);
	json_decref(args);
	json_decref(status);
	json_decref(want_d);
	json_decref(want_s);
	json_decref(want_i);
}

static void expect_refusal(const char *name, const char *which, const char *field, int rc,
			   const json_t *out, const struct bw_error *err)
{
	size_t n = strlen(field);

	CHECK_INT(BW_EINVAL, rc, "%s: %s refuses it", name, which);
	CHECK(out == NULL, "%s: %s leaves *out NULL", name, which);
	CHECK(strncmp(err->message, field, n) == 0 && err->message[n] == ':', "%s: %s names %s",
	      name, which, field);
	printf("    # %s\n", err->message);
}

static void run_error(const char *name, json_t *svc, json_t *expect)
{
	const char *field;
	json_t *out = (json_t *)1;
	struct bw_error err;
	char buf[BW_RENDER_URL_MAX];
	int rc;

	if ((field = json_string_value(json_object_get(expect, "deployment")))) {
		bw_error_clear(&err);
		rc = bw_render_deployment(svc, NULL, &out, &err);
		expect_refusal(name, "bw_render_deployment", field, rc, out, &err);
		json_decref(rc ? NULL : out);
	}
	if ((field = json_string_value(json_object_get(expect, "service")))) {
		bw_error_clear(&err);
		rc = bw_render_service(svc, &out, &err);
		expect_refusal(name, "bw_render_service", field, rc, out, &err);
		json_decref(rc ? NULL : out);
	}
	if ((field = json_string_value(json_object_get(expect, "ingress")))) {
		bw_error_clear(&err);
		rc = bw_render_ingress(svc, &out, &err);
		expect_refusal(name, "bw_render_ingress", field, rc, out, &err);
		json_decref(rc ? NULL : out);
	}
	if ((field = json_string_value(json_object_get(expect, "httproute")))) {
		bw_error_clear(&err);
		rc = bw_render_httproute(svc, &out, &err);
		expect_refusal(name, "bw_render_httproute", field, rc, out, &err);
		json_decref(rc ? NULL : out);
	}
	if ((field = json_string_value(json_object_get(expect, "validate")))) {
		bw_error_clear(&err);
		rc = bw_render_validate(svc, &err);
		expect_refusal(name, "bw_render_validate", field, rc, NULL, &err);
		bw_error_clear(&err);
		rc = bw_render_selector(svc, buf, sizeof(buf), &err);
		expect_refusal(name, "bw_render_selector", field, rc, NULL, &err);
	}
}

static void run_case(const char *name)
{
	char dir[512];
	json_t *svc, *expect;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	svc = load(dir, "service.json");
	CHECK(svc != NULL, "%s: has service.json", name);
	if (!svc)
		return;
	expect = load(dir, "error.json");
	if (expect)
		run_error(name, svc, expect);
	else
		run_success(name, dir, svc);
	json_decref(expect);
	json_decref(svc);
}

/* ---- cases that need no fixture ---- */

static void test_arguments(void)
{
	json_t *svc = json_pack("{s:{s:s, s:s, s:s}, s:{s:s}}", "metadata", "name", "orders",
				"namespace", "shop", "uid", "u-1", "spec", "image", "img:1");
	json_t *out = NULL;
	struct bw_error err;
	char small[8];

	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_render_deployment(NULL, NULL, &out, &err), "NULL svc is refused");
	CHECK(out == NULL, "NULL svc: *out stays NULL");
	CHECK_INT(BW_EINVAL, bw_render_service(svc, NULL, &err), "NULL out is refused");
	CHECK_INT(BW_EINVAL, bw_render_ingress(svc, NULL, NULL), "a NULL err is allowed");

	CHECK_INT(BW_ETOOBIG, bw_render_selector(svc, small, sizeof(small), &err),
		  "a small selector buffer is BW_ETOOBIG");
	CHECK_STR("", small, "a small buffer is left empty");
	CHECK_INT(BW_ETOOBIG, bw_render_url(svc, small, sizeof(small), &err),
		  "a small url buffer is BW_ETOOBIG");

	/* the image override wins but spec.image stays required */
	CHECK_INT(0, bw_render_deployment(svc, "", &out, &err),
		  "an empty override means spec.image");
	CHECK_STR(
	    "img:1",
	    json_string_value(json_object_get(
		json_array_get(
		    json_object_get(
			json_object_get(json_object_get(json_object_get(out, "spec"), "template"),
					"spec"),
			"containers"),
		    0),
		"image")),
	    "an empty override renders spec.image");
	json_decref(out);
	json_object_del(json_object_get(svc, "spec"), "image");
	CHECK_INT(BW_EINVAL, bw_render_deployment(svc, "img:2", &out, &err),
		  "an override does not excuse a missing spec.image");
	CHECK_STR("spec.image: required", err.message, "the message names spec.image");
	json_decref(svc);
}

int main(void)
{
	char *names[MAX_CASES];
	size_t n, i, errors = 0;
	char dir[512];

	n = list_cases(DATA, names, MAX_CASES);
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", DATA, names[i]);
		errors += exists(dir, "error.json");
		run_case(names[i]);
		free(names[i]);
	}
	CHECK(n - errors >= 12, "at least 12 render cases (%zu)", n - errors);
	CHECK(errors >= 6, "at least 6 error cases (%zu)", errors);
	test_arguments();
	return check_exit();
}
