/* The service controller's decisions (rollout.h): pure, no I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rollout.h"
#include "utf8.h"

/* The size of the messages other than the route conflict's. */
#define MSG_MAX 512

static int same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Appends an event to events (n of them); past BW_ROLLOUT_EVENTS (never
 * reached: a reconcile decides at most four) it is dropped. */
__attribute__((format(printf, 5, 6))) static void add_event(struct bw_rollout_event *events,
							    size_t *n, const char *type,
							    const char *reason, const char *fmt,
							    ...)
{
	struct bw_rollout_event *e = &events[*n];
	va_list ap;

	if (*n >= BW_ROLLOUT_EVENTS)
		return;
	(*n)++;
	e->type = type;
	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static void add_condition(struct bw_rollout_decision *out, const char *type, const char *status,
			  const char *reason, const char *message)
{
	struct bw_rollout_condition *c = &out->conditions[out->n_conditions++];

	c->type = type;
	c->status = status;
	c->reason = reason;
	snprintf(c->message, sizeof(c->message), "%s", message);
}

/* maxUnavailable as a number of pods, rounded down as the Deployment controller does. */
static long max_unavailable(const struct bw_rollout_amount *a, long replicas)
{
	return a->percent ? replicas * a->value / 100 : a->value;
}

/* What the conditions need beside the inputs. */
struct view {
	const char *spec_image, *deploy_image, *last_good;
	const char *failed;	     /* the spec's image while a rollback is in effect, else NULL */
	const char *want, *good_rev; /* the update revision; the one to roll back to */
	long replicas, deadline;
	int complete, deadline_exceeded, paused;
};

/* What a message calls the template rolled out (what) or rolled back to
 * (back): the images when they differ, else the revisions (an env-only or
 * probe-only change keeps the image). */
static void name_pair(const struct view *v, const char **what, const char **back)
{
	if (same(v->spec_image, v->last_good) && v->want && v->good_rev) {
		*what = v->want;
		*back = v->good_rev;
	} else {
		*what = v->spec_image;
		*back = v->last_good ? v->last_good : "the previous image";
	}
}

/* Reconciling and Stalled, the abnormal-true conditions of the kstatus
 * conventions (sigs.k8s.io/cli-utils) that GitOps tools judge a resource by,
 * derived from the Ready condition ready: Stalled when the desired state
 * cannot be reached without someone changing something (kstatus: Failed),
 * Reconciling while a rollout or scaling is under way (InProgress); never
 * both, as kstatus reads whichever comes first. Neither with Ready True
 * (Current), or with Ready False Paused (InProgress by Ready alone: the spec
 * is not rolled out, but nothing works towards it). */
static void set_kstatus(struct bw_rollout_decision *out, const struct bw_rollout_condition *ready)
{
	char msg[BW_ROLLOUT_CONDITION_MAX]; /* a copy: add_condition writes into out */
	const char *r = ready->reason;
	int stalled = strcmp(r, "RouteConflict") == 0 || strcmp(r, "RolledBack") == 0 ||
		      strcmp(r, "ProgressDeadlineExceeded") == 0;

	memcpy(msg, ready->message, sizeof(msg));
	if (strcmp(r, "RolloutInProgress") == 0)
		add_condition(out, "Reconciling", "True", r, msg);
	else if (stalled)
		add_condition(out, "Reconciling", "False", "Stalled",
			      "stalled: see the Stalled condition");
	else if (strcmp(r, "Paused") == 0)
		add_condition(out, "Reconciling", "False", r, "rollouts are paused (spec.paused)");
	else
		add_condition(out, "Reconciling", "False", r, "the spec is rolled out");
	if (stalled)
		add_condition(out, "Stalled", "True", r, msg);
	else
		add_condition(out, "Stalled", "False", r, "nothing stands in the way of the spec");
}

static void set_conditions(struct bw_rollout_decision *out, const struct view *v,
			   const struct bw_rollout_service *svc,
			   const struct bw_rollout_deployment *d,
			   const struct bw_rollout_peers *peers)
{
	char msg[MSG_MAX];
	long updated = d ? d->updated : 0, available = d ? d->available : 0;
	int failed = v->failed != NULL;
	const struct bw_rollout_condition *ready;
	const char *what, *back;

	name_pair(v, &what, &back);
	/* Ready */
	if (peers->route_holder && peers->route_holder[0]) {
		char long_msg[BW_ROLLOUT_CONDITION_MAX]; /* pathPrefix: 1024 characters, up to 4
							    bytes each */

		snprintf(long_msg, sizeof(long_msg),
			 "spec.route: pathPrefix %.4096s%s%.253s is the route of Service %s, which "
			 "is older; this Service's Ingress or HTTPRoute is not written until the "
			 "route is free or changed",
			 svc->route_prefix ? svc->route_prefix : "",
			 svc->route_host ? " on host " : "", svc->route_host ? svc->route_host : "",
			 peers->route_holder);
		bw_utf8_repair(long_msg);
		add_condition(out, "Ready", "False", "RouteConflict", long_msg);
	} else if (failed) {
		snprintf(msg, sizeof(msg),
			 "rollout of %s did not complete within %lds and was rolled back to %s; "
			 "change %s to roll out again",
			 what, v->deadline, back,
			 what == v->spec_image ? "spec.image" : "the spec");
		add_condition(out, "Ready", "False", "RolledBack", msg);
	} else if (v->complete) {
		if (v->replicas == 0)
			snprintf(msg, sizeof(msg), "scaled to zero; image %s", v->spec_image);
		else
			snprintf(msg, sizeof(msg), "%ld of %ld replicas run %s and are available",
				 available, v->replicas, v->spec_image);
		add_condition(out, "Ready", "True",
			      v->replicas == 0 ? "ScaledToZero" : "RolloutComplete", msg);
	} else if (v->deadline_exceeded) {
		snprintf(msg, sizeof(msg),
			 "rollout of %s: %ld of %ld replicas available after %lds (%s)",
			 v->deploy_image, available, v->replicas, v->deadline,
			 v->last_good ? "autoRollback is off" : "no earlier image to roll back to");
		add_condition(out, "Ready", "False", "ProgressDeadlineExceeded", msg);
	} else if (v->paused) {
		snprintf(msg, sizeof(msg), "rollouts are paused (spec.paused); %ld of %ld updated",
			 updated, v->replicas);
		add_condition(out, "Ready", "False", "Paused", msg);
	} else {
		snprintf(msg, sizeof(msg),
			 "rolling out %s: %ld of %ld replicas updated, %ld available",
			 v->deploy_image, updated, v->replicas, available);
		add_condition(out, "Ready", "False", "RolloutInProgress", msg);
	}

	ready = &out->conditions[out->n_conditions - 1];

	/* Progressing */
	if (failed)
		add_condition(out, "Progressing", "False", "RolledBack",
			      "rolled back after the progress deadline");
	else if (v->deadline_exceeded)
		add_condition(out, "Progressing", "False", "ProgressDeadlineExceeded",
			      "the rollout exceeded its progress deadline");
	else if (v->paused && !v->complete)
		add_condition(out, "Progressing", "False", "Paused", "rollouts are paused");
	else if (v->complete)
		add_condition(out, "Progressing", "True", "RolloutComplete",
			      "the last rollout completed");
	else
		add_condition(out, "Progressing", "True", "RolloutInProgress",
			      "a rollout is under way");

	/* Available */
	snprintf(msg, sizeof(msg), "%ld of %ld replicas available", available, v->replicas);
	if (d && available >= v->replicas - max_unavailable(&svc->max_unavailable, v->replicas))
		add_condition(out, "Available", "True", "MinimumReplicasAvailable", msg);
	else
		add_condition(out, "Available", "False", "MinimumReplicasUnavailable", msg);

	set_kstatus(out, ready);

	/* DependenciesResolved: advisory, Ready does not wait for it (the pods
	 * run; the missing <NAME>_SERVICE_URL is injected once the Service
	 * exists and the pods restart) */
	if (peers->missing && peers->missing[0]) {
		snprintf(msg, sizeof(msg),
			 "spec.dependsOn: no Service named %.380s in this namespace; their "
			 "<NAME>_SERVICE_URL is not injected until they exist",
			 peers->missing);
		bw_utf8_repair(msg);
		add_condition(out, "DependenciesResolved", "False", "MissingDependency", msg);
	} else {
		snprintf(msg, sizeof(msg), "%zu of %zu dependencies exist", peers->dependencies,
			 peers->dependencies);
		add_condition(out, "DependenciesResolved", "True",
			      peers->dependencies ? "AllFound" : "NoDependencies", msg);
	}

	/* RolledBack, while the rollback is in effect */
	if (failed) {
		snprintf(msg, sizeof(msg), "%s exceeded its progress deadline; running %s", what,
			 back);
		add_condition(out, "RolledBack", "True", "ProgressDeadlineExceeded", msg);
	}
}

void bw_rollout_decide(const struct bw_rollout_service *svc, const struct bw_rollout_deployment *d,
		       const struct bw_rollout_peers *peers, struct bw_rollout_decision *out)
{
	struct view v = {0};
	int rolled_back_now = 0;
	const char *status_image = svc->status_image, *what, *back;
	const char *cur = svc->status_revision, *failed_rev;
	const char *d_rev = d && d->revision && *d->revision ? d->revision : NULL;

	memset(out, 0, sizeof(*out));
	if (!svc->image) {
		out->invalid = 1;
		add_event(out->events, &out->n_events, "Warning", "InvalidSpec",
			  "spec.image is missing");
		return; /* the CRD requires it: nothing to do until it is fixed */
	}
	v.spec_image = svc->image;
	v.want = svc->revision ? svc->revision : svc->image;
	v.replicas = svc->replicas;
	v.paused = svc->paused;
	v.deadline =
	    svc->progress_deadline_s ? svc->progress_deadline_s : BW_ROLLOUT_DEFAULT_DEADLINE;
	/* a rollback is in effect while the spec's template is the one that
	 * failed; any other template ends it */
	failed_rev = same(svc->failed_revision, v.want) ? v.want : NULL;
	v.failed = failed_rev ? v.spec_image : NULL;
	v.last_good = svc->last_good;
	if (cur && !same(cur, v.want)) {
		v.last_good = status_image; /* a rollout replaces the current revision */
		v.good_rev = cur;
	}

	/* A rollout past its deadline, of the template the spec asks for, is
	 * reverted when there is something to revert to: the whole template of
	 * the current revision, whatever the rollout changed. */
	v.deadline_exceeded = d && d->observed_generation >= d->generation && d->progressing &&
			      strcmp(d->progressing, "ProgressDeadlineExceeded") == 0;
	if (!failed_rev && v.deadline_exceeded && same(d_rev, v.want) && v.good_rev &&
	    svc->auto_rollback) {
		failed_rev = v.want;
		v.failed = v.spec_image;
		rolled_back_now = 1;
	}
	out->deploy_revision = failed_rev && v.good_rev ? v.good_rev : v.want;
	v.deploy_image = failed_rev && v.good_rev && v.last_good ? v.last_good : v.spec_image;
	/* A rollback is recorded (status.failedRevision) before it is acted on:
	 * the Deployment goes back only in a reconcile whose cache holds the
	 * record. Acting at once let the next reconcile, woken by the
	 * Deployment's change before our status write reached the cache, roll
	 * the bad template out again. */
	if (rolled_back_now) {
		out->deploy_revision = d_rev;
		v.deploy_image = d->image;
	}
	out->deploy_image = v.deploy_image;

	if (d && !same(d_rev, out->deploy_revision) && !failed_rev && !v.paused) {
		if (!same(d->image, v.deploy_image))
			add_event(out->events, &out->n_events, "Normal", "RolloutStarted",
				  "rolling out %s (was %s)", v.deploy_image,
				  d->image ? d->image : "");
		else
			add_event(out->events, &out->n_events, "Normal", "RolloutStarted",
				  "rolling out revision %s (image %s unchanged)",
				  out->deploy_revision, v.deploy_image);
	}
	if (d && d->spec_replicas != v.replicas) {
		add_event(out->events, &out->n_events, "Normal", "Scaled",
			  "scaled from %ld to %ld replicas", d->spec_replicas, v.replicas);
	}
	if (rolled_back_now) {
		name_pair(&v, &what, &back);
		add_event(out->events, &out->n_events, "Warning", "RolledBack",
			  "rollout of %s exceeded its progress deadline; rolling back to %s", what,
			  back);
	}
	out->withhold_ingress = peers->route_holder && peers->route_holder[0];
	if (out->withhold_ingress && !same(svc->ready_reason, "RouteConflict")) {
		add_event(out->events, &out->n_events, "Warning", "RouteConflict",
			  "spec.route is the route of the older Service %.400s; no Ingress is "
			  "written for this one",
			  peers->route_holder);
	}

	/* The rollout is complete when the Deployment has observed its spec and
	 * every replica runs the template and is available. */
	v.complete = d && d->observed_generation >= d->generation &&
		     same(d_rev, out->deploy_revision) && d->spec_replicas == v.replicas &&
		     d->updated == v.replicas && d->replicas == v.replicas &&
		     d->available == v.replicas;
	if (v.complete && !failed_rev && !same(cur, v.want)) {
		add_event(out->done_events, &out->n_done_events, "Normal", "RolloutCompleted",
			  "rolled out %s to %ld replicas", v.spec_image, v.replicas);
		status_image = v.spec_image;
		cur = v.want;
	}
	if (rolled_back_now)
		v.complete = 0;

	out->observed_generation = svc->generation;
	out->image = status_image;
	out->last_good = v.last_good;
	/* failedImage: the image of the failed template, when the image is
	 * what changed (an env-only rollout that failed leaves it out: the
	 * image runs fine, failedRevision says what failed) */
	out->failed = v.failed && !same(v.spec_image, v.last_good) ? v.failed : NULL;
	out->current_revision = cur;
	out->update_revision = v.want;
	out->failed_revision = failed_rev;
	out->replicas = d ? d->replicas : 0;
	out->updated = d ? d->updated : 0;
	out->ready = d ? d->ready : 0;
	out->available = d ? d->available : 0;
	set_conditions(out, &v, svc, d, peers);
}

size_t bw_rollout_blocked(const char *reason, const char *message,
			  struct bw_rollout_condition out[3])
{
	out[0] = (struct bw_rollout_condition){"Ready", "False", reason, ""};
	out[1] = (struct bw_rollout_condition){"Reconciling", "False", "Stalled", ""};
	out[2] = (struct bw_rollout_condition){"Stalled", "True", reason, ""};
	snprintf(out[0].message, sizeof(out[0].message), "%s", message);
	bw_utf8_repair(out[0].message);
	snprintf(out[1].message, sizeof(out[1].message), "%s",
		 "stalled: see the Stalled condition");
	memcpy(out[2].message, out[0].message, sizeof(out[2].message));
	return 3;
}

long long bw_repair_wait_s(long long n)
{
	long long wait = BW_REPAIR_FIRST_WAIT_S;

	while (--n > 0 && wait < BW_REPAIR_MAX_WAIT_S)
		wait *= 2;
	return wait < BW_REPAIR_MAX_WAIT_S ? wait : BW_REPAIR_MAX_WAIT_S;
}

void bw_repair_decide(const struct bw_repair_input *in, const struct bw_rollout_deployment *d,
		      struct bw_repair_decision *out)
{
	struct bw_rollout_time restarted_at = in->status_restarted_at;

	memset(out, 0, sizeof(*out));
	/* Pods created while the webhook was unreachable lack the injection;
	 * pods injected before a dependency changed carry an older generation. */
	for (size_t i = 0; i < in->n_pods; i++) {
		const char *injected = in->injected[i] ? in->injected[i] : "";

		if (!*injected)
			out->missed++;
		else if (in->expected && strcmp(injected, in->expected) != 0)
			out->outdated++;
		else
			out->configured++;
	}
	out->stale = out->missed + out->outdated;
	out->restarts = out->stale > 0 ? in->status_restarts : 0;
	/* The template's time when it is later: the status of that restart is not
	 * in the cache yet (the Deployment's event brought us here first), or was
	 * never written (a crash in between). Going by the older time would
	 * restart again at once; that restart is one more than status counts, or
	 * the back-off would shrink. */
	if (d && d->restarted_at.text && *d->restarted_at.text &&
	    (!restarted_at.text || strcmp(d->restarted_at.text, restarted_at.text) > 0)) {
		restarted_at = d->restarted_at;
		if (out->stale > 0)
			out->restarts++;
	}
	out->restarted_at = restarted_at.text;
	/* Only once the Deployment has rolled out its template: pods of a rollout
	 * under way are replaced anyway. */
	if (out->stale > 0 && d && d->observed_generation >= d->generation &&
	    d->updated == d->replicas) {
		long long last = restarted_at.text ? restarted_at.secs : -1;
		long long since = in->now.secs - last;
		long long wait = bw_repair_wait_s(out->restarts);

		add_event(out->events, &out->n_events, "Warning", "PodsNotInjected",
			  "%ld pod(s) lack the registry configuration (created while the admission "
			  "webhook was unreachable), %ld carry an outdated one (a dependency "
			  "changed)%s",
			  out->missed, out->outdated,
			  in->repair_pods ? "" : "; restart them, or run with --repair-pods");
		/* Outdated pods alone prove the webhook injects: restart at once. Pods
		 * with no injection may mean it is still away: back off. */
		if (in->repair_pods && out->missed > 0 && last >= 0 && out->restarts > 0 &&
		    since < wait) {
			/* nothing else may wake this Service when the wait ends */
			out->requeue_after_ms = (long)((wait - (since > 0 ? since : 0)) * 1000);
		} else if (in->repair_pods) {
			if (restarted_at.text && same(restarted_at.text, in->now.text)) {
				/* The annotation has one-second resolution: a restart in the
				 * same second as the last would change nothing. Come back. */
				out->requeue_after_ms = 1000;
			} else {
				out->restarted_at = in->now.text;
				out->restart = 1;
				out->restarts++;
				add_event(out->events, &out->n_events, "Normal", "PodsRestarted",
					  "restarting %ld pod(s) to inject the registry",
					  out->stale);
			}
		}
	}
}
