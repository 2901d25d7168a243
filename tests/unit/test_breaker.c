/*
 * Conformance cases for the breaker state machine (proxy/breaker.c): each
 * folder under tests/unit/data/breaker/ holds a case.json, run in sorted
 * order. The format is in tests/unit/data/breaker/README.md; in short:
 *
 *   {"description": "...",
 *    "policy": {ENTRY of breakers.json},
 *    "steps": [{"at": MS, "op": "call"|"acquire"|"record"|"advance"|"policy",
 *               ..., "expect": {"state": ..., "decision": ..., ...}}]}
 *   or, for a policy the parser must refuse:
 *   {"policy": {...}, "policyError": "FIELD"}
 *
 * Unknown keys in a step or an expectation fail the case, so a typo in a
 * case cannot make it pass. After the cases, a few properties that no
 * single case shows (a long time window in bounded memory). Runs from the
 * repository root.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "fixtures.h"
#include "error.h"
#include "../../proxy/breaker.h"
#include "../../proxy/policy.h"

#define DATA	    "tests/unit/data/breaker"
#define MAX_CASES   256
#define MAX_PERMITS 64

struct named_permit {
	char id[32];
	struct bw_breaker_permit permit;
};

struct run {
	const char *name;
	int step;
	struct bw_breaker b;
	struct bw_breaker_decision last; /* of the step's last acquire */
	int acquired;			 /* the step acquired */
	int refused;			 /* refusals in the step */
	struct named_permit permits[MAX_PERMITS];
	int npermits;
	int ok; /* no failed check in this case yet */
};

static int key_in(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(key, *allowed) == 0)
			return 1;
	return 0;
}

/* Every key of obj is allowed; CHECKs and says which is not. */
static int only_keys(struct run *r, const json_t *obj, const char *what, const char *const *allowed)
{
	const char *key;
	json_t *v;
	int good = 1;

	json_object_foreach((json_t *)obj, key, v)
	{
		(void)v;
		if (!key_in(key, allowed)) {
			CHECK(0, "%s step %d: %s key \"%s\" is known", r->name, r->step, what, key);
			good = r->ok = 0;
		}
	}
	return good;
}

static int parse_outcome(const char *s, enum bw_breaker_outcome *out)
{
	if (!s)
		return -1;
	if (strcmp(s, "success") == 0)
		*out = BW_OUTCOME_SUCCESS;
	else if (strcmp(s, "failure") == 0)
		*out = BW_OUTCOME_FAILURE;
	else if (strcmp(s, "ignored") == 0)
		*out = BW_OUTCOME_IGNORED;
	else
		return -1;
	return 0;
}

static struct bw_breaker_permit *find_permit(struct run *r, const char *id)
{
	int i;

	for (i = 0; id && i < r->npermits; i++)
		if (strcmp(r->permits[i].id, id) == 0)
			return &r->permits[i].permit;
	return NULL;
}

static void acquire(struct run *r, int64_t at)
{
	bw_breaker_acquire(&r->b, at, &r->last);
	r->acquired = 1;
	r->refused += !r->last.allowed;
}

#define EXPECT_INT(key, actual)                                                           \
	do {                                                                              \
		const json_t *e_ = json_object_get(expect, key);                          \
		if (e_) {                                                                 \
			CHECK(json_is_integer(e_) && json_integer_value(e_) == (actual),  \
			      "%s step %d: %s is %lld", r->name, r->step, key,            \
			      (long long)json_integer_value(e_));                         \
			if (!json_is_integer(e_) || json_integer_value(e_) != (actual)) { \
				printf("    got %lld\n", (long long)(actual));            \
				r->ok = 0;                                                \
			}                                                                 \
		}                                                                         \
	} while (0)

#define EXPECT_STR(key, actual)                                                                 \
	do {                                                                                    \
		const json_t *e_ = json_object_get(expect, key);                                \
		if (e_) {                                                                       \
			int same_ =                                                             \
			    json_is_string(e_) && strcmp(json_string_value(e_), (actual)) == 0; \
			CHECK(same_, "%s step %d: %s is %s", r->name, r->step, key,             \
			      json_is_string(e_) ? json_string_value(e_) : "(not a string)");   \
			if (!same_) {                                                           \
				printf("    got %s\n", (actual));                               \
				r->ok = 0;                                                      \
			}                                                                       \
		}                                                                               \
	} while (0)

