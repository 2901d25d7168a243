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
#include "ownership.h"
#include "render.h"
#include "rfc3339.h"
#include "rules.h"

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

/* While a Service is in an ownership conflict it looks again this often:
 * the foreign object is not watched (see ownership_of()), so nothing else
 * tells us when it is gone. */
#define CONFLICT_RECHECK_MS 10000

/* One object the controller writes for a Service, and what is known of it. */
struct owned {
	const struct bw_resource *res;
	enum bw_ownership state;
	char uid[64]; /* the existing object's metadata.uid */
};

/*
 * Reads ns/name of o->res and decides whether it is ours (ownership.h);
 * why gets the conflict's sentence. A GET, not a cache: the controller
 * watches only the Deployments and Ingresses it labels, and no core
 * Services at all, so an unrelated object of the same name is in no cache.
 * The GET comes only when something is to be written (apply_owned() is
 * skipped when nothing changed), so it costs one request per object in the
 * rare reconcile that writes.
 */
static int ownership_of(struct bw_operator_context *ctx, struct owned *o, const char *ns,
			const char *name, const char *owner_uid, char *why, size_t size,
			struct bw_error *err)
{
	json_t *obj = NULL;
	int ret = bw_client_get(ctx->client, o->res, ns, name, NULL, &obj, err);

	o->uid[0] = '\0';
	if (ret == BW_ENOTFOUND) {
		o->state = BW_OWNERSHIP_ABSENT;
		return 0;
	}
	if (ret != 0) {
		bw_error_prefix(err, "%s %s/%s", o->res->kind, ns, name);
		return ret;
	}
	o->state = bw_ownership_decide(obj, o->res->kind, owner_uid, why, size);
	snprintf(o->uid, sizeof(o->uid), "%s",
		 str(json_object_get(obj, "metadata"), "uid")
		     ? str(json_object_get(obj, "metadata"), "uid")
		     : "");
	json_decref(obj);
	return 0;
}

/* Our create left a managedFields entry (manager breakwater, operation
 * Update) owning every field we set; the apply that follows co-owns them.
 * Without this, a field we later stop setting (a removed env variable or
 * health check) would stay, still owned by that entry. The entry is removed
 * by a JSON patch that tests it is still the one at that index. */
static void hand_over(struct bw_operator_context *ctx, const struct bw_resource *res,
		      const char *ns, const char *name, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata"), *e;
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER};
	struct bw_error err;
	json_t *patch;
	char path[64];
	size_t i;

	json_array_foreach(json_object_get(meta, "managedFields"), i, e)
	{
		if (!same(str(e, "manager"), BW_FIELD_MANAGER) ||
		    !same(str(e, "operation"), "Update") || json_object_get(e, "subresource"))
			continue;
		snprintf(path, sizeof(path), "/metadata/managedFields/%zu", i);
		patch = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:O}, {s:s, s:s}]", "op", "test",
				  "path", "/metadata/uid", "value",
				  str(meta, "uid") ? str(meta, "uid") : "", "op", "test", "path",
				  path, "value", e, "op", "remove", "path", path);
		if (patch && bw_client_patch(ctx->client, res, ns, name, NULL, BW_PATCH_JSON, patch,
					     &po, NULL, &err) != 0)
			bw_log_debug("service",
				     "%s %s/%s: managed fields of the create not handed "
				     "over (%s); next apply tries again",
				     res->kind, ns, name, err.message);
		json_decref(patch);
		return;
	}
}

/*
 * Writes one object that is ours or absent. Absent: a create (POST), which
 * fails with AlreadyExists instead of taking over an object someone made
 * since we looked; then the apply. Ours: a server-side apply with force that
 * carries the object's metadata.uid, which the API server refuses
 * (metadata.uid is immutable) if the name now holds another object.
 */
