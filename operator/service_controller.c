/*
 * The Service controller: a breakwater Service becomes a Deployment, a
 * ClusterIP Service and (with a route) an Ingress, written with server-side
 * apply; image rollouts are followed to completion or rolled back; status
 * and conditions say where things stand. Level-triggered: everything is
 * derived from the resource, its status and the Deployment as cached, so a
 * restart at any moment converges to the same state.
 *
 * Image bookkeeping (docs/resources.md): when spec.image differs from
 * status.image a rollout is under way and lastGoodImage is the image being
 * replaced; status.image follows once the new image is fully available. A
 * rollout past its progress deadline is reverted to lastGoodImage (with
 * autoRollback) and failedImage remembers why, until spec.image changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"
#include "operator.h"
#include "render.h"

#define MSG_MAX 512

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Server-side apply of body; *out (may be NULL) gets the object as applied. */
static int apply(struct bw_operator_context *ctx, const struct bw_resource *res, const char *ns,
		 const char *name, const json_t *body, json_t **out, struct bw_error *err)
{
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};

	return bw_client_patch(ctx->client, res, ns, name, NULL, BW_PATCH_APPLY, body, &po, out,
			       err);
}

/* maxUnavailable as a number of pods, rounded down as the Deployment controller does. */
static long max_unavailable(const json_t *rollout, long replicas)
{
	const json_t *v = json_object_get(rollout, "maxUnavailable");
	const char *s = json_string_value(v);

	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (s && strchr(s, '%'))
		return replicas * atol(s) / 100;
	return 0;
}

struct rollout_view {
	const char *spec_image, *deploy_image;
	const char *status_image, *last_good, *failed;
	long replicas, generation;
	int complete, deadline_exceeded, paused, rolled_back_now;
};