static void check_expect(struct run *r, const json_t *expect)
{
	static const char *const keys[] = {"state",
					   "decision",
					   "retryAfterMs",
					   "wouldRefuse",
					   "refused",
					   "reason",
					   "calls",
					   "failures",
					   "slowCalls",
					   "transitions",
					   "consecutiveFailures",
					   NULL};
	const struct bw_breaker *b = &r->b;

	if (!expect)
		return;
	if (!json_is_object(expect)) {
		CHECK(0, "%s step %d: expect is an object", r->name, r->step);
		r->ok = 0;
		return;
	}
	only_keys(r, expect, "expect", keys);
	EXPECT_STR("state", bw_breaker_state_name(bw_breaker_state(b)));
	EXPECT_STR("reason", bw_breaker_reason_name(b->reason));
	EXPECT_INT("calls", (json_int_t)b->window.calls);
	EXPECT_INT("failures", (json_int_t)b->window.failures);
	EXPECT_INT("slowCalls", (json_int_t)b->window.slow);
	EXPECT_INT("transitions", (json_int_t)b->transitions);
	EXPECT_INT("consecutiveFailures", b->consecutive_failures);
	if (json_object_get(expect, "decision") || json_object_get(expect, "retryAfterMs") ||
	    json_object_get(expect, "wouldRefuse") || json_object_get(expect, "refused")) {
		CHECK(r->acquired, "%s step %d: the step acquired (decision expected)", r->name,
		      r->step);
		if (!r->acquired) {
			r->ok = 0;
			return;
		}
	}
	EXPECT_STR("decision", r->last.allowed ? "allow" : "refuse");
	EXPECT_INT("retryAfterMs", r->last.retry_after_ms);
	EXPECT_INT("refused", r->refused);
	if (json_object_get(expect, "wouldRefuse")) {
		int want = json_is_true(json_object_get(expect, "wouldRefuse"));

		CHECK(want == r->last.would_refuse, "%s step %d: wouldRefuse is %s", r->name,
		      r->step, want ? "true" : "false");
		if (want != r->last.would_refuse)
			r->ok = 0;
	}
}

static int load_policy(struct run *r, const json_t *entry, struct bw_breaker_policy *p)
{
	struct bw_error err = {0};
	int rc = bw_policy_parse_entry("case", entry, p, &err);

	CHECK_INT(0, rc, "%s step %d: the policy parses", r->name, r->step);
	if (rc) {
		printf("    %s\n", err.message);
		r->ok = 0;
	}
	return rc;
}

/* One step; returns 0 to go on, -1 when the case cannot continue. */
static int run_step(struct run *r, const json_t *step, int64_t *clock)
{
	static const char *const keys[] = {"at",     "op",	"outcome", "durationMs",
					   "times",  "every",	"id",	   "policy",
					   "expect", "comment", NULL};
	const char *op = json_string_value(json_object_get(step, "op"));
	const json_t *at = json_object_get(step, "at");
	json_int_t times = 1, every = 0, duration = 0, i;
	enum bw_breaker_outcome outcome = BW_OUTCOME_SUCCESS;
	struct bw_breaker_permit *permit;
	struct bw_breaker_policy p;
	struct bw_error err = {0};
	const char *id = json_string_value(json_object_get(step, "id"));
	int64_t t;

	if (!only_keys(r, step, "step", keys))
		return -1;
	CHECK(json_is_integer(at) && json_integer_value(at) >= *clock,
	      "%s step %d: \"at\" is an integer, not before the previous step", r->name, r->step);
	if (!json_is_integer(at) || json_integer_value(at) < *clock || !op)
		return r->ok = 0, -1;
	t = json_integer_value(at);
	if (json_object_get(step, "times"))
		times = json_integer_value(json_object_get(step, "times"));
	if (json_object_get(step, "every"))
		every = json_integer_value(json_object_get(step, "every"));
	if (json_object_get(step, "durationMs"))
		duration = json_integer_value(json_object_get(step, "durationMs"));
	if (json_object_get(step, "outcome") &&
	    parse_outcome(json_string_value(json_object_get(step, "outcome")), &outcome)) {
		CHECK(0, "%s step %d: outcome is success, failure or ignored", r->name, r->step);
		return r->ok = 0, -1;
	}
	r->acquired = r->refused = 0;

	if (strcmp(op, "call") == 0) {
		for (i = 0; i < times; i++) {
			acquire(r, t + i * every);
			if (r->last.allowed)
				bw_breaker_record(&r->b, t + i * every, &r->last.permit, outcome,
						  duration);
		}
		*clock = t + (times - 1) * every;
	} else if (strcmp(op, "acquire") == 0) {
		CHECK(id && !find_permit(r, id) && r->npermits < MAX_PERMITS,
		      "%s step %d: acquire has a new id", r->name, r->step);
		if (!id || find_permit(r, id) || r->npermits >= MAX_PERMITS)
			return r->ok = 0, -1;
		acquire(r, t);
		snprintf(r->permits[r->npermits].id, sizeof(r->permits[0].id), "%s", id);
		r->permits[r->npermits++].permit = r->last.permit;
		*clock = t;
	} else if (strcmp(op, "record") == 0) {
		permit = find_permit(r, id);
		CHECK(permit != NULL, "%s step %d: record names an acquired id", r->name, r->step);
		if (!permit)
			return r->ok = 0, -1;
		bw_breaker_record(&r->b, t, permit, outcome, duration);
		*clock = t;
	} else if (strcmp(op, "advance") == 0) {
		bw_breaker_advance(&r->b, t);
		*clock = t;
	} else if (strcmp(op, "policy") == 0) {
		if (load_policy(r, json_object_get(step, "policy"), &p))
			return -1;
		CHECK_INT(0, bw_breaker_set_policy(&r->b, &p, t, &err) < 0,
			  "%s step %d: set_policy", r->name, r->step);
		*clock = t;
	} else {
		CHECK(0, "%s step %d: op \"%s\" is known", r->name, r->step, op);
		return r->ok = 0, -1;
	}
	check_expect(r, json_object_get(step, "expect"));
	return 0;
}