static int write_owned(struct bw_operator_context *ctx, struct owned *o, const char *ns,
		       const char *name, json_t *body, json_t **out, struct bw_error *err)
{
	json_t *meta = json_object_get(body, "metadata"), *created = NULL, *applied = NULL;
	int ret = 0;

	if (o->state == BW_OWNERSHIP_ABSENT) {
		ret = bw_client_create(ctx->client, o->res, ns, body, &created, err);
		if (ret == BW_ECONFLICT) {
			ret = bw_error_set(err, BW_ECONFLICT,
					   "%s %s/%s was created by someone else meanwhile; "
					   "looking again",
					   o->res->kind, ns, name);
			goto out;
		}
		if (ret != 0)
			goto out;
		snprintf(o->uid, sizeof(o->uid), "%s",
			 str(json_object_get(created, "metadata"), "uid")
			     ? str(json_object_get(created, "metadata"), "uid")
			     : "");
		o->state = BW_OWNERSHIP_OWNED;
	}
	if (o->state != BW_OWNERSHIP_OWNED || !o->uid[0]) {
		ret = bw_error_set(err, BW_EINVAL, "%s %s/%s: not ours to write", o->res->kind, ns,
				   name);
		goto out;
	}
	json_object_set_new(meta, "uid", json_string(o->uid));
	ret = apply(ctx, o->res, ns, name, body, &applied, err);
	json_object_del(meta, "uid");
	if (ret == BW_EHTTP && strstr(err->message, "metadata.uid")) {
		ret = bw_error_set(err, BW_ECONFLICT,
				   "%s %s/%s was replaced by another object; looking again",
				   o->res->kind, ns, name);
		goto out;
	}
	if (ret == 0) /* after our create, or once a failed hand-over is retried */
		hand_over(ctx, o->res, ns, name, applied);
	if (ret == 0 && out) {
		*out = applied;
		applied = NULL;
	}
out:
	json_decref(created);
	json_decref(applied);
	return ret;
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

/* What the rules that need other Services say (rules.h). */
struct cross_view {
	char route_holder[600]; /* "namespace/name" of the Service holding our route, or "" */
	char missing[MSG_MAX];	/* the dependsOn names with no Service, "a, b", or "" */
	size_t dependencies;	/* how many dependsOn names there are */
};

/* What the rules need of the other Services, parsed: those of any
 * namespace whose cached JSON holds svc's route pathPrefix (a substring
 * test first: most Services have another route or none), and those its
 * dependsOn names (looked up by name). Not every Service of the namespace:
 * this runs on every reconcile. */
static json_t *peers_of(struct bw_operator_context *ctx, const json_t *svc)
{
	const json_t *spec = json_object_get(svc, "spec"), *dep;
	const char *prefix = str(json_object_get(spec, "route"), "pathPrefix"),
		   *ns = str(json_object_get(svc, "metadata"), "namespace");
	struct bw_store_items items = {0};
	json_t *array = json_array(), *obj;
	size_t i;

	if (!array)
		return NULL;
	if (prefix && bw_store_list(ctx->caches.services, NULL, &items, NULL) == 0) {
		for (i = 0; i < items.count; i++) {
			if (bw_operator_may_hold_route(ctx->caches.namespaces, items.v[i],
						       prefix) &&
			    (obj = bw_cached_object_parse(items.v[i])) != NULL)
				json_array_append_new(array, obj);
		}
	}
	bw_store_items_release(&items);
	json_array_foreach(json_object_get(spec, "dependsOn"), i, dep)
	{
		const struct bw_cached_object *o =
		    json_string_value(dep)
			? bw_store_get(ctx->caches.services, ns, json_string_value(dep))
			: NULL;

		if (o && (obj = bw_cached_object_parse(o)) != NULL)
			json_array_append_new(array, obj);
		bw_store_item_put(o);
	}
	return array;
}

static int cross_checks(struct bw_operator_context *ctx, const json_t *svc, struct cross_view *x)
{
	json_t *peers = peers_of(ctx, svc), *missing = json_array(), *m;
	const json_t *holder;
	size_t i, len = 0;
	int ret = 0;

	if (!peers || !missing) {
		ret = BW_ENOMEM;
		goto out;
	}
	holder = bw_rules_route_holder(svc, peers, 1);
	if (holder)
		snprintf(x->route_holder, sizeof(x->route_holder), "%.63s/%.253s",
			 str(json_object_get(holder, "metadata"), "namespace"),
			 str(json_object_get(holder, "metadata"), "name"));
	x->dependencies =
	    json_array_size(json_object_get(json_object_get(svc, "spec"), "dependsOn"));
	if (bw_rules_missing_dependencies(svc, peers, missing) != 0) {
		ret = BW_ENOMEM;
		goto out;
	}
	json_array_foreach(missing, i, m)
	{
		if (len + 1 < sizeof(x->missing))
			len += (size_t)snprintf(x->missing + len, sizeof(x->missing) - len, "%s%s",
						i ? ", " : "", json_string_value(m));
	}
out:
	json_decref(peers);
	json_decref(missing);
	return ret;
}

/* Cuts a trailing UTF-8 sequence that snprintf truncated in half (jansson
 * refuses such a string, and the condition would be lost). */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), start = n, need;

	while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0 || ((unsigned char)s[start - 1] & 0x80) == 0)
		return;
	start--; /* the lead byte */
	need = ((unsigned char)s[start] & 0xE0) == 0xC0	  ? 2
	       : ((unsigned char)s[start] & 0xF0) == 0xE0 ? 3
	       : ((unsigned char)s[start] & 0xF8) == 0xF0 ? 4
							  : 1;
	if (n - start < need)
		s[start] = '\0';
}

