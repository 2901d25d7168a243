/*
 * Unit tests for operator/rollout.c, data-driven: each folder under
 * tests/unit/data/rollout/ is one reconcile of one Service (the format is in
 * tests/unit/data/rollout/README.md): its inputs (service.json,
 * deployment.json, context.json) and what the decisions must say
 * (expected.json), or, for a case where the operator restarted, which other
 * case it must decide exactly as (sameAs).
 *
 * Every case is also checked for properties: deciding twice gives the same;
 * deciding again from the status it wrote (an operator restarted right after
 * the write) writes the same status and records no once-only event again.
 * Runs from the repository root.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "fixtures.h"
#include "../../operator/operator.h"
#include "revision.h"

#define DATA	  "tests/unit/data/rollout"
#define MAX_CASES 256
#define MAX_PODS  64
#define NOW	  "2026-11-30T10:00:00Z"

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static long num(const json_t *obj, const char *key)
{
	return (long)json_integer_value(json_object_get(obj, key));
}

/* The fixture's RFC 3339 UTC text, with its seconds (libc's calendar). */
static struct bw_rollout_time time_of(const char *text)
{
	struct bw_rollout_time t = {.text = text, .secs = -1};
	struct tm tm = {0};

	if (text && sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t.secs = (long long)timegm(&tm);
	}
	return t;
}

/* Everything a case feeds the decisions. */
struct inputs {
	struct bw_rollout_service svc;
	struct bw_rollout_deployment d;
	int have_d;
	struct bw_rollout_peers peers;
	struct bw_repair_input repair;
	const char *injected[MAX_PODS];
	/* A case that names no revision reads each image as its own template
	 * (the revisions are the images) and leaves the revision fields out of
	 * the status it expects; any other is in revision mode. */
	int legacy;
	char update_revision[BW_REVISION_NAME_MAX];
	/* context.json's revisions, for the history plan; have_history: given */
	struct bw_revision_entry history[MAX_PODS];
	size_t n_history;
	int have_history;
	long history_limit;
};

static const char *ready_reason(const json_t *status)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
	{
		if (str(c, "type") && strcmp(str(c, "type"), "Ready") == 0)
			return str(c, "reason");
	}
	return NULL;
}

/* The status fields the decisions read; status may be the case's or one the
 * decisions wrote (the same keys). */
static void read_status(struct inputs *in, const json_t *status)
{
	in->svc.status_image = str(status, "image");
	in->svc.last_good = str(status, "lastGoodImage");
	in->svc.failed = str(status, "failedImage");
	in->svc.status_revision =
	    in->legacy ? in->svc.status_image : str(status, "currentRevision");
	in->svc.failed_revision = in->legacy ? in->svc.failed : str(status, "failedRevision");
	in->svc.ready_reason = ready_reason(status);
	in->repair.status_restarted_at = time_of(str(status, "podsRestartedAt"));
	in->repair.status_restarts = json_integer_value(json_object_get(status, "podsRestarts"));
}