static void run_case(const char *name)
{
	static const char *const keys[] = {"description", "policy", "steps", "policyError", NULL};
	char dir[512];
	struct run r = {.name = name, .ok = 1};
	struct bw_breaker_policy p;
	struct bw_error err = {0};
	json_t *c, *step, *perr;
	int64_t clock = 0;
	size_t i;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	c = load(dir, "case.json");
	CHECK(c != NULL, "%s: case.json is there", name);
	if (!c)
		return;
	only_keys(&r, c, "case", keys);
	perr = json_object_get(c, "policyError");
	if (perr) {
		char want[128];

		rc = bw_policy_parse_entry("case", json_object_get(c, "policy"), &p, &err);
		snprintf(want, sizeof(want), "breakers.case.%s:", json_string_value(perr));
		CHECK(rc == BW_EINVAL && strncmp(err.message, want, strlen(want)) == 0,
		      "%s: the policy is refused naming %s", name, json_string_value(perr));
		if (rc != BW_EINVAL || strncmp(err.message, want, strlen(want)) != 0)
			printf("    rc %d: %s\n", rc, err.message);
		json_decref(c);
		return;
	}
	if (load_policy(&r, json_object_get(c, "policy"), &p)) {
		json_decref(c);
		return;
	}
	rc = bw_breaker_init(&r.b, &p, 0, &err);
	CHECK_INT(0, rc, "%s: init", name);
	CHECK(json_array_size(json_object_get(c, "steps")) > 0, "%s: has steps", name);
	json_array_foreach(json_object_get(c, "steps"), i, step)
	{
		r.step = (int)i;
		if (run_step(&r, step, &clock))
			break;
	}
	CHECK(r.ok, "%s: every step as expected (%s)", name,
	      json_string_value(json_object_get(c, "description")));
	bw_breaker_release(&r.b);
	json_decref(c);
}

/* A Time window of 100000 seconds with a call every second for a day and a
 * half holds at most `size` buckets and forgets what is older. */
static void test_long_time_window(void)
{
	struct bw_breaker_policy p;
	struct bw_breaker_decision d;
	struct bw_breaker b;
	int64_t t;

	bw_policy_defaults(&p);
	p.window_type = BW_WINDOW_TIME;
	p.window_size = 100000;
	p.minimum_calls = 100000;
	p.failure_threshold = 1000;
	CHECK_INT(0, bw_breaker_init(&b, &p, 0, NULL), "long window: init");
	for (t = 0; t < 130000; t++) {
		bw_breaker_acquire(&b, t * 1000, &d);
		bw_breaker_record(&b, t * 1000, &d.permit, BW_OUTCOME_SUCCESS, 1);
	}
	CHECK_INT(100000, b.window.calls, "long window: holds the last 100000 seconds");
	CHECK(b.window.cap <= 100000, "long window: at most size buckets (%d)", b.window.cap);
	bw_breaker_advance(&b, 400000 * 1000LL);
	CHECK_INT(0, b.window.calls, "long window: empty once its time is past");
	bw_breaker_release(&b);
}

/* The clock going back is read as the last clock: an OPEN circuit does not
 * open longer, and nothing is counted in the past. */
static void test_clock_backwards(void)
{
	struct bw_breaker_policy p;
	struct bw_breaker_decision d;
	struct bw_breaker b;

	bw_policy_defaults(&p);
	p.failure_threshold = 1;
	p.open_seconds = 10;
	CHECK_INT(0, bw_breaker_init(&b, &p, 5000, NULL), "clock: init");
	bw_breaker_acquire(&b, 5000, &d);
	bw_breaker_record(&b, 5000, &d.permit, BW_OUTCOME_FAILURE, 1);
	CHECK_STR("OPEN", bw_breaker_state_name(bw_breaker_state(&b)), "clock: open");
	bw_breaker_acquire(&b, 1000, &d);
	CHECK_INT(10000, d.retry_after_ms, "clock: an earlier clock reads as the last one");
	bw_breaker_acquire(&b, 15000, &d);
	CHECK(d.allowed && d.permit.trial, "clock: HALF_OPEN trial at open time's end");
	bw_breaker_release(&b);
}

int main(void)
{
	char *names[MAX_CASES], path[512];
	size_t n = list_cases(DATA, names, MAX_CASES), i, cases;
	struct stat st;

	for (i = 0, cases = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", DATA, names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* README.md is not a case */
			run_case(names[i]);
			cases++;
		}
		free(names[i]);
	}
	CHECK(cases >= 40, "at least 40 conformance cases (%zu)", cases);
	test_long_time_window();
	test_clock_backwards();
	return check_exit();
}
