/*
 * Unit tests for proxy/policy.c, the reader of breakers.json: what
 * model/registry.c writes reads back field for field (the two keep their
 * own copies of the CRD's defaults and ranges; this is where they meet),
 * and whole files are all or nothing with messages naming the field.
 * The per-field cases (defaults, ranges) are conformance cases in
 * tests/unit/data/breaker/ (test_breaker.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "error.h"
#include "registry.h"
#include "../../proxy/policy.h"

static json_t *breaker(const char *name, const char *spec_json, const char *created)
{
	json_t *spec = json_loads(spec_json, 0, NULL);

	return json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:s}, s:o}", "apiVersion",
			 "breakwater.io/v1alpha1", "kind", "Breaker", "metadata", "name", name,
			 "namespace", "shop", "generation", 3, "creationTimestamp", created, "spec",
			 spec);
}

/* The ConfigMap's breakers.json for these Breakers, as the operator builds it. */
static char *registry_text(json_t *breakers)
{
	json_t *cm = NULL;
	struct bw_error err = {0};
	char *text = NULL;

	if (bw_registry_build("shop", NULL, breakers, NULL, &cm, &err) == 0)
		text = strdup(json_string_value(
		    json_object_get(json_object_get(cm, "data"), BW_REGISTRY_BREAKERS_KEY)));
	else
		printf("    %s\n", err.message);
	json_decref(cm);
	return text;
}

static void test_registry_round_trip(void)
{
	json_t *list = json_array();
	struct bw_policy_set set;
	struct bw_error err = {0};
	const struct bw_breaker_policy *p;
	char *text;
	int rc;

	json_array_append_new(list, breaker("payments-breaker", "{\"target\": \"payments\"}",
					    "2026-01-01T00:00:00Z"));
	json_array_append_new(
	    list, breaker("users",
			  "{\"target\": \"users\", \"failureThreshold\": 7, "
			  "\"failureRateThreshold\": 30, \"minimumCalls\": 8, "
			  "\"slidingWindow\": {\"type\": \"Time\", \"size\": 30}, "
			  "\"slowCall\": {\"durationMs\": 250, \"rateThreshold\": 60}, "
			  "\"openSeconds\": 900, \"backoffMultiplier\": 3, \"halfOpenCalls\": 4, "
			  "\"mode\": \"MetricsOnly\"}",
			  "2026-01-01T00:00:00Z"));
	text = registry_text(list);
	CHECK(text != NULL, "round trip: the operator builds breakers.json");
	rc = bw_policy_parse(text ? text : "", text ? strlen(text) : 0, &set, &err);
	CHECK_INT(0, rc, "round trip: it parses (%s)", err.message);
	CHECK_STR("shop", set.namespace, "round trip: namespace");
	CHECK_INT(2, set.n, "round trip: two policies");

	p = bw_policy_find_target(&set, "payments");
	CHECK(p != NULL, "round trip: payments found by target");
	if (p) {
		struct bw_breaker_policy d;

		bw_policy_defaults(&d);
		snprintf(d.target, sizeof(d.target), "payments");
		CHECK_STR("payments-breaker", p->name, "round trip: the name is the Breaker's");
		CHECK_INT(3, p->generation, "round trip: generation");
		CHECK(bw_policy_same_behaviour(p, &d), "round trip: every default as the CRD's");
	}
	p = bw_policy_find_target(&set, "users");
	CHECK(p != NULL, "round trip: users found");
	if (p) {
		CHECK_INT(7, p->failure_threshold, "users: failureThreshold");
		CHECK_INT(30, p->failure_rate_threshold, "users: failureRateThreshold");
		CHECK_INT(8, p->minimum_calls, "users: minimumCalls");
		CHECK_INT(BW_WINDOW_TIME, p->window_type, "users: slidingWindow.type");
		CHECK_INT(30, p->window_size, "users: slidingWindow.size");
		CHECK_INT(250, p->slow_call_duration_ms, "users: slowCall.durationMs");
		CHECK_INT(60, p->slow_call_rate_threshold, "users: slowCall.rateThreshold");
		CHECK_INT(900, p->open_seconds, "users: openSeconds");
		CHECK_INT(900, p->max_open_seconds, "users: maxOpenSeconds follows openSeconds");
		CHECK_INT(3, p->backoff_multiplier, "users: backoffMultiplier");
		CHECK_INT(4, p->half_open_calls, "users: halfOpenCalls");
		CHECK_INT(BW_MODE_METRICS_ONLY, p->mode, "users: mode");
	}
	CHECK(bw_policy_find_target(&set, "orders") == NULL, "round trip: no orders policy");
	bw_policy_set_release(&set);
	CHECK(set.n == 0 && set.items == NULL, "release empties the set");
	free(text);
	json_decref(list);
}