static void set_conditions(json_t *status, const json_t *old_conditions,
			   const struct rollout_view *v, const struct bw_cached_deployment *d,
			   const json_t *spec, const struct cross_view *x)
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
	if (x->route_holder[0]) {
		char long_msg[6144]; /* pathPrefix: 1024 characters, up to 4 bytes each */

		snprintf(long_msg, sizeof(long_msg),
			 "spec.route: pathPrefix %.4096s%s%.253s is the route of Service %s, which "
			 "is older; this Service's Ingress is not written until the route is free "
			 "or changed",
			 str(json_object_get(spec, "route"), "pathPrefix"),
			 str(json_object_get(spec, "route"), "host") ? " on host " : "",
			 str(json_object_get(spec, "route"), "host")
			     ? str(json_object_get(spec, "route"), "host")
			     : "",
			 x->route_holder);
		utf8_trim(long_msg);
		bw_condition_set(conds, old_conditions, "Ready", "False", "RouteConflict", long_msg,
				 v->generation);
	} else if (failed) {
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

	/* DependenciesResolved: advisory, Ready does not wait for it (the pods
	 * run; the missing <NAME>_SERVICE_URL is injected once the Service
	 * exists and the pods restart) */
	if (x->missing[0]) {
		snprintf(msg, sizeof(msg),
			 "spec.dependsOn: no Service named %.380s in this namespace; their "
			 "<NAME>_SERVICE_URL is not injected until they exist",
			 x->missing);
		utf8_trim(msg);
		bw_condition_set(conds, old_conditions, "DependenciesResolved", "False",
				 "MissingDependency", msg, v->generation);
	} else {
		snprintf(msg, sizeof(msg), "%zu of %zu dependencies exist", x->dependencies,
			 x->dependencies);
		bw_condition_set(conds, old_conditions, "DependenciesResolved", "True",
				 x->dependencies ? "AllFound" : "NoDependencies", msg,
				 v->generation);
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
/* Seconds since the epoch of an RFC 3339 time ("2026-11-26T19:00:00Z"), or -1. */
static long long parse_utc(const char *s)
{
	long long sec;

	return s && bw_rfc3339_parse(s, &sec, NULL, NULL) == 0 ? sec : -1;
}

static void now_utc(char *buf, size_t size)
{
	bw_rfc3339_now(buf, size, 0);
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

/* Whether the cached Deployment d has what the rendered one asks for in
 * the fields someone else is likely to change: the app image, replicas,
 * paused and the restart annotation of the template. */
static int cache_matches(const struct bw_cached_deployment *d, const json_t *deployment)
{
	const json_t *spec = json_object_get(deployment, "spec");
	const json_t *tmpl = json_object_get(spec, "template");
	const char *restarted =
	    str(json_object_get(json_object_get(tmpl, "metadata"), "annotations"),
		BW_ANNOTATION_RESTARTED_AT);
	const json_t *c;
	const char *image = NULL;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(tmpl, "spec"), "containers"), i, c)
	{
		if (same(str(c, "name"), "app"))
			image = str(c, "image");
	}
	return same(d->image, image) &&
	       d->spec_replicas == (long)json_integer_value(json_object_get(spec, "replicas")) &&
	       d->paused == json_is_true(json_object_get(spec, "paused")) &&
	       strcmp(d->restarted_at, restarted ? restarted : "") == 0;
}

/*
 * Writes the Deployment, Service and Ingress (or deletes our Ingress when
 * no longer wanted: the route was removed, or another Service holds it),
 * unless exactly these were applied last time and nothing has changed them
 * since (applied.h). Nothing is written when any of them exists and is not
 * ours: conflict (size bytes) then names it and 0 is returned.
 */
static int apply_owned(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		       const struct bw_cached_deployment *d, const char *image,
		       const char *restarted_at, int withhold_ingress, char *conflict, size_t size,
		       struct bw_error *err)
{
	json_t *deployment = NULL, *service = NULL, *ingress = NULL, *applied = NULL;
	const json_t *meta = json_object_get(svc, "metadata");
	const char *ns = str(meta, "namespace"), *name = str(meta, "name"), *uid = str(meta, "uid");
	struct owned objs[3] = {
	    {.res = &bw_res_deployments}, {.res = &bw_res_services}, {.res = &bw_res_ingresses}};
	const void *had_ingress = NULL;
	unsigned char md[BW_APPLIED_DIGEST_LEN];
	char hex[BW_APPLIED_HEX_LEN + 1];
	int have_digest, ret;

	conflict[0] = '\0';
	if ((ret = bw_render_deployment(svc, image, &deployment, err)) != 0 ||
	    (ret = bw_render_service(svc, &service, err)) != 0 ||
	    (ret = bw_render_ingress(svc, &ingress, err)) != 0)
		goto out;
	if (withhold_ingress) {
		json_decref(ingress);
		ingress = NULL;
	}
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
	if (have_digest && d && !ingress == !had_ingress) {
		bw_applied_hex(md, hex);
		if (bw_applied_same(ctx->applied, key, md, d->generation, time(NULL), RESYNC_S))
			goto out; /* applied already, and the Deployment's spec untouched since */
		if (!bw_applied_known(ctx->applied, key) && same(d->applied, hex) &&
		    cache_matches(d, deployment)) {
			/* applied by an earlier process (applied.h): a restart writes nothing */
			(void)bw_applied_record(ctx->applied, key, md, d->generation, time(NULL));
			goto out;
		}
	}
	if (have_digest) { /* after the digest, which it must not be part of */
		json_t *dmeta = json_object_get(deployment, "metadata");

		bw_applied_hex(md, hex);
		if (!json_object_get(dmeta, "annotations"))
			json_object_set_new(dmeta, "annotations", json_object());
		json_object_set_new(json_object_get(dmeta, "annotations"), BW_ANNOTATION_APPLIED,
				    json_string(hex));
	}

	/* Whose are they? All three are known before anything is written, so a
	 * conflict on one leaves the others as they were too. */
	if (d && uid && same(d->owner_uid, uid) && *d->uid) {
		objs[0].state = BW_OWNERSHIP_OWNED; /* the cache says so: no GET */
		snprintf(objs[0].uid, sizeof(objs[0].uid), "%s", d->uid);
	} else if ((ret = ownership_of(ctx, &objs[0], ns, name, uid, conflict, size, err)) != 0) {
		goto out;
	}
	if (objs[0].state != BW_OWNERSHIP_FOREIGN &&
	    (ret = ownership_of(ctx, &objs[1], ns, name, uid, conflict, size, err)) != 0)
		goto out;
	if (objs[0].state != BW_OWNERSHIP_FOREIGN && objs[1].state != BW_OWNERSHIP_FOREIGN &&
	    (ingress || had_ingress) &&
	    (ret = ownership_of(ctx, &objs[2], ns, name, uid, conflict, size, err)) != 0)
		goto out;
	if (objs[0].state == BW_OWNERSHIP_FOREIGN || objs[1].state == BW_OWNERSHIP_FOREIGN ||
	    (ingress && objs[2].state == BW_OWNERSHIP_FOREIGN))
		goto out;   /* conflict holds the sentence */
	conflict[0] = '\0'; /* a foreign Ingress we do not want is no conflict */

	if ((ret = write_owned(ctx, &objs[0], ns, name, deployment, &applied, err)) != 0) {
		bw_error_prefix(err, "Deployment %s/%s", ns, name);
		goto out;
	}
	if ((ret = write_owned(ctx, &objs[1], ns, name, service, NULL, err)) != 0) {
		bw_error_prefix(err, "Service %s/%s", ns, name);
		goto out;
	}
	if (ingress) {
		ret = write_owned(ctx, &objs[2], ns, name, ingress, NULL, err);
		if (ret != 0)
			bw_error_prefix(err, "Ingress %s/%s", ns, name);
	} else if (objs[2].state == BW_OWNERSHIP_OWNED) {
		/* the route was removed or is held by another Service; only our
		 * own Ingress goes, and only that very object (its uid) */
		struct bw_delete_options dopt = {.precondition_uid = objs[2].uid};

		ret = bw_client_delete(ctx->client, &bw_res_ingresses, ns, name, &dopt, err);
		if (ret == BW_ENOTFOUND || ret == BW_ECONFLICT)
			ret = 0; /* gone, or replaced by an object that is not ours */
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

/* The reason of the Ready condition in status, or NULL. */
static const char *ready_reason(const json_t *status)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
	{
		if (same(str(c, "type"), "Ready"))
			return str(c, "reason");
	}
	return NULL;
}

/* Writes a status that keeps the last one but for Ready=False with reason
 * and msg: the controller could not do its work (nothing about the rollout
 * is known anew). */
static int status_not_ready(struct bw_operator_context *ctx, const json_t *svc, const char *reason,
			    const char *msg, long generation)
{
	const json_t *old_status = json_object_get(svc, "status");
	json_t *status = old_status ? json_deep_copy(old_status) : json_object();
	json_t *conds = json_deep_copy(json_object_get(status, "conditions"));
	int ret;

	if (!json_is_array(conds)) {
		json_decref(conds);
		conds = json_array();
	}
	bw_condition_set(conds, json_object_get(old_status, "conditions"), "Ready", "False", reason,
			 msg, generation);
	json_object_set_new(status, "conditions", conds);
	json_object_set_new(status, "observedGeneration", json_integer(generation));
	ret = bw_status_update(ctx, &bw_res_bw_services, svc, status, NULL);
	json_decref(status);
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
	struct cross_view x = {0};
	char conflict[MSG_MAX * 2];
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
	if (d && !(uid && same(d->owner_uid, uid))) {
		/* a Deployment of this name (with our label) that this Service does
		 * not control: nothing of it counts; apply_owned() reports it */
		bw_store_item_put(d);
		d = NULL;
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
	snprintf(msg, sizeof(msg), "%s/%s", ns, name);
	if (bw_store_by_index(ctx->caches.pods, BW_INDEX_BY_SERVICE, msg, &pods, NULL) == 0) {
		for (size_t i = 0; i < pods.count; i++) {
			const struct bw_cached_pod *p = pods.v[i];

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

	if ((ret = cross_checks(ctx, svc, &x)) != 0)
		goto out;
	if (x.route_holder[0] && !same(ready_reason(old_status), "RouteConflict")) {
		snprintf(
		    msg, sizeof(msg),
		    "spec.route is the route of the older Service %.400s; no Ingress is written "
		    "for this one",
		    x.route_holder);
		event(ctx, svc, "Warning", "RouteConflict", msg);
	}
	ret = apply_owned(ctx, svc, key, d, v.deploy_image, restarted_at, x.route_holder[0] != 0,
			  conflict, sizeof(conflict), &err);
	if (ret == 0 && conflict[0]) {
		/* once per conflict, not on every look (CONFLICT_RECHECK_MS) */
		if (!same(ready_reason(old_status), "OwnershipConflict"))
			event(ctx, svc, "Warning", "OwnershipConflict", conflict);
		bw_log_warn("service", "%s: %s", key, conflict);
		status_not_ready(ctx, svc, "OwnershipConflict", conflict, v.generation);
		*requeue_after_ms = CONFLICT_RECHECK_MS;
		goto out;
	}
	if (ret != 0) {
		snprintf(msg, sizeof(msg), "%s", err.message);
		event(ctx, svc, "Warning", "ApplyFailed", msg);
		bw_log_warn("service", "%s: %s", key, err.message);
		if (ret == BW_EHTTP || ret == BW_EINVAL) {
			/* refused as invalid: retrying will not help until the spec
			 * changes, but the status must say so */
			status_not_ready(ctx, svc, "ReconcileFailed", msg, v.generation);
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
	set_conditions(status, json_object_get(old_status, "conditions"), &v, d, spec, &x);

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