static void set_conditions(json_t *status, const json_t *old_conditions,
			   const struct rollout_view *v, const struct bw_cached_deployment *d,
			   const json_t *spec)
{
	json_t *conds = json_array();
	char msg[MSG_MAX];
	long updated = d ? d->updated : 0, available = d ? d->available : 0;
	int failed = same(v->failed, v->spec_image);
	long deadline = (long)json_integer_value(
	    json_object_get(json_object_get(spec, "rollout"), "progressDeadlineSeconds"));

	if (!deadline)
		deadline = 600;
	/* Ready */
	if (failed) {
		snprintf(msg, sizeof(msg),
			 "rollout of %s did not complete within %lds and was rolled back to %s; "
			 "change spec.image to roll out again",
			 v->spec_image, deadline,
			 v->last_good ? v->last_good : "the previous image");
		bw_condition_set(conds, old_conditions, "Ready", "False", "RolledBack", msg,
				 v->generation);
	} else if (v->complete) {
		if (v->replicas == 0)
			snprintf(msg, sizeof(msg), "scaled to zero; image %s", v->spec_image);
		else
			snprintf(msg, sizeof(msg), "%ld of %ld replicas run %s and are available",
				 available, v->replicas, v->spec_image);
		bw_condition_set(conds, old_conditions, "Ready", "True",
				 v->replicas == 0 ? "ScaledToZero" : "RolloutComplete", msg,
				 v->generation);
	} else if (v->deadline_exceeded) {
		snprintf(msg, sizeof(msg),
			 "rollout of %s: %ld of %ld replicas available after %lds (%s)",
			 v->deploy_image, available, v->replicas, deadline,
			 v->last_good ? "autoRollback is off" : "no earlier image to roll back to");
		bw_condition_set(conds, old_conditions, "Ready", "False",
				 "ProgressDeadlineExceeded", msg, v->generation);
	} else if (v->paused) {
		snprintf(msg, sizeof(msg), "rollouts are paused (spec.paused); %ld of %ld updated",
			 updated, v->replicas);
		bw_condition_set(conds, old_conditions, "Ready", "False", "Paused", msg,
				 v->generation);
	} else {
		snprintf(msg, sizeof(msg),
			 "rolling out %s: %ld of %ld replicas updated, %ld available",
			 v->deploy_image, updated, v->replicas, available);
		bw_condition_set(conds, old_conditions, "Ready", "False", "RolloutInProgress", msg,
				 v->generation);
	}

	/* Progressing */
	if (failed)
		bw_condition_set(conds, old_conditions, "Progressing", "False", "RolledBack",
				 "rolled back after the progress deadline", v->generation);
	else if (v->deadline_exceeded)
		bw_condition_set(conds, old_conditions, "Progressing", "False",
				 "ProgressDeadlineExceeded",
				 "the rollout exceeded its progress deadline", v->generation);
	else if (v->paused && !v->complete)
		bw_condition_set(conds, old_conditions, "Progressing", "False", "Paused",
				 "rollouts are paused", v->generation);
	else if (v->complete)
		bw_condition_set(conds, old_conditions, "Progressing", "True", "RolloutComplete",
				 "the last rollout completed", v->generation);
	else
		bw_condition_set(conds, old_conditions, "Progressing", "True", "RolloutInProgress",
				 "a rollout is under way", v->generation);

	/* Available */
	if (d && available >=
		     v->replicas - max_unavailable(json_object_get(spec, "rollout"), v->replicas)) {
		snprintf(msg, sizeof(msg), "%ld of %ld replicas available", available, v->replicas);
		bw_condition_set(conds, old_conditions, "Available", "True",
				 "MinimumReplicasAvailable", msg, v->generation);
	} else {
		snprintf(msg, sizeof(msg), "%ld of %ld replicas available", available, v->replicas);
		bw_condition_set(conds, old_conditions, "Available", "False",
				 "MinimumReplicasUnavailable", msg, v->generation);
	}

	/* RolledBack, while the rollback is in effect */
	if (failed) {
		snprintf(msg, sizeof(msg), "%s exceeded its progress deadline; running %s",
			 v->spec_image, v->last_good ? v->last_good : "the previous image");
		bw_condition_set(conds, old_conditions, "RolledBack", "True",
				 "ProgressDeadlineExceeded", msg, v->generation);
	}
	json_object_set_new(status, "conditions", conds);
}

static void event(struct bw_operator_context *ctx, const json_t *svc, const char *type,
		  const char *reason, const char *msg)
{
	const json_t *meta = json_object_get(svc, "metadata");
	struct bw_event_ref ref = {
	    .api_version = "breakwater.io/v1alpha1",
	    .kind = "Service",
	    .namespace = str(meta, "namespace"),
	    .name = str(meta, "name"),
	    .uid = str(meta, "uid"),
	};

	if (ctx->recorder)
		bw_recorder_event(ctx->recorder, &ref, type, reason, "%s", msg);
}

/* Writes the owned objects. */
/* Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(int y, int m, int d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2026-11-26T19:00:00Z"), or -1. */
static long long parse_utc(const char *s)
{
	int y, mo, d, h, mi, sec;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &sec) != 6)
		return -1;
	return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