static int read_inputs(const char *name, const json_t *service, const json_t *deployment,
		       const json_t *context, struct inputs *in)
{
	const json_t *spec = json_object_get(service, "spec");
	const json_t *rollout = json_object_get(spec, "rollout"), *mu, *pods, *p;
	size_t i;

	memset(in, 0, sizeof(*in));
	{
		const json_t *st = json_object_get(service, "status");

		in->legacy = !json_object_get(st, "currentRevision") &&
			     !json_object_get(st, "updateRevision") &&
			     !json_object_get(st, "failedRevision") &&
			     !json_object_get(deployment, "revision") &&
			     !json_object_get(context, "revisions");
	}
	if (!in->legacy) {
		CHECK(bw_revision_name(str(json_object_get(service, "metadata"), "name"), spec,
				       in->update_revision, sizeof(in->update_revision)) == 0,
		      "%s: the spec's revision has a name", name);
		in->svc.revision = in->update_revision;
	} else {
		in->svc.revision = str(spec, "image");
	}
	in->svc.generation = num(json_object_get(service, "metadata"), "generation");
	in->svc.image = str(spec, "image");
	in->svc.replicas = json_object_get(spec, "replicas") ? num(spec, "replicas") : 1;
	in->svc.paused = json_is_true(json_object_get(spec, "paused"));
	in->svc.progress_deadline_s = num(rollout, "progressDeadlineSeconds");
	in->svc.auto_rollback = !json_is_false(json_object_get(rollout, "autoRollback"));
	mu = json_object_get(rollout, "maxUnavailable");
	if (json_is_integer(mu))
		in->svc.max_unavailable.value = (long)json_integer_value(mu);
	else if (json_string_value(mu))
		in->svc.max_unavailable =
		    (struct bw_rollout_amount){atol(json_string_value(mu)), 1};
	in->svc.route_prefix = str(json_object_get(spec, "route"), "pathPrefix");
	in->svc.route_host = str(json_object_get(spec, "route"), "host");
	read_status(in, json_object_get(service, "status"));

	if (deployment) {
		in->have_d = 1;
		in->d = (struct bw_rollout_deployment){
		    .generation = num(deployment, "generation"),
		    .observed_generation = num(deployment, "observedGeneration"),
		    .spec_replicas = num(deployment, "specReplicas"),
		    .replicas = num(deployment, "replicas"),
		    .updated = num(deployment, "updatedReplicas"),
		    .ready = num(deployment, "readyReplicas"),
		    .available = num(deployment, "availableReplicas"),
		    .image = str(deployment, "image"),
		    .progressing =
			str(deployment, "progressing") ? str(deployment, "progressing") : "",
		    .restarted_at = time_of(str(deployment, "restartedAt")),
		    .revision = in->legacy ? str(deployment, "image") : str(deployment, "revision"),
		};
	}
	pods = json_object_get(context, "revisions");
	in->have_history = json_is_array(pods);
	in->history_limit =
	    json_object_get(spec, "revisionHistoryLimit") ? num(spec, "revisionHistoryLimit") : -1;
	CHECK(json_array_size(pods) <= MAX_PODS, "%s: at most %d revisions", name, MAX_PODS);
	json_array_foreach(pods, i, p)
	{
		if (i < MAX_PODS)
			in->history[in->n_history++] =
			    (struct bw_revision_entry){str(p, "name"), num(p, "revision")};
	}

	in->peers.route_holder = str(context, "routeHolder") ? str(context, "routeHolder") : "";
	in->peers.missing = str(context, "missing") ? str(context, "missing") : "";
	in->peers.dependencies = (size_t)num(context, "dependencies");
	pods = json_object_get(context, "pods");
	CHECK(json_array_size(pods) <= MAX_PODS, "%s: at most %d pods", name, MAX_PODS);
	json_array_foreach(pods, i, p)
	{
		if (i < MAX_PODS)
			in->injected[i] = json_string_value(p);
	}
	in->repair.injected = in->injected;
	in->repair.n_pods = json_array_size(pods) < MAX_PODS ? json_array_size(pods) : MAX_PODS;
	in->repair.expected = str(context, "expectedInjection");
	in->repair.repair_pods = json_is_true(json_object_get(context, "repairPods"));
	in->repair.now = time_of(str(context, "now") ? str(context, "now") : NOW);
	return 1;
}

static json_t *events_json(const struct bw_rollout_event *e, size_t n, json_t *array)
{
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    array, json_sprintf("%s %s: %s", e[i].type, e[i].reason, e[i].message));
	return array;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
	if (value)
		json_object_set_new(obj, key, json_string(value));
}

