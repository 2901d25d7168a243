/*
 * Unit tests for operator/ownership.c and model/rules.c, data-driven.
 *
 * tests/unit/data/ownership/CASE/ (one object the controller would write):
 *   case.json    {"kind": "Service", "ownerUid": "...", "decision": "Absent" |
 *                 "Owned" | "Foreign", "message": TEXT (foreign only)}
 *   object.json  the object as the API server returns it; absent: none
 *
 * tests/unit/data/rules/CASE/ (the rules that need other Services):
 *   service.json   the breakwater Service checked
 *   services.json  the Services of the cluster (may include it)
 *   expected.json  {"routeHolder": "ns/name" | null (earlier only, the
 *                   reconciler's question), "routeClaimant": "ns/name" | null
 *                   (any, the webhook's), "missing": [names]}
 *
 * Runs from the repository root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "fixtures.h"
#include "../../operator/ownership.h"
#include "rules.h"

#define MAX_CASES 256

static void ownership_case(const char *name)
{
	char dir[512], why[1024];
	json_t *c, *obj;
	const char *want, *kind, *msg;
	enum bw_ownership got;

	snprintf(dir, sizeof(dir), "tests/unit/data/ownership/%s", name);
	printf("# case ownership/%s\n", name);
	c = load(dir, "case.json");
	CHECK(c != NULL, "%s: has case.json", name);
	if (!c)
		return;
	obj = load(dir, "object.json");
	want = json_string_value(json_object_get(c, "decision"));
	kind = json_string_value(json_object_get(c, "kind"));
	got = bw_ownership_decide(obj, kind, json_string_value(json_object_get(c, "ownerUid")), why,
				  sizeof(why));
	CHECK_STR(want, bw_ownership_name(got), "%s: decision", name);
	msg = json_string_value(json_object_get(c, "message"));
	CHECK_STR(msg ? msg : "", why, "%s: message", name);
	/* a small buffer is cut, never overrun, and still terminated */
	if (got == BW_OWNERSHIP_FOREIGN) {
		char small[16];

		bw_ownership_decide(obj, kind, json_string_value(json_object_get(c, "ownerUid")),
				    small, sizeof(small));
		CHECK_INT(15, strlen(small), "%s: a short buffer holds a cut message", name);
	}
	json_decref(obj);
	json_decref(c);
}

static void check_holder(const char *name, const char *what, const json_t *want,
			 const struct bw_service_view *got)
{
	char buf[600] = "";

	if (got)
		snprintf(buf, sizeof(buf), "%s/%s", got->ns, got->name);
	CHECK_STR(json_string_value(want) ? json_string_value(want) : "", buf, "%s: %s", name,
		  what);
}

static void rules_case(const char *name)
{
	char dir[512];
	json_t *svc, *services, *expected, *missing = json_array();
	const struct bw_service_view **views = NULL;
	struct bw_service_view view = {0};
	size_t n = 0;

	snprintf(dir, sizeof(dir), "tests/unit/data/rules/%s", name);
	printf("# case rules/%s\n", name);
	svc = load(dir, "service.json");
	services = load(dir, "services.json");
	expected = load(dir, "expected.json");
	CHECK(svc && services && expected, "%s: has service.json, services.json, expected.json",
	      name);
	if (svc && services && expected) {
		CHECK(bw_service_view_read(svc, &view) == 0 &&
			  bw_service_views_read(services, &views, &n) == 0,
		      "%s: views read", name);
		check_holder(name, "route holder (earlier only)",
			     json_object_get(expected, "routeHolder"),
			     bw_rules_route_holder(&view, views, n, 1));
		check_holder(name, "route claimant (any)",
			     json_object_get(expected, "routeClaimant"),
			     bw_rules_route_holder(&view, views, n, 0));
		CHECK_INT(0, bw_rules_missing_dependencies(&view, views, n, missing),
			  "%s: missing dependencies listed", name);
		check_json(json_object_get(expected, "missing"), missing,
			   "missing dependencies as expected");
	}
	bw_service_view_release(&view);
	bw_service_views_free(views, n);
	json_decref(missing);
	json_decref(svc);
	json_decref(services);
	json_decref(expected);
}

static void order_properties(void)
{
	json_t *a = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", "a", "name", "x",
			      "creationTimestamp", "2026-11-29T10:00:00Z");
	json_t *b = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", "b", "name", "x",
			      "creationTimestamp", "2026-11-29T10:00:00Z");
	json_t *new = json_pack("{s:{s:s, s:s}}", "metadata", "namespace", "a", "name", "a");
	struct bw_service_view va, vb, vn;

	bw_service_view_read(a, &va);
	bw_service_view_read(b, &vb);
	bw_service_view_read(new, &vn);
#define EARLIER(x, y) bw_rules_earlier(x.created, x.ns, x.name, y.created, y.ns, y.name)
	CHECK(EARLIER(va, vb) && !EARLIER(vb, va),
	      "route order: equal times go to the smaller namespace");
	CHECK(!EARLIER(va, va), "route order: strict (not earlier than itself)");
	CHECK(EARLIER(vb, vn) && !EARLIER(vn, vb),
	      "route order: an object not yet stored comes last");
#undef EARLIER
	CHECK(bw_rules_route_holder(&va, NULL, 0, 1) == NULL, "route holder: no Services, none");
	json_decref(a);
	json_decref(b);
	json_decref(new);
}

static void run_dir(const char *dir, void (*fn)(const char *))
{
	char *names[MAX_CASES];
	size_t n = list_cases(dir, names, MAX_CASES);

	CHECK(n > 0, "%s has cases", dir);
	for (size_t i = 0; i < n; i++) {
		fn(names[i]);
		free(names[i]);
	}
}

int main(void)
{
	run_dir("tests/unit/data/ownership", ownership_case);
	run_dir("tests/unit/data/rules", rules_case);
	order_properties();
	return check_exit();
}