static void now_utc(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Pods that missed injection are restarted at once the first time; if the
 * new ones miss it too (the webhook is still unreachable), the next restart
 * waits 15 s, then 30 s, doubling up to 10 minutes, so an absent webhook
 * causes no churn and a brief gap (a CA the API server had not yet loaded)
 * is repaired in seconds. status.podsRestarts counts the restarts in a row;
 * it is back to 0 once no pod is stale. */
#define REPAIR_FIRST_WAIT_S 15
#define REPAIR_MAX_WAIT_S   600

/* How long after the n-th restart in a row the next may come. */
static long long repair_wait_s(long long n)
{
	long long wait = REPAIR_FIRST_WAIT_S;

	while (--n > 0 && wait < REPAIR_MAX_WAIT_S)
		wait *= 2;
	return wait < REPAIR_MAX_WAIT_S ? wait : REPAIR_MAX_WAIT_S;
}

/* The owned objects are applied again at least this often even when nothing
 * changed: drift in the ClusterIP Service or the Ingress (not watched for)
 * is put back within it. */
#define RESYNC_S 600

/* SHA-256 of the objects to apply, each serialised with sorted keys. */
static int digest_owned(const json_t *deployment, const json_t *service, const json_t *ingress,
			unsigned char md[BW_APPLIED_DIGEST_LEN])
{
	const json_t *parts[3] = {deployment, service, ingress};
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL);

	for (int i = 0; i < 3 && ok; i++) {
		char *text = parts[i] ? json_dumps(parts[i], JSON_SORT_KEYS | JSON_COMPACT) : NULL;

		ok = (!parts[i] || text) &&
		     EVP_DigestUpdate(h, text ? text : "", text ? strlen(text) : 0) &&
		     EVP_DigestUpdate(h, "", 1);
		free(text);
	}
	ok = ok && EVP_DigestFinal_ex(h, md, NULL);
	EVP_MD_CTX_free(h);
	return ok ? 0 : BW_ENOMEM;
}

/* Applies the Deployment, Service and Ingress (or deletes an Ingress no
 * longer wanted), unless exactly these were applied last time and nothing
 * has changed them since (applied.h). */
static int apply_owned(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		       const struct bw_cached_deployment *d, const char *image,
		       const char *restarted_at, struct bw_error *err)
{
	json_t *deployment = NULL, *service = NULL, *ingress = NULL, *applied = NULL;
	const char *ns =
	    json_string_value(json_object_get(json_object_get(svc, "metadata"), "namespace"));
	const char *name =
	    json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"));
	const void *had_ingress = NULL;
	unsigned char md[BW_APPLIED_DIGEST_LEN];
	int have_digest, ret;

	if ((ret = bw_render_deployment(svc, image, &deployment, err)) != 0 ||
	    (ret = bw_render_service(svc, &service, err)) != 0 ||
	    (ret = bw_render_ingress(svc, &ingress, err)) != 0)
		goto out;
	if (restarted_at) {
		/* as `kubectl rollout restart` does: a template change makes new pods */
		json_t *tmeta = json_object_get(
		    json_object_get(json_object_get(deployment, "spec"), "template"), "metadata");

		if (!json_object_get(tmeta, "annotations"))
			json_object_set_new(tmeta, "annotations", json_object());
		json_object_set_new(json_object_get(tmeta, "annotations"),
				    BW_ANNOTATION_RESTARTED_AT, json_string(restarted_at));
	}
	had_ingress = bw_store_get(ctx->caches.ingresses, ns, name);
	have_digest = digest_owned(deployment, service, ingress, md) == 0;
	if (have_digest && d && !ingress == !had_ingress &&
	    bw_applied_same(ctx->applied, key, md, d->generation, time(NULL), RESYNC_S))
		goto out; /* applied already, and the Deployment's spec untouched since */
	if ((ret = apply(ctx, &bw_res_deployments, ns, name, deployment, &applied, err)) != 0) {
		bw_error_prefix(err, "Deployment %s/%s", ns, name);
		goto out;
	}
	if ((ret = apply(ctx, &bw_res_services, ns, name, service, NULL, err)) != 0) {
		bw_error_prefix(err, "Service %s/%s", ns, name);
		goto out;
	}
	if (ingress) {
		ret = apply(ctx, &bw_res_ingresses, ns, name, ingress, NULL, err);
		if (ret != 0)
			bw_error_prefix(err, "Ingress %s/%s", ns, name);
	} else if (had_ingress) {
		/* the route was removed */
		ret = bw_client_delete(ctx->client, &bw_res_ingresses, ns, name, NULL, err);
		if (ret == BW_ENOTFOUND)
			ret = 0;
	}
	if (ret == 0 && have_digest) /* a failed record only costs an apply next time */
		(void)bw_applied_record(ctx->applied, key, md,
					(long)json_integer_value(json_object_get(
					    json_object_get(applied, "metadata"), "generation")),
					time(NULL));
out:
	bw_store_item_put(had_ingress);
	json_decref(applied);
	json_decref(deployment);
	json_decref(service);
	json_decref(ingress);
	return ret;
}