/* The decisions, in expected.json's shape. */
static json_t *decisions_json(const struct inputs *in, const struct bw_rollout_decision *r,
			      const struct bw_repair_decision *p)
{
	json_t *out = json_object(), *status, *conds;

	if (r->invalid) {
		json_object_set_new(out, "invalid", json_true());
		json_object_set_new(out, "events",
				    events_json(r->events, r->n_events, json_array()));
		return out;
	}
	set_str(out, "deployImage", r->deploy_image);
	if (!in->legacy)
		set_str(out, "deployRevision", r->deploy_revision);
	if (in->have_history) {
		const char *prune[MAX_PODS];
		struct bw_revision_plan plan;
		json_t *h = json_object(), *names = json_array();

		bw_revision_plan(in->history, in->n_history, r->update_revision,
				 r->current_revision, in->history_limit, prune, &plan);
		if (plan.write_revision)
			json_object_set_new(h, plan.create ? "create" : "renumber",
					    json_pack("{s:s, s:I}", "name", r->update_revision,
						      "revision", (json_int_t)plan.write_revision));
		for (size_t i = 0; i < plan.n_prune; i++)
			json_array_append_new(names, json_string(plan.prune[i]));
		json_object_set_new(h, "prune", names);
		json_object_set_new(out, "history", h);
	}
	set_str(out, "restartedAt", p->restarted_at);
	if (r->withhold_ingress)
		json_object_set_new(out, "withholdIngress", json_true());
	if (p->restart)
		json_object_set_new(out, "restartPods", json_true());
	if (p->requeue_after_ms)
		json_object_set_new(out, "requeueAfterMs", json_integer(p->requeue_after_ms));
	json_object_set_new(
	    out, "events",
	    events_json(p->events, p->n_events, events_json(r->events, r->n_events, json_array())));
	json_object_set_new(out, "eventsAfterApply",
			    events_json(r->done_events, r->n_done_events, json_array()));
	status = bw_rollout_status_json(r, p); /* the status writer's own fields */
	if (in->legacy) {
		json_object_del(status, "currentRevision");
		json_object_del(status, "updateRevision");
		json_object_del(status, "failedRevision");
	}
	conds = json_array();
	for (size_t i = 0; i < r->n_conditions; i++) {
		const struct bw_rollout_condition *c = &r->conditions[i];

		json_array_append_new(
		    conds, json_sprintf("%s %s %s: %s", c->type, c->status, c->reason, c->message));
	}
	json_object_set_new(status, "conditions", conds);
	json_object_set_new(out, "status", status);
	return out;
}

static json_t *decide(const struct inputs *in)
{
	struct bw_rollout_decision *r = malloc(sizeof(*r));
	struct bw_repair_decision p;
	const struct bw_rollout_deployment *d = in->have_d ? &in->d : NULL;
	json_t *out;

	if (!r)
		return NULL;
	bw_rollout_decide(&in->svc, d, &in->peers, r);
	bw_repair_decide(&in->repair, d, &p);
	out = decisions_json(in, r, &p);
	free(r);
	return out;
}

/* The status written, in the Service's shape (the Ready reason is what
 * is read of the conditions). */
static json_t *written_status(const json_t *decision)
{
	const json_t *st = json_object_get(decision, "status");
	json_t *status = json_deep_copy(st);
	const char *ready = json_string_value(json_array_get(json_object_get(st, "conditions"), 0));
	char reason[128] = "";

	/* "Ready STATUS REASON: message" */
	if (ready)
		sscanf(ready, "Ready %*s %127[^:]", reason);
	json_object_set_new(status, "conditions",
			    json_pack("[{s:s, s:s}]", "type", "Ready", "reason", reason));
	return status;
}

/* Deciding again from the status just written, with the cluster as it was:
 * the same status, and no once-only event (a rollout's completion, a
 * rollback, a route conflict) a second time. */
static void check_fixed_point(const char *name, const struct inputs *in, const json_t *got)
{
	json_t *status = written_status(got), *again;
	struct inputs in2 = *in;
	const json_t *e;
	char what[300];
	size_t i;

	in2.repair.injected = in2.injected;
	if (!in2.legacy)
		in2.svc.revision = in2.update_revision;
	read_status(&in2, status);
	again = decide(&in2);
	snprintf(what, sizeof(what), "%s: deciding again from the status written writes the same",
		 name);
	check_json(json_object_get(got, "status"), json_object_get(again, "status"), what);
	CHECK(json_array_size(json_object_get(again, "eventsAfterApply")) == 0,
	      "%s: after the status write, no RolloutCompleted again", name);
	json_array_foreach(json_object_get(again, "events"), i, e)
	{
		const char *s = json_string_value(e);

		CHECK(!strstr(s, " RolledBack: ") && !strstr(s, " RouteConflict: "),
		      "%s: after the status write, no once-only event again (%.40s)", name, s);
	}
	json_decref(again);
	json_decref(status);
}