static void expect_error(const char *text, int code, const char *prefix)
{
	struct bw_policy_set set;
	struct bw_error err = {0};
	int rc = bw_policy_parse(text, strlen(text), &set, &err);

	CHECK(rc == code && strncmp(err.message, prefix, strlen(prefix)) == 0,
	      "refused: %.60s -> %s", text, prefix);
	if (rc != code || strncmp(err.message, prefix, strlen(prefix)) != 0)
		printf("    rc %d: %s\n", rc, err.message);
	CHECK(set.n == 0 && set.items == NULL, "refused: the set is empty");
}

static void test_file_errors(void)
{
	char *big;

	expect_error("{\"namespace\": \"shop\", \"breakers\": [", BW_EPARSE,
		     "breakers.json: line 1");
	expect_error("[1, 2]", BW_EINVAL, "breakers.json: must be an object");
	expect_error("{\"breakers\": []}", BW_EINVAL, "breakers: must be an object");
	expect_error("{\"namespace\": 5}", BW_EINVAL, "namespace:");
	expect_error("{\"breakers\": {\"a\": {\"target\": \"x\"}, \"b\": {\"target\": \"x\"}}}",
		     BW_EINVAL, "breakers.b.target: \"x\" is also the target of breakers.a");
	/* one bad entry refuses the whole file, even after good ones */
	expect_error("{\"breakers\": {\"a\": {\"target\": \"x\"}, \"b\": {\"target\": \"y\", "
		     "\"mode\": \"On\"}}}",
		     BW_EINVAL, "breakers.b.mode: unknown value \"On\"");
	expect_error("{\"breakers\": {\"a\": 5}}", BW_EINVAL, "breakers.a: must be an object");
	expect_error("{\"breakers\": {\"a\": {\"target\": \"x\", \"slidingWindow\": {\"size\": "
		     "\"10\"}}}}",
		     BW_EINVAL, "breakers.a.slidingWindow.size: must be an integer, got a string");
	expect_error("{\"breakers\": {\"a\": {\"target\": \"x\", \"x\": 1, \"x\": 2}}}", BW_EPARSE,
		     "breakers.json: line 1");

	big = malloc(BW_POLICY_MAX_BYTES + 2);
	if (big) {
		memset(big, ' ', BW_POLICY_MAX_BYTES + 1);
		big[BW_POLICY_MAX_BYTES + 1] = '\0';
		expect_error(big, BW_ETOOBIG, "breakers.json:");
		free(big);
	}
}

static void test_empty_and_unknown(void)
{
	struct bw_policy_set set;
	struct bw_error err = {0};
	const char *text = "{\"namespace\": \"shop\", \"breakers\": {}, \"future\": true}";
	const char *t2 = "{\"breakers\": {\"a\": {\"target\": \"x\", \"newField\": {\"y\": 1}}}}";

	CHECK_INT(0, bw_policy_parse(text, strlen(text), &set, &err), "empty map parses");
	CHECK_INT(0, set.n, "empty map: no policies");
	bw_policy_set_release(&set);
	CHECK_INT(0, bw_policy_parse(t2, strlen(t2), &set, &err), "unknown keys are ignored (%s)",
		  err.message);
	CHECK_INT(1, set.n, "unknown keys: the policy is there");
	bw_policy_set_release(&set);
}

static void test_same_behaviour(void)
{
	struct bw_breaker_policy a, b;

	bw_policy_defaults(&a);
	b = a;
	b.generation = 9;
	snprintf(b.name, sizeof(b.name), "other");
	CHECK(bw_policy_same_behaviour(&a, &b), "same behaviour: name and generation do not count");
	b.half_open_calls = 2;
	CHECK(!bw_policy_same_behaviour(&a, &b), "same behaviour: halfOpenCalls counts");
	b = a;
	b.window_type = BW_WINDOW_TIME;
	CHECK(!bw_policy_same_behaviour(&a, &b), "same behaviour: the window type counts");
	CHECK_STR("MetricsOnly", bw_policy_mode_name(BW_MODE_METRICS_ONLY), "mode names");
	CHECK_STR("Time", bw_policy_window_name(BW_WINDOW_TIME), "window names");
}

int main(void)
{
	test_registry_round_trip();
	test_file_errors();
	test_empty_and_unknown();
	test_same_behaviour();
	return check_exit();
}