int bw_reconcile_service(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms)
{
	const struct bw_cached_object *item = bw_store_get_key(ctx->caches.services, key);
	const struct bw_cached_deployment *d = NULL;
	json_t *svc = NULL, *spec, *meta, *old_status, *status = NULL;
	struct rollout_view v = {0};
	struct bw_store_items pods = {0};
	long configured = 0, stale = 0, missed = 0, outdated = 0;
	long long restarts;
	char expected[64];
	int have_expected;
	const char *restarted_at;
	char now[32];
	struct bw_error err = {0};
	const char *ns, *name, *uid;
	char msg[MSG_MAX], buf[BW_RENDER_URL_MAX > BW_RENDER_SELECTOR_MAX ? BW_RENDER_URL_MAX
									  : BW_RENDER_SELECTOR_MAX];
	int ret = 0;

	svc = bw_cached_object_parse(item);
	if (!svc) {
		/* deleted: owner references take the children with it */
		bw_applied_forget(ctx->applied, key);
		goto out;
	}
	meta = json_object_get(svc, "metadata");
	spec = json_object_get(svc, "spec");
	old_status = json_object_get(svc, "status");
	ns = str(meta, "namespace");
	name = str(meta, "name");
	uid = str(meta, "uid");
	if (!ns || !name || json_object_get(meta, "deletionTimestamp"))
		goto out;

	d = bw_store_get(ctx->caches.deployments, ns, name);
	if (d && uid && *d->owner_uid && strcmp(d->owner_uid, uid) != 0) {
		/* a Deployment of the same name that another object controls */
		snprintf(msg, sizeof(msg), "Deployment %s exists and is not owned by this Service",
			 name);
		event(ctx, svc, "Warning", "OwnershipConflict", msg);
		ret = BW_ECONFLICT;
		goto out;
	}

	v.generation = (long)json_integer_value(json_object_get(meta, "generation"));
	v.spec_image = str(spec, "image");
	v.status_image = str(old_status, "image");
	v.last_good = str(old_status, "lastGoodImage");
	v.failed = str(old_status, "failedImage");
	v.replicas = json_object_get(spec, "replicas")
			 ? (long)json_integer_value(json_object_get(spec, "replicas"))
			 : 1;
	v.paused = json_is_true(json_object_get(spec, "paused"));
	if (!v.spec_image) {
		event(ctx, svc, "Warning", "InvalidSpec", "spec.image is missing");
		goto out; /* the CRD requires it: nothing to do until it is fixed */
	}
	if (v.failed && !same(v.failed, v.spec_image))
		v.failed = NULL; /* a new image: the rollback is over */
	if (v.status_image && !same(v.status_image, v.spec_image))
		v.last_good = v.status_image; /* a rollout replaces status.image */

	/* A rollout past its deadline, of the image the spec asks for, is
	 * reverted when there is something to revert to. */
	v.deadline_exceeded = d && d->observed_generation >= d->generation &&
			      strcmp(d->progressing, "ProgressDeadlineExceeded") == 0;
	if (!v.failed && v.deadline_exceeded && same(d->image, v.spec_image) && v.last_good &&
	    !same(v.last_good, v.spec_image) &&
	    !json_is_false(json_object_get(json_object_get(spec, "rollout"), "autoRollback"))) {
		v.failed = v.spec_image;
		v.rolled_back_now = 1;
	}
	v.deploy_image = same(v.failed, v.spec_image) && v.last_good ? v.last_good : v.spec_image;
	/* A rollback is recorded (status.failedImage) before it is acted on: the
	 * Deployment goes back only in a reconcile whose cache holds the record.
	 * Acting at once let the next reconcile, woken by the Deployment's change
	 * before our status write reached the cache, roll the bad image out
	 * again. */
	if (v.rolled_back_now)
		v.deploy_image = d->image;

	if (d && !same(d->image, v.deploy_image) && !same(v.failed, v.spec_image) && !v.paused) {
		snprintf(msg, sizeof(msg), "rolling out %s (was %s)", v.deploy_image, d->image);
		event(ctx, svc, "Normal", "RolloutStarted", msg);
	}
	if (d && d->spec_replicas != v.replicas) {
		snprintf(msg, sizeof(msg), "scaled from %ld to %ld replicas", d->spec_replicas,
			 v.replicas);
		event(ctx, svc, "Normal", "Scaled", msg);
	}
	if (v.rolled_back_now) {
		snprintf(msg, sizeof(msg),
			 "rollout of %s exceeded its progress deadline; rolling back to %s",
			 v.spec_image, v.last_good);
		event(ctx, svc, "Warning", "RolledBack", msg);
	}

	/* Pods created while the webhook was unreachable lack the injection;
	 * pods injected before a dependency changed carry an older generation. */
	have_expected =
	    ctx->expected_injection && ctx->expected_injection(ns, name, expected, sizeof(expected),
							       ctx->expected_injection_arg) == 0;
	if (bw_store_list(ctx->caches.pods, ns, &pods, NULL) == 0) {
		for (size_t i = 0; i < pods.count; i++) {
			const struct bw_cached_pod *p = pods.v[i];

			if (strcmp(p->service, name) != 0)
				continue;
			if (!*p->injected)
				missed++;
			else if (have_expected && strcmp(p->injected, expected) != 0)
				outdated++;
			else
				configured++;
		}
	}
	stale = missed + outdated;
	restarted_at = str(old_status, "podsRestartedAt");
	restarts = stale > 0 ? json_integer_value(json_object_get(old_status, "podsRestarts")) : 0;
	/* The template's time when it is later: the status of that restart is not
	 * in the cache yet (the Deployment's event brought us here first), or was
	 * never written (a crash in between). Going by the older time would
	 * restart again at once. */
	if (d && *d->restarted_at && (!restarted_at || strcmp(d->restarted_at, restarted_at) > 0)) {
		restarted_at = d->restarted_at;
		if (stale > 0 && restarts < 1)
			restarts = 1;
	}
	if (stale > 0 && d && d->observed_generation >= d->generation &&
	    d->updated == d->replicas) {
		long long last = parse_utc(restarted_at);
		long long since = (long long)time(NULL) - last;

		snprintf(msg, sizeof(msg),
			 "%ld pod(s) lack the registry configuration (created while the admission "
			 "webhook was unreachable), %ld carry an outdated one (a dependency "
			 "changed)%s",
			 missed, outdated,
			 ctx->repair_pods ? "" : "; restart them, or run with --repair-pods");
		event(ctx, svc, "Warning", "PodsNotInjected", msg);
		/* Outdated pods alone prove the webhook injects: restart at once. Pods
		 * with no injection may mean it is still away: back off. */
		if (ctx->repair_pods && missed > 0 && last >= 0 && restarts > 0 &&
		    since < repair_wait_s(restarts)) {
			/* nothing else may wake this Service when the wait ends */
			*requeue_after_ms =
			    (repair_wait_s(restarts) - (since > 0 ? since : 0)) * 1000L;
		} else if (ctx->repair_pods) {
			now_utc(now, sizeof(now));
			if (restarted_at && strcmp(restarted_at, now) == 0) {
				/* The annotation has one-second resolution: a restart in the
				 * same second as the last would change nothing. Come back. */
				*requeue_after_ms = 1000;
			} else {
				restarted_at = now;
				restarts++;
				snprintf(msg, sizeof(msg),
					 "restarting %ld pod(s) to inject the registry", stale);
				event(ctx, svc, "Normal", "PodsRestarted", msg);
			}
		}
	}

	ret = apply_owned(ctx, svc, key, d, v.deploy_image, restarted_at, &err);
	if (ret != 0) {
		snprintf(msg, sizeof(msg), "%s", err.message);
		event(ctx, svc, "Warning", "ApplyFailed", msg);
		bw_log_warn("service", "%s: %s", key, err.message);
		if (ret == BW_EHTTP || ret == BW_EINVAL) {
			/* refused as invalid: retrying will not help until the spec
			 * changes, but the status must say so */
			json_t *conds;

			status = old_status ? json_deep_copy(old_status) : json_object();
			conds = json_deep_copy(json_object_get(status, "conditions"));
			if (!json_is_array(conds)) {
				json_decref(conds);
				conds = json_array();
			}
			bw_condition_set(conds, json_object_get(old_status, "conditions"), "Ready",
					 "False", "ReconcileFailed", msg, v.generation);
			json_object_set_new(status, "conditions", conds);
			json_object_set_new(status, "observedGeneration",
					    json_integer(v.generation));
			bw_status_update(ctx, &bw_res_bw_services, svc, status, NULL);
			ret = 0;
		}
		goto out;
	}

	/* The rollout is complete when the Deployment has observed its spec and
	 * every replica runs the image and is available. */
	v.complete = d && d->observed_generation >= d->generation &&
		     same(d->image, v.deploy_image) && d->spec_replicas == v.replicas &&
		     d->updated == v.replicas && d->replicas == v.replicas &&
		     d->available == v.replicas;
	if (v.complete && !same(v.failed, v.spec_image) && !same(v.status_image, v.spec_image)) {
		snprintf(msg, sizeof(msg), "rolled out %s to %ld replicas", v.spec_image,
			 v.replicas);
		event(ctx, svc, "Normal", "RolloutCompleted", msg);
		v.status_image = v.spec_image;
	}
	if (v.rolled_back_now)
		v.complete = 0;

	status = json_object();
	json_object_set_new(status, "observedGeneration", json_integer(v.generation));
	if (v.status_image)
		json_object_set_new(status, "image", json_string(v.status_image));
	if (v.last_good)
		json_object_set_new(status, "lastGoodImage", json_string(v.last_good));
	if (v.failed)
		json_object_set_new(status, "failedImage", json_string(v.failed));
	json_object_set_new(status, "replicas", json_integer(d ? d->replicas : 0));
	json_object_set_new(status, "updatedReplicas", json_integer(d ? d->updated : 0));
	json_object_set_new(status, "readyReplicas", json_integer(d ? d->ready : 0));
	json_object_set_new(status, "availableReplicas", json_integer(d ? d->available : 0));
	json_object_set_new(status, "pods",
			    json_pack("{s:I, s:I}", "configured", (json_int_t)configured, "stale",
				      (json_int_t)stale));
	if (restarted_at)
		json_object_set_new(status, "podsRestartedAt", json_string(restarted_at));
	if (restarts > 0)
		json_object_set_new(status, "podsRestarts", json_integer(restarts));
	if (bw_render_selector(svc, buf, sizeof(buf), NULL) == 0)
		json_object_set_new(status, "selector", json_string(buf));
	if (bw_render_url(svc, buf, sizeof(buf), NULL) == 0)
		json_object_set_new(status, "url", json_string(buf));
	set_conditions(status, json_object_get(old_status, "conditions"), &v, d, spec);

	ret = bw_status_update(ctx, &bw_res_bw_services, svc, status, &err);
	if (ret == BW_ECONFLICT) /* computed from a stale cache: again, from a fresh one */
		bw_log_debug("service", "%s: status: %s", key, err.message);
	else if (ret != 0)
		bw_log_warn("service", "%s: status: %s", key, err.message);
out:
	bw_store_items_release(&pods);
	bw_store_item_put(d);
	bw_store_item_put(item);
	json_decref(svc);
	json_decref(status);
	return ret;
}