/* expected.json of case name, following sameAs; NULL when there is none. */
static json_t *expected_of(const char *name, int depth)
{
	char dir[512];
	json_t *e, *next;
	const char *same;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	e = load(dir, "expected.json");
	same = str(e, "sameAs");
	if (!same)
		return e;
	CHECK(depth < 8 && exists(DATA, same), "%s: sameAs names a case (%s)", name, same);
	next = depth < 8 && exists(DATA, same) ? expected_of(same, depth + 1) : NULL;
	json_decref(e);
	return next;
}

static void run_case(const char *name, size_t *restarts)
{
	char dir[512], what[600];
	json_t *service, *deployment, *context, *expected, *own, *got, *again;
	struct inputs in;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	printf("# case rollout/%s\n", name);
	service = load(dir, "service.json");
	deployment = load(dir, "deployment.json");
	context = load(dir, "context.json");
	own = load(dir, "expected.json");
	CHECK(service && own, "%s: has service.json and expected.json", name);
	if (!service || !own)
		goto out;
	CHECK(json_is_string(json_object_get(own, "why")) || !json_object_get(own, "sameAs"),
	      "%s: a sameAs case says why", name);
	if (json_object_get(own, "sameAs"))
		(*restarts)++;
	expected = expected_of(name, 0);
	read_inputs(name, service, deployment, context, &in);
	got = decide(&in);
	snprintf(what, sizeof(what), "%s: decisions as expected%s%s", name,
		 str(own, "sameAs") ? " in " : "", str(own, "sameAs") ? str(own, "sameAs") : "");
	check_json(expected, got, what);
	again = decide(&in);
	CHECK(json_equal(got, again), "%s: deciding twice decides the same", name);
	if (!json_object_get(got, "invalid"))
		check_fixed_point(name, &in, got);
	json_decref(again);
	json_decref(got);
	json_decref(expected);
out:
	json_decref(own);
	json_decref(service);
	json_decref(deployment);
	json_decref(context);
}

/* ---- what needs no fixture ---- */

static void test_wait(void)
{
	CHECK_INT(15, bw_repair_wait_s(0), "back-off: before any restart, 15 s");
	CHECK_INT(15, bw_repair_wait_s(1), "back-off: after the first restart, 15 s");
	CHECK_INT(30, bw_repair_wait_s(2), "back-off: after the second, 30 s");
	CHECK_INT(480, bw_repair_wait_s(6), "back-off: after the sixth, 480 s");
	CHECK_INT(600, bw_repair_wait_s(7), "back-off: capped at 600 s");
	CHECK_INT(600, bw_repair_wait_s(1000000), "back-off: capped for a long run of restarts");
}

/* An ownership conflict or a refused spec: kstatus must read Failed
 * (Stalled True) and kubectl wait --for=condition=Ready must not pass. */
static void test_blocked(void)
{
	static struct bw_rollout_condition c[3];
	size_t n = bw_rollout_blocked("OwnershipConflict",
				      "deployment shop/orders is owned by another", c);

	CHECK_INT(3, (long long)n, "blocked: three conditions");
	CHECK_STR("Ready", c[0].type, "blocked: Ready first");
	CHECK_STR("False", c[0].status, "blocked: Ready False");
	CHECK_STR("OwnershipConflict", c[0].reason, "blocked: Ready's reason");
	CHECK_STR("deployment shop/orders is owned by another", c[0].message,
		  "blocked: Ready's message");
	CHECK_STR("Reconciling", c[1].type, "blocked: Reconciling second");
	CHECK_STR("False", c[1].status,
		  "blocked: Reconciling False (kstatus reads the first true)");
	CHECK_STR("Stalled", c[2].type, "blocked: Stalled third");
	CHECK_STR("True", c[2].status, "blocked: Stalled True");
	CHECK_STR("OwnershipConflict", c[2].reason, "blocked: Stalled's reason");
	CHECK_STR(c[0].message, c[2].message, "blocked: Stalled says what Ready says");
}

int main(void)
{
	char *names[MAX_CASES];
	size_t n, i, restarts = 0;

	n = list_cases(DATA, names, MAX_CASES);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], "README.md") != 0)
			run_case(names[i], &restarts);
		free(names[i]);
	}
	CHECK(n >= 31, "at least 30 rollout cases (%zu)", n - 1);
	CHECK(restarts >= 6, "at least 6 cases of an operator restarted (%zu)", restarts);
	test_wait();
	test_blocked();
	return check_exit();
}
